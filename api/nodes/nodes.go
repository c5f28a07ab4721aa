// Package nodes serves the admin view of the cluster's node registry: GET /api/v1/nodes lists
// every alive node with its addresses and load (docs/cluster.md). A single node lists itself.
package nodes

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/httpx"
	"github.com/onstagehq/onstage/rooms"
)

// Authorizer answers permission checks (internal/authz.Service).
type Authorizer interface {
	Can(ctx context.Context, id authn.Identity, p authz.Permission, t *authz.Target) error
}

// Handler serves /nodes relative to /api/v1.
type Handler struct {
	reg *rooms.Registry
	az  Authorizer
}

// NewHandler returns the nodes REST handler.
func NewHandler(reg *rooms.Registry, az Authorizer) *Handler {
	return &Handler{reg: reg, az: az}
}

// Mount adds the routes to r, which the caller has wrapped in authentication.
func (h *Handler) Mount(r chi.Router) {
	r.Get("/nodes", h.list)
}

// listBody is the response of GET /nodes.
type listBody struct {
	Items []rooms.NodeInfo `json:"items"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	id, ok := authn.FromContext(r.Context())
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="onstage"`)
		httpx.Error(w, r, apperr.ErrUnauthorized)
		return
	}
	if err := h.az.Can(r.Context(), id, authz.NodesRead, nil); err != nil {
		httpx.Error(w, r, err)
		return
	}
	items, err := h.reg.Nodes(r.Context())
	if err != nil {
		httpx.Logger(r).Warn("list nodes", "err", err)
		httpx.Error(w, r, apperr.ErrUnavailable.WithMessage("the node registry cannot be read; try again"))
		return
	}
	if items == nil {
		items = []rooms.NodeInfo{}
	}
	httpx.JSON(w, http.StatusOK, listBody{Items: items})
}
