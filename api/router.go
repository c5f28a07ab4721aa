// Package api owns onstage's HTTP surface: the chi router and its middleware, the operations
// endpoints (/healthz, /readyz, /metrics, /api/openapi.json), and the mounting of each REST
// domain package (api/auth, api/meetings, …) under /api/v1. It holds no business rules.
package api

import (
	"net/http"
	"net/http/pprof"
	"net/netip"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/audit"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/httpx"
	"github.com/onstagehq/onstage/web"
)

// Module is a REST domain that mounts its routes relative to /api/v1.
type Module interface {
	Mount(r chi.Router)
}

// RouterParams are everything the router serves.
type RouterParams struct {
	Auth     authn.Middleware
	Modules  []Module
	Checks   map[string]Check
	Registry *prometheus.Registry
	// WebSocket serves /ws; nil leaves it out.
	WebSocket http.Handler
	// Web serves the browser client at / and /m/{code}; nil leaves it out.
	Web http.Handler
	// OpenAPI is the JSON document served at /api/openapi.json.
	OpenAPI []byte
	// SeparateMetrics leaves /metrics out of this router: it is served on its own listener
	// (MetricsHandler).
	SeparateMetrics bool
	// Pprof mounts /debug/pprof for admins.
	Pprof bool
	// TrustedProxies may set the client address through X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Pages are more routes outside /api/v1, by chi pattern (the payment sandbox's checkout
	// page at /pay/*); a nil handler is left out.
	Pages map[string]http.Handler
	// Authz answers the permission checks of the route table's guard; nil refuses every
	// route that names a permission.
	Authz Authorizer
	// WriteLimit, when set, rate-limits the write routes of /api/v1.
	WriteLimit func(http.Handler) http.Handler
	// Audit, when set, records admin requests; it runs first, so that refusals of tokens,
	// rate limits and permissions are all recorded.
	Audit func(http.Handler) http.Handler
}

// NewRouter builds the HTTP handler of a node.
func NewRouter(p RouterParams) http.Handler {
	metrics := newHTTPMetrics(p.Registry)
	r := chi.NewRouter()
	r.Use(requestID, clientIP(p.TrustedProxies), metrics.observe, securityHeaders)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		httpx.Error(w, r, apperr.ErrNotFound.WithMessage("no route for "+r.Method+" "+r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusMethodNotAllowed, httpx.ErrorBody{Error: httpx.ErrorDetail{
			Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path}})
	})

	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", readyz(p.Checks))
	if !p.SeparateMetrics {
		r.Handle("/metrics", MetricsHandler(p.Registry))
	}
	if p.OpenAPI != nil {
		r.Get("/api/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(p.OpenAPI)
		})
	}

	root := r
	r.Route("/api/v1", func(r chi.Router) {
		if p.Audit != nil {
			r.Use(p.Audit)
		}
		r.Use(p.Auth.Authenticate, audit.Identify)
		if p.WriteLimit != nil {
			r.Use(p.WriteLimit)
		}
		r.Use(guard(root, p.Authz))
		for _, m := range p.Modules {
			m.Mount(r)
		}
	})
	if p.WebSocket != nil {
		r.Handle("/ws", p.WebSocket)
	}
	if p.Pprof {
		r.Route("/debug/pprof", func(r chi.Router) {
			r.Use(p.Auth.Authenticate, RequirePermission(p.Authz, authz.DebugPprof))
			r.HandleFunc("/*", pprof.Index)
			r.HandleFunc("/cmdline", pprof.Cmdline)
			r.HandleFunc("/profile", pprof.Profile)
			r.HandleFunc("/symbol", pprof.Symbol)
			r.HandleFunc("/trace", pprof.Trace)
		})
	}
	for pattern, h := range p.Pages {
		if h != nil {
			r.Handle(pattern, h)
		}
	}
	if p.Web != nil {
		for _, page := range web.ClientPages {
			r.Handle(page, p.Web)
		}
		for _, prefix := range web.ClientPrefixes {
			r.Handle(prefix+"*", p.Web)
		}
		r.Handle("/static/*", p.Web)
	}
	return r
}

// MetricsHandler serves reg's metrics in the Prometheus format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// Reject writes authn refusals in the API's error shape.
func Reject(w http.ResponseWriter, r *http.Request, status int) {
	if status == http.StatusForbidden {
		httpx.Error(w, r, apperr.ErrForbidden.WithMessage("your role may not do this"))
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="onstage"`)
	httpx.Error(w, r, apperr.ErrUnauthorized.WithMessage("a valid access token is required"))
}
