// Package nodes serves the admin view of the cluster's node registry: GET /api/v1/nodes lists
// every alive node with its addresses and load (docs/cluster.md). A single node lists itself.
package nodes

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/httpx"
	"github.com/onstagehq/onstage/rooms"
)

// Handler serves /nodes relative to /api/v1.
type Handler struct {
	reg *rooms.Registry
	mw  authn.Middleware
}

// NewHandler returns the nodes REST handler.
func NewHandler(reg *rooms.Registry, mw authn.Middleware) *Handler {
	return &Handler{reg: reg, mw: mw}
}

// Mount adds the routes to r, which the caller has wrapped in mw.Authenticate.
func (h *Handler) Mount(r chi.Router) {
	r.With(h.mw.Require(authn.RoleAdmin)).Get("/nodes", h.list)
}

// listBody is the response of GET /nodes.
type listBody struct {
	Items []rooms.NodeInfo `json:"items"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
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
