package payments

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/internal/httpx"
)

// server is the payments handler behind a real listener; the sandbox delivers its webhooks
// to it over HTTP.
type server struct {
	*env
	url string
	iss *authn.Issuer
}

func newServer(t *testing.T, gdb *gorm.DB, dupRate float64) *server {
	t.Helper()
	var h *Handler
	mux := chi.NewRouter()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := newEnv(t, gdb, srv.URL+"/api/v1/payments/webhook/sandbox")
	e.sbx.dupRate = dupRate
	e.sbx.publicURL = srv.URL
	e.sbx.Start()
	iss, err := authn.NewIssuer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	mw := authn.Middleware{Issuer: iss, Reject: func(w http.ResponseWriter, r *http.Request, status int) {
		httpx.Error(w, r, apperr.ErrUnauthorized)
	}}
	mem, _ := cache.Open("")
	t.Cleanup(func() { _ = mem.Close() })
	h = NewHandler(HandlerParams{Service: e.svc, Middleware: mw, Sandbox: e.sbx,
		Limiter: cache.NewLimiter(mem, "pay:", 10000, time.Minute)})
	mux.Route("/api/v1", func(r chi.Router) {
		r.Use(mw.Authenticate)
		h.Mount(r)
	})
	mux.Handle("/pay/*", h.Page())
	return &server{env: e, url: srv.URL, iss: iss}
}

func (s *server) token(user string) string {
	tok, _, err := s.iss.Mint(authn.Identity{UserID: user, Role: authn.RolePlayer, Name: user}, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func (s *server) do(method, path, token, body string) (int, map[string]any, http.Header) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out, res.Header
}

func code(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestSandboxFlowOverHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		s := newServer(t, gdb, 1) // every webhook twice
		s.widget("w1", "ann", 2500)
		ann := s.token("ann")

		st, body, _ := s.do("POST", "/api/v1/payments", ann, `{"widget_id":"w1"}`)
		if st != 201 || body["status"] != "pending" || body["amount"] != 2500.0 || body["currency"] != "EUR" {
			t.Fatalf("create: %d %v", st, body)
		}
		id := body["id"].(string)
		checkout := body["checkout_url"].(string)
		if !strings.HasPrefix(checkout, s.url+"/pay/sbx_") {
			t.Fatalf("checkout_url %q", checkout)
		}
		// Asking again returns the open payment.
		if st, again, _ := s.do("POST", "/api/v1/payments", ann, `{"widget_id":"w1"}`); st != 200 || again["id"] != id {
			t.Fatalf("again: %d %v", st, again)
		}

		// The checkout page: no script, a strict policy, three buttons.
		res, err := http.Get(checkout)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
			strings.Contains(string(page), "<script") || strings.Count(string(page), "<form method=\"post\"") != 3 ||
			!strings.Contains(string(page), "25.00 EUR") {
			t.Fatalf("page %d %s\n%s", res.StatusCode, res.Header, page)
		}

		// Pressing Pay, as the browser does: a form post, then back to the page.
		ref := strings.TrimPrefix(checkout, s.url+"/pay/")
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err = client.PostForm(s.url+"/api/v1/payments/sandbox/"+ref+"/succeed", url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/pay/"+ref {
			t.Fatalf("succeed: %d %s", res.StatusCode, res.Header)
		}
		// The webhooks arrive asynchronously.
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, got, _ := s.do("GET", "/api/v1/payments/"+id, ann, "")
			if got["status"] == "succeeded" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("payment still %v", got["status"])
			}
			time.Sleep(20 * time.Millisecond)
		}
		// processing and succeeded, each delivered twice: four deliveries, two events.
		deadline = time.Now().Add(10 * time.Second)
		for {
			var n int64
			gdb.Model(&inboxEvent{}).Where("payment_id = ?", id).Count(&n)
			if n == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d inbox events", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if s.w.fulfilled.Load() != 1 || !s.widgetRow("w1").Sold {
			t.Fatal("not fulfilled once")
		}
		// The button cannot be pressed twice.
		if st, body, _ := s.do("POST", "/api/v1/payments/sandbox/"+ref+"/decline", "", ""); st != 409 || code(body) != "intent_finished" {
			t.Fatalf("second press: %d %v", st, body)
		}
	}, migs()...)
}

