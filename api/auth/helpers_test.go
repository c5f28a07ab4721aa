package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/internal/httpx"
	"github.com/onstagehq/onstage/internal/mail"
)

// clock is a settable clock for the service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one auth module wired to real backends.
type env struct {
	t      *testing.T
	svc    *Service
	outbox *mail.Outbox
	issuer *authn.Issuer
	clock  *clock
	router chi.Router
}

// backends runs fn against SQLite with the in-process cache, and against PostgreSQL and
// Redis when the test environment names them.
func backends(t *testing.T, fn func(t *testing.T, gdb *gorm.DB, c cache.Cache)) {
	t.Helper()
	migs := append(append(Migrations(), mail.Migrations()...), authz.Migrations()...)
	t.Run("sqlite+memory", func(t *testing.T) { fn(t, dbtest.Open(t, migs...), cachetest.Memory(t)) })
	t.Run("mysql+memory", func(t *testing.T) { fn(t, dbtest.MySQL(t, migs...), cachetest.Memory(t)) })
	t.Run("postgres+redis", func(t *testing.T) {
		pg, rd := os.Getenv(dbtest.PostgresEnv) != "", os.Getenv(cachetest.RedisEnv) != ""
		if !pg && !rd {
			t.Skipf("neither %s nor %s set", dbtest.PostgresEnv, cachetest.RedisEnv)
		}
		var gdb *gorm.DB
		if pg {
			gdb = dbtest.Postgres(t, migs...)
		} else {
			gdb = dbtest.Open(t, migs...)
		}
		var c cache.Cache
		if rd {
			c = cachetest.Redis(t)
		} else {
			c = cachetest.Memory(t)
		}
		fn(t, gdb, c)
	})
}

// each runs fn with a fresh env on every backend; tweak adjusts the config.
func each(t *testing.T, tweak func(*config.Auth), fn func(t *testing.T, e *env)) {
	t.Helper()
	backends(t, func(t *testing.T, gdb *gorm.DB, c cache.Cache) {
		fn(t, newEnv(t, gdb, c, tweak))
	})
}

func newEnv(t *testing.T, gdb *gorm.DB, c cache.Cache, tweak func(*config.Auth)) *env {
	t.Helper()
	return newEnvWith(t, gdb, c, tweak, nil)
}

// newEnvWith is newEnv with a last say over the service's parameters.
func newEnvWith(t *testing.T, gdb *gorm.DB, c cache.Cache, tweak func(*config.Auth), params func(*ServiceParams)) *env {
	t.Helper()
	issuer, err := authn.NewIssuer([]byte("0123456789abcdef0123456789abcdef-test"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Auth
	cfg.RatePerMinute = 10000
	if tweak != nil {
		tweak(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	clk := &clock{t: time.Now()}
	outbox := mail.NewOutbox(gdb, log)
	az := authz.NewService(authz.ServiceParams{Store: authz.NewStore(gdb), Cache: c, Log: log})
	if err := az.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	sp := ServiceParams{
		Store: NewStore(gdb), Cache: c, Issuer: issuer, Mailer: outbox, Config: cfg, Authz: az,
		PublicURL: "https://onstage.test/", Log: log, Now: clk.Now, BcryptCost: bcrypt.MinCost,
	}
	if params != nil {
		params(&sp)
	}
	svc := NewService(sp)
	mw := authn.Middleware{Issuer: issuer, Reject: func(w http.ResponseWriter, r *http.Request, status int) {
		if status == http.StatusForbidden {
			httpx.Error(w, r, apperr.ErrForbidden)
			return
		}
		httpx.Error(w, r, apperr.ErrUnauthorized)
	}}
	r := chi.NewRouter()
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(mw.Authenticate)
		NewHandler(svc, mw).Mount(r)
		r.With(mw.Require(authn.RoleAdmin)).Get("/admin-only", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})
	})
	return &env{t: t, svc: svc, outbox: outbox, issuer: issuer, clock: clk, router: r}
}

// resp is a recorded answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errCode returns the code of an error answer, failing when it is not the error shape.
func (r resp) errCode(t *testing.T) string {
	t.Helper()
	var b httpx.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("status %d: body %q is not the error shape (%v)", r.status, r.body, err)
	}
	return b.Error.Code
}

func (r resp) fields(t *testing.T) map[string]string {
	t.Helper()
	var b httpx.ErrorBody
	r.decode(t, &b)
	return b.Error.Fields
}

// req is one request to the router.
type req struct {
	method, path string
	body         any // a string is sent as is; anything else as JSON
	token        string
	addr         string // client address; default 192.0.2.1
}

func (e *env) do(q req) resp {
	e.t.Helper()
	var body io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(q.method, q.path, body)
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.addr != "" {
		r.RemoteAddr = q.addr + ":40000"
	}
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, r)
	return resp{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func (e *env) post(path string, body any) resp {
	e.t.Helper()
	return e.do(req{method: http.MethodPost, path: path, body: body})
}

// want checks the status (and error code, when code is not empty).
func (r resp) want(t *testing.T, status int, code string) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.errCode(t); got != code {
			t.Fatalf("code = %q, want %q", got, code)
		}
	}
	return r
}

type registerBody struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role,omitempty"`
}

// register creates an account through the API and returns it.
func (e *env) register(email, password, name string) View {
	e.t.Helper()
	var v View
	e.post("/api/v1/auth/register", registerBody{email, password, name, ""}).want(e.t, http.StatusCreated, "").decode(e.t, &v)
	return v
}

func (e *env) login(email, password string) Tokens {
	e.t.Helper()
	var toks Tokens
	e.post("/api/v1/auth/login", map[string]string{"email": email, "password": password}).
		want(e.t, http.StatusOK, "").decode(e.t, &toks)
	return toks
}

func (e *env) refresh(tok string) resp {
	e.t.Helper()
	return e.post("/api/v1/auth/refresh", map[string]string{"refresh_token": tok})
}

var tokenInLink = regexp.MustCompile(`code=([A-Za-z0-9_-]+)`)

// mailedToken returns the token in the newest mail to addr whose subject contains subject.
func (e *env) mailedToken(addr, subject string) string {
	e.t.Helper()
	msgs, err := e.outbox.Recent(context.Background(), addr, 20)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.Contains(m.Subject, subject) {
			if g := tokenInLink.FindStringSubmatch(m.Text); g != nil {
				return g[1]
			}
		}
	}
	e.t.Fatalf("no mail %q with a token to %s among %d", subject, addr, len(msgs))
	return ""
}

func (e *env) mailCount(addr string) int {
	e.t.Helper()
	msgs, err := e.outbox.Recent(context.Background(), addr, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(msgs)
}
