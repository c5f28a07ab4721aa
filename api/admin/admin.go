// Package admin is the REST adapter of the admin API under /api/v1/admin: roles and
// permissions, user roles and locks, and the audit log. Handlers decode, call internal/authz
// or internal/audit (which check the caller's permissions themselves), name the operation for
// the audit row, and encode. The route table in api declares each route's permission; the
// audit middleware in front of the guard writes the rows.
package admin

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/audit"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/httpx"
)

// Handler serves /admin relative to /api/v1.
type Handler struct {
	az  *authz.Service
	log *audit.Log
}

// NewHandler returns the admin REST handler.
func NewHandler(az *authz.Service, log *audit.Log) *Handler { return &Handler{az: az, log: log} }

// Mount adds the routes to r (already behind authentication, the audit middleware and the guard).
func (h *Handler) Mount(r chi.Router) {
	r.Route("/admin", func(r chi.Router) {
		r.Get("/permissions", h.permissions)
		r.Get("/roles", h.roles)
		r.Post("/roles", h.createRole)
		r.Put("/roles/{name}", h.updateRole)
		r.Delete("/roles/{name}", h.deleteRole)
		r.Get("/users", h.users)
		r.Post("/users/{id}/roles", h.grant)
		r.Delete("/users/{id}/roles/{role}", h.revoke)
		r.Post("/users/{id}/lock", h.lock)
		r.Post("/users/{id}/unlock", h.unlock)
		r.Get("/audit", h.audit)
		r.Get("/audit/verify", h.verify)
	})
}

// Operations names each admin route's operation and target for the audit log (seed 003's
// operation names where it has one).
var Operations = map[string]audit.Operation{
	"GET /api/v1/admin/permissions":                {Name: "permission:list"},
	"GET /api/v1/admin/roles":                      {Name: "role:list"},
	"POST /api/v1/admin/roles":                     {Name: "role:create", TargetType: "role"},
	"PUT /api/v1/admin/roles/{name}":               {Name: "role:update", TargetType: "role", TargetParam: "name"},
	"DELETE /api/v1/admin/roles/{name}":            {Name: "role:delete", TargetType: "role", TargetParam: "name"},
	"GET /api/v1/admin/users":                      {Name: "user:list"},
	"POST /api/v1/admin/users/{id}/roles":          {Name: "permission:assign", TargetType: "user", TargetParam: "id"},
	"DELETE /api/v1/admin/users/{id}/roles/{role}": {Name: "permission:revoke", TargetType: "user", TargetParam: "id"},
	"POST /api/v1/admin/users/{id}/lock":           {Name: "user:lock", TargetType: "user", TargetParam: "id"},
	"POST /api/v1/admin/users/{id}/unlock":         {Name: "user:unlock", TargetType: "user", TargetParam: "id"},
	"GET /api/v1/admin/audit":                      {Name: "audit:read", TargetType: "audit"},
	"GET /api/v1/admin/audit/verify":               {Name: "audit:verify", TargetType: "audit"},
}

func caller(r *http.Request) authn.Identity {
	id, _ := authn.FromContext(r.Context())
	return id
}

// param returns a path parameter, or a 404 when it cannot name anything of ours.
func param(r *http.Request, name string) (string, error) {
	if v, ok := httpx.PathParam(r, name); ok {
		return v, nil
	}
	return "", authz.ErrNotFound
}

type items[T any] struct {
	Items []T `json:"items"`
}

func (h *Handler) permissions(w http.ResponseWriter, r *http.Request) {
	// The guard checked roles:manage; the list itself is the code's, not data.
	httpx.JSON(w, http.StatusOK, items[authz.PermissionInfo]{authz.Permissions})
}

func (h *Handler) roles(w http.ResponseWriter, r *http.Request) {
	roles, err := h.az.Roles(r.Context(), caller(r))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, items[authz.Role]{roles})
}

func (h *Handler) createRole(w http.ResponseWriter, r *http.Request) {
	var in authz.RoleInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	audit.Note(r.Context(), "role:create", "role", in.Name)
	role, err := h.az.CreateRole(r.Context(), caller(r), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, role)
}

func (h *Handler) updateRole(w http.ResponseWriter, r *http.Request) {
	name, err := param(r, "name")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	audit.Note(r.Context(), "role:update", "role", name)
	var in authz.RoleUpdate
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	role, err := h.az.UpdateRole(r.Context(), caller(r), name, in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, role)
}

func (h *Handler) deleteRole(w http.ResponseWriter, r *http.Request) {
	name, err := param(r, "name")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	audit.Note(r.Context(), "role:delete", "role", name)
	if err := h.az.DeleteRole(r.Context(), caller(r), name); err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) users(w http.ResponseWriter, r *http.Request) {
	page, err := httpx.QueryInt(r, "page", 1, 1, 1_000_000)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	size, err := httpx.QueryInt(r, "page_size", 20, 1, 100)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	out, err := h.az.Users(r.Context(), caller(r), authz.UserQuery{Q: q.Get("q"), Role: q.Get("role"), Status: q.Get("status"),
		Page: page, PageSize: size})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, out)
}

type grantBody struct {
	Role string `json:"role"`
}

func (h *Handler) grant(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var in grantBody
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	audit.Note(r.Context(), "permission:assign", "user", id)
	if in.Role == "" {
		httpx.Error(w, r, apperr.Invalidf(map[string]string{"role": "required"}))
		return
	}
	if err := h.az.GrantRole(r.Context(), caller(r), id, in.Role); err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	audit.Note(r.Context(), "permission:revoke", "user", id)
	role, err := param(r, "role")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if err := h.az.RevokeRole(r.Context(), caller(r), id, role); err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) lock(w http.ResponseWriter, r *http.Request)   { h.setLocked(w, r, true) }
func (h *Handler) unlock(w http.ResponseWriter, r *http.Request) { h.setLocked(w, r, false) }

func (h *Handler) setLocked(w http.ResponseWriter, r *http.Request, lock bool) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	op := "user:unlock"
	if lock {
		op = "user:lock"
	}
	audit.Note(r.Context(), op, "user", id)
	if err := h.az.SetLocked(r.Context(), caller(r), id, lock); err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request) {
	audit.Note(r.Context(), "audit:read", "audit", "")
	page, err := httpx.QueryInt(r, "page", 1, 1, 1_000_000)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	size, err := httpx.QueryInt(r, "page_size", 50, 1, 500)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	f := audit.Filter{ActorID: q.Get("actor"), Module: q.Get("module"), Operation: q.Get("operation"),
		TargetType: q.Get("target_type"), TargetID: q.Get("target_id"), Status: q.Get("status"), Page: page, PageSize: size}
	if t := q.Get("target"); t != "" && f.TargetID == "" {
		f.TargetID = t
	}
	fields := map[string]string{}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fields[name] = "must be an RFC 3339 time"
			}
			*dst = t
		}
	}
	if f.Status != "" && f.Status != audit.StatusSuccess && f.Status != audit.StatusFailed && f.Status != audit.StatusDenied {
		fields["status"] = "must be success, failed or denied"
	}
	if len(fields) > 0 {
		httpx.Error(w, r, apperr.Invalidf(fields))
		return
	}
	out, err := h.log.List(r.Context(), caller(r), f)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, out)
}

func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	audit.Note(r.Context(), "audit:verify", "audit", "")
	v, err := h.log.Verify(r.Context(), caller(r))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, v)
}