func TestPaymentRoutesRefuse(t *testing.T) {
	gdb := dbtest.Open(t, migs()...)
	s := newServer(t, gdb, 0)
	s.widget("w1", "ann", 100)
	ann, bob := s.token("ann"), s.token("bob")
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"anonymous", "POST", "/api/v1/payments", "", `{"widget_id":"w1"}`, 401, "unauthorized"},
		{"no subject", "POST", "/api/v1/payments", ann, `{}`, 400, "validation_failed"},
		{"two subjects", "POST", "/api/v1/payments", ann, `{"widget_id":"w1","order_id":"x"}`, 400, "validation_failed"},
		{"unknown purpose", "POST", "/api/v1/payments", ann, `{"order_id":"x"}`, 400, "bad_request"},
		{"not a string", "POST", "/api/v1/payments", ann, `{"widget_id":5}`, 400, "bad_request"},
		{"not json", "POST", "/api/v1/payments", ann, `{`, 400, "bad_request"},
		{"someone else's subject", "POST", "/api/v1/payments", bob, `{"widget_id":"w1"}`, 404, "not_found"},
		{"unknown payment", "GET", "/api/v1/payments/nope", ann, "", 404, "not_found"},
		{"unsigned webhook", "POST", "/api/v1/payments/webhook/sandbox", "", `{}`, 400, "missing_signature"},
		{"forged webhook", "POST", "/api/v1/payments/webhook/sandbox", "", `{}`, 400, "invalid_signature"},
		{"stale webhook", "POST", "/api/v1/payments/webhook/sandbox", "", `{}`, 400, "signature_expired"},
		{"unknown provider", "POST", "/api/v1/payments/webhook/paypal", "", `{}`, 404, "unknown_provider"},
		{"unknown sandbox intent", "POST", "/api/v1/payments/sandbox/sbx_x/succeed", "", "", 404, "not_found"},
		{"unknown sandbox button", "POST", "/api/v1/payments/sandbox/sbx_x/explode", "", "", 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.url+tc.path, strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			switch tc.name {
			case "forged webhook":
				req.Header.Set(SandboxSignatureHeader, Sign([]byte(tc.body), time.Now(), "not-the-secret"))
			case "stale webhook":
				req.Header.Set(SandboxSignatureHeader, Sign([]byte(tc.body), time.Now().Add(-6*time.Minute), testSecret))
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var body map[string]any
			_ = json.Unmarshal(raw, &body)
			if res.StatusCode != tc.status || code(body) != tc.code {
				t.Fatalf("got %d %s, want %d %s", res.StatusCode, raw, tc.status, tc.code)
			}
		})
	}
	// Another buyer's payment is not found.
	_, body, _ := s.do("POST", "/api/v1/payments", ann, `{"widget_id":"w1"}`)
	if st, got, _ := s.do("GET", "/api/v1/payments/"+body["id"].(string), bob, ""); st != 404 || code(got) != "not_found" {
		t.Fatalf("bob sees ann's payment: %d %v", st, got)
	}
	if st, _, _ := s.do("GET", "/api/v1/payments/"+body["id"].(string), ann, ""); st != 200 {
		t.Fatalf("ann: %d", st)
	}
}

func TestWebhookLimits(t *testing.T) {
	gdb := dbtest.Open(t, migs()...)
	s := newServer(t, gdb, 0)
	big := strings.Repeat("x", maxWebhookBody+1)
	if st, body, _ := s.do("POST", "/api/v1/payments/webhook/sandbox", "", big); st != 413 || code(body) != "body_too_large" {
		t.Fatalf("big body: %d %v", st, body)
	}
	mem, _ := cache.Open("")
	t.Cleanup(func() { _ = mem.Close() })
	h := NewHandler(HandlerParams{Service: s.svc, Sandbox: s.sbx, Limiter: cache.NewLimiter(mem, "t:", 2, time.Minute)})
	mux := chi.NewRouter()
	mux.Route("/api/v1", h.Mount)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	var last *http.Response
	for range 3 {
		res, err := http.Post(srv.URL+"/api/v1/payments/webhook/sandbox", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		last = res
	}
	if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
		t.Fatalf("third webhook in a minute: %d", last.StatusCode)
	}
}
