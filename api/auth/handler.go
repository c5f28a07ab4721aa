package auth

import (
	"net"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/httpx"
)

// Handler is the auth domain's REST adapter: it decodes, calls the Service and encodes.
type Handler struct {
	svc *Service
	mw  authn.Middleware
}

// NewHandler returns the handler over svc; mw supplies Require for the routes that need a
// caller (its Authenticate must already run in front of Mount's routes).
func NewHandler(svc *Service, mw authn.Middleware) *Handler {
	return &Handler{svc: svc, mw: mw}
}

// Mount adds the routes, relative to /api/v1, to r.
func (h *Handler) Mount(r chi.Router) {
	r.Route("/auth", func(r chi.Router) {
		r.Use(h.rateLimit)
		r.Post("/register", h.register)
		r.Get("/verify", h.verify)
		r.Post("/login", h.login)
		r.Post("/refresh", h.refresh)
		r.Post("/logout", h.logout)
		r.Post("/password/forgot", h.forgot)
		r.Post("/password/reset", h.reset)
		r.Post("/guest", h.guest)
	})
	r.With(h.mw.Require()).Get("/users/me", h.me)
	r.With(h.rateLimit, h.mw.Require(authn.Members...)).Put("/users/me", h.updateMe)
}

// rateLimit bounds requests per client address (RemoteAddr, which a trusted proxy
// middleware in front may have set from X-Forwarded-For).
func (h *Handler) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.svc.Allow(r.Context(), clientAddr(r)); err != nil {
			httpx.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	var in RegisterInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	u, err := h.svc.Register(r.Context(), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, u.View())
}

// verify reads the token from `code`, not `token`: the authentication middleware takes a
// `token` query parameter for an access token and would refuse the request.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.VerifyEmail(r.Context(), r.URL.Query().Get("code")); err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]bool{"verified": true})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var in LoginInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	in.IP = clientAddr(r)
	toks, err := h.svc.Login(r.Context(), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, toks)
}

// refreshBody carries a refresh token (refresh and logout).
type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) {
	var in refreshBody
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	toks, err := h.svc.Refresh(r.Context(), in.RefreshToken)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, toks)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	var in refreshBody
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if err := h.svc.Logout(r.Context(), in.RefreshToken); err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	var in ForgotInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if err := h.svc.ForgotPassword(r.Context(), in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	var in ResetInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if err := h.svc.ResetPassword(r.Context(), in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) guest(w http.ResponseWriter, r *http.Request) {
	var in GuestInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	tok, err := h.svc.Guest(r.Context(), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, tok)
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	id, ok := authn.FromContext(r.Context())
	if !ok {
		httpx.Error(w, r, apperr.ErrUnauthorized)
		return
	}
	if id.IsGuest() {
		httpx.JSON(w, http.StatusOK, GuestViewOf(id))
		return
	}
	me, err := h.svc.Me(r.Context(), id)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, me)
}

func (h *Handler) updateMe(w http.ResponseWriter, r *http.Request) {
	id, ok := authn.FromContext(r.Context())
	if !ok {
		httpx.Error(w, r, apperr.ErrUnauthorized)
		return
	}
	var in UpdateMeInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	u, err := h.svc.UpdateMe(r.Context(), id, in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, u.View())
}
