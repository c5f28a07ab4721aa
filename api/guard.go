package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/audit"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/httpx"
)

// Authorizer answers whether an identity holds a permission (internal/authz.Service).
type Authorizer interface {
	Can(ctx context.Context, id authn.Identity, p authz.Permission, t *authz.Target) error
}

// The access levels of the route table's Auth column besides a permission name.
const (
	AuthPublic = "public" // anyone, no token
	AuthToken  = "token"  // any valid token: authenticated, guests included
	AuthMember = "member" // a signed-in account, not a guest
)

// RouteAuth returns the access a route declares in the table, by method and chi pattern.
func RouteAuth(method, pattern string) (string, bool) {
	a, ok := routeAuth[method+" "+strings.TrimSuffix(pattern, "/")]
	return a, ok
}

var routeAuth = func() map[string]string {
	m := make(map[string]string, len(routes))
	for _, rt := range routes {
		m[rt.Method+" "+rt.Path] = rt.Auth
	}
	return m
}()

// ValidAuth reports whether a is a level the guard knows: public, token, member or a
// permission of internal/authz.
func ValidAuth(a string) bool {
	switch a {
	case AuthPublic, AuthToken, AuthMember:
		return true
	}
	return authz.Known(authz.Permission(a))
}

// guard enforces each route's declared access before its handler runs. A route the table
// does not declare, or declares with an unknown level, is refused: deny by default. Domain
// services still check targets (scopes) themselves; this is the first gate, in one place.
func guard(root chi.Routes, az Authorizer) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pattern := root.Find(chi.NewRouteContext(), r.Method, r.URL.Path)
			if pattern == "" {
				next.ServeHTTP(w, r) // no such route: the router answers 404 or 405
				return
			}
			a, ok := RouteAuth(r.Method, pattern)
			if !ok || !ValidAuth(a) {
				httpx.Logger(r).Error("route without a declared permission refused", "method", r.Method, "route", pattern)
				httpx.Error(w, r, apperr.ErrForbidden.WithMessage("this route declares no permission"))
				return
			}
			if err := allow(r, a, az); err != nil {
				// The handler never runs, so routing stops here: record the route the request
				// matched for the metrics' label and the audit row.
				if rc := chi.RouteContext(r.Context()); rc != nil {
					rc.RoutePatterns = []string{pattern}
				}
				audit.Refused(r.Context(), strings.TrimSuffix(pattern, "/"))
				if e, ok := apperr.As(err); ok && e.Kind == apperr.Unauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="onstage"`)
				}
				httpx.Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func allow(r *http.Request, a string, az Authorizer) error {
	if a == AuthPublic {
		return nil
	}
	id, ok := authn.FromContext(r.Context())
	if !ok {
		return apperr.ErrUnauthorized.WithMessage("a valid access token is required")
	}
	switch a {
	case AuthToken:
		return nil
	case AuthMember:
		if id.IsGuest() {
			return apperr.ErrForbidden.WithMessage("guests may not do this")
		}
		return nil
	}
	if az == nil {
		return apperr.ErrForbidden
	}
	return az.Can(r.Context(), id, authz.Permission(a), nil)
}

// RequirePermission refuses requests whose identity lacks p (outside the route table: pprof).
func RequirePermission(az Authorizer, p authz.Permission) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := allow(r, string(p), az); err != nil {
				httpx.Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
