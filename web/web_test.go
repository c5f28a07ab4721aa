package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIndexServedForRootAndMeetingLinks(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/", "/m/ABC123", "/m/ABC123?name=Ann&autojoin=1", "/m/abc/extra", "/login", "/streamers/x", "/admin/audit", "/me/profile"} {
		res := get(t, h, p)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", p, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: content type %q", p, ct)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: cache-control %q, want no-cache", p, cc)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: missing CSP, got %q", p, csp)
		}
		if b := body(t, res); !strings.Contains(b, `<div id="app"`) {
			t.Errorf("%s: body is not index.html", p)
		}
	}
}

func TestIndexHasNoInlineScriptsOrStyles(t *testing.T) {
	b := body(t, get(t, Handler(), "/"))
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(b) {
		t.Error("index.html has an inline script")
	}
	if strings.Contains(b, "style=") || strings.Contains(b, "<style") {
		t.Error("index.html has inline styles")
	}
	if strings.Contains(b, "http://") || strings.Contains(b, "https://") {
		t.Error("index.html loads something from another host")
	}
}

func TestAssetsServedWithTypeAndCaching(t *testing.T) {
	h := Handler()
	cases := map[string]string{
		"/static/js/main.js": "text/javascript",
		"/static/app.css":    "text/css",
		"/static/icon.svg":   "image/svg+xml",
	}
	for p, want := range cases {
		res := get(t, h, p)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", p, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("%s: content type %q, want %s", p, ct, want)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
			t.Errorf("%s: cache-control %q", p, cc)
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("%s: no ETag", p)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
		if len(body(t, res)) == 0 {
			t.Errorf("%s: empty body", p)
		}
	}
}

func TestVersionedAssetsAreImmutable(t *testing.T) {
	h := Handler()
	index := body(t, get(t, h, "/"))
	m := regexp.MustCompile(`src="(/static/_v[0-9a-f]+/js/main\.js)"`).FindStringSubmatch(index)
	if m == nil {
		t.Fatalf("index.html does not point at a versioned main.js:\n%s", index)
	}
	res := get(t, h, m[1])
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", m[1], res.StatusCode)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("%s: cache-control %q, want immutable", m[1], cc)
	}
	// An older build's version still gets the file, but not as immutable.
	res = get(t, h, "/static/_v000000000000/js/main.js")
	if res.StatusCode != http.StatusOK || strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("stale version: status %d cache-control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
}

func TestConditionalRequestGets304(t *testing.T) {
	h := Handler()
	etag := get(t, h, "/static/app.css").Header.Get("ETag")
	if res := get(t, h, "/static/app.css", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("status %d, want 304", res.StatusCode)
	}
}

func TestUnknownPathsAre404(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/static/missing.js", "/static/js/", "/static/", "/static/../web.go", "/nope", "/m/", "/favicon.ico"} {
		if res := get(t, h, p); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, res.StatusCode)
		}
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d", rec.Code)
	}
}

// TestWithCaptchaAllowsOnlyTheProvider: the page's policy lets the configured widget load, and
// nothing else changes.
func TestWithCaptchaAllowsOnlyTheProvider(t *testing.T) {
	srv := httptest.NewServer(WithCaptcha("turnstile"))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	want := "script-src 'self' https://challenges.cloudflare.com"
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), want) || strings.Contains(string(body), "Content-Security-Policy") {
		t.Fatalf("policy without the widget: header %q", res.Header.Get("Content-Security-Policy"))
	}
	plain := httptest.NewServer(WithCaptcha(""))
	defer plain.Close()
	res2, err := http.Get(plain.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if strings.Contains(res2.Header.Get("Content-Security-Policy"), "cloudflare") {
		t.Fatal("policy names a provider without captcha configured")
	}
}

// TestNoSecondPolicy: the policy lives in one constant, sent as a header; the page carries no
// <meta> copy that could drift from it.
func TestNoSecondPolicy(t *testing.T) {
	if b := body(t, get(t, Handler(), "/")); strings.Contains(strings.ToLower(b), "content-security-policy") {
		t.Error("index.html carries its own Content-Security-Policy")
	}
	if got := get(t, Handler(), "/").Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		t.Errorf("index CSP %q", got)
	}
}
