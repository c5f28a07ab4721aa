// Package web serves onstage's browser client: a single page (index.html) and its static
// assets (plain ES modules, CSS and images), all embedded in the binary so that the client
// runs with no build step and no external host.
//
// Handler answers three kinds of paths:
//
//   - the client's pages ("/", "/m/{code}", "/streamers/{id}", "/admin/…", see ClientPages)
//     return index.html with Cache-Control: no-cache, so a deploy is picked up by the next
//     page load. The page decides what to show from its own URL.
//   - "/static/…" returns an embedded asset with its MIME type, an ETag and caching headers.
//     index.html is served with its asset URLs rewritten to "/static/_v{hash}/…", where hash
//     is a digest of every embedded file; those versioned URLs are immutable and cached for a
//     year, while unversioned ones are cached briefly and revalidated.
//   - anything else, including a missing asset, is 404.
//
// Every response also carries the client's Content-Security-Policy and nosniff headers.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html static
var files embed.FS

// ContentSecurityPolicy is the one policy of every response (the API's middleware sets it on
// all of them; this handler sets it too, for use without that middleware). The client is
// written to run under it: no inline scripts, no inline style attributes, nothing from another
// host. connect-src 'self' covers the client's WebSocket: under CSP Level 3 'self' matches
// ws: and wss: URLs of the serving host and port, and the client only ever opens its socket on
// location.host, so no other socket host is allowed.
const ContentSecurityPolicy = "default-src 'self'; connect-src 'self'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

const (
	staticPrefix     = "/static/"
	versionMarker    = "_v"
	cacheIndex       = "no-cache"
	cacheVersioned   = "public, max-age=31536000, immutable"
	cacheUnversioned = "public, max-age=300, must-revalidate"
)

// contentTypes maps the extensions the client ships to their MIME types, so that the answer
// does not depend on the host's MIME database.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
	".woff2":       "font/woff2",
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

type handler struct {
	index   asset
	assets  map[string]asset // keyed by the path below /static/, e.g. "js/main.js"
	version string
	modTime time.Time
	csp     string
}

// CaptchaOrigins are the origins each human verification widget loads its script and frame
// from; the page's policy allows only the configured provider's.
var CaptchaOrigins = map[string]string{
	"turnstile": "https://challenges.cloudflare.com",
	"hcaptcha":  "https://js.hcaptcha.com https://*.hcaptcha.com https://hcaptcha.com",
	"recaptcha": "https://www.google.com https://www.gstatic.com",
}

// WithCaptcha returns the client's handler with a policy that lets the login form load the
// named provider's verification widget (turnstile, hcaptcha or recaptcha); "" is Handler().
func WithCaptcha(provider string) http.Handler {
	h := Handler().(*handler)
	o, ok := CaptchaOrigins[provider]
	if !ok {
		return h
	}
	// The one policy, widened for this provider only: its script, its frame and its calls.
	h.csp = CaptchaPolicy(o)
	return h
}

// CaptchaPolicy is ContentSecurityPolicy with origins added to connect-src and script-src and
// allowed as frames, for a human verification widget.
func CaptchaPolicy(origins string) string {
	p := strings.Replace(ContentSecurityPolicy, "connect-src 'self';", "connect-src 'self' "+origins+"; frame-src "+origins+";", 1)
	return strings.Replace(p, "script-src 'self';", "script-src 'self' "+origins+";", 1)
}

// Handler returns the http.Handler that serves the embedded client. It is safe for
// concurrent use; the files are read and hashed once, when Handler is called.
func Handler() http.Handler {
	h, err := newHandler(files)
	if err != nil {
		// The files are compiled in; failing to read them is a build defect.
		panic("web: " + err.Error())
	}
	return h
}

func newHandler(fsys fs.FS) (*handler, error) {
	h := &handler{assets: map[string]asset{}, modTime: time.Now().UTC().Truncate(time.Second), csp: ContentSecurityPolicy}
	digest := sha256.New()
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		digest.Write([]byte(p))
		digest.Write(body)
		h.assets[strings.TrimPrefix(p, "static/")] = newAsset(p, body)
		return nil
	})
	if err != nil {
		return nil, err
	}
	index, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		return nil, err
	}
	digest.Write(index)
	h.version = hex.EncodeToString(digest.Sum(nil))[:12]
	// Point the page at versioned asset URLs. Module imports inside the scripts are relative,
	// so they inherit the version from the entry module's URL.
	index = bytes.ReplaceAll(index, []byte(`"`+staticPrefix), []byte(`"`+staticPrefix+versionMarker+h.version+"/"))
	h.index = newAsset("index.html", index)
	return h, nil
}

func newAsset(name string, body []byte) asset {
	sum := sha256.Sum256(body)
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok {
		ctype = "application/octet-stream"
	}
	return asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")

	p := r.URL.Path
	switch {
	case IsClientPath(p):
		hdr.Set("Content-Security-Policy", h.csp)
		h.serve(w, r, h.index, cacheIndex)
	case strings.HasPrefix(p, staticPrefix):
		name, cache := h.assetName(strings.TrimPrefix(p, staticPrefix))
		a, ok := h.assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.serve(w, r, a, cache)
	default:
		http.NotFound(w, r)
	}
}

// ClientPages are the client's own routes served as index.html, exactly; ClientPrefixes are
// those served for anything below them ("/m/K7MPQ2", "/streamers/{id}", "/admin/audit").
// The router mounts the same list (api/router.go), so a page that the client knows is never a
// 404 on reload, and everything else still is.
var (
	ClientPages    = []string{"/", "/index.html", "/meet", "/login", "/register", "/forgot-password", "/reset-password", "/verify-email", "/orders", "/me", "/admin"}
	ClientPrefixes = []string{"/m/", "/streamers/", "/me/", "/admin/"}
)

// IsClientPath reports whether p is a page of the client (see ClientPages).
func IsClientPath(p string) bool {
	for _, c := range ClientPages {
		if p == c {
			return true
		}
	}
	for _, c := range ClientPrefixes {
		if rest, ok := strings.CutPrefix(p, c); ok && rest != "" {
			return true
		}
	}
	return false
}

// assetName strips a version segment from an asset path and picks the cache policy: a
// versioned URL of the current build is immutable; anything else is revalidated.
func (h *handler) assetName(rest string) (string, string) {
	if strings.HasPrefix(rest, versionMarker) {
		if version, name, ok := strings.Cut(rest[len(versionMarker):], "/"); ok {
			if version == h.version {
				return name, cacheVersioned
			}
			return name, cacheUnversioned
		}
	}
	return rest, cacheUnversioned
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, a asset, cache string) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("Cache-Control", cache)
	hdr.Set("ETag", a.etag)
	http.ServeContent(w, r, "", h.modTime, bytes.NewReader(a.body))
}
