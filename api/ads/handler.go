package ads

import (
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/httpx"
)

// Handler is the ads REST adapter: it decodes, calls the Service or the Placer and encodes.
type Handler struct {
	svc    *Service
	placer *Placer
	mw     authn.Middleware
	// idempotent wraps the purchase routes (Idempotency-Key); nil leaves them bare.
	idempotent func(http.Handler) http.Handler
	// clicks bounds click requests per client address; nil is no limit.
	clicks *cache.Limiter
}

// HandlerParams configure the Handler.
type HandlerParams struct {
	Service    *Service
	Placer     *Placer
	Middleware authn.Middleware
	Idempotent func(http.Handler) http.Handler
	Clicks     *cache.Limiter
}

// NewHandler returns the ads handler.
func NewHandler(p HandlerParams) *Handler {
	return &Handler{svc: p.Service, placer: p.Placer, mw: p.Middleware, idempotent: p.Idempotent, clicks: p.Clicks}
}

// Mount adds the routes, relative to /api/v1, to r.
func (h *Handler) Mount(r chi.Router) {
	idem := func(f http.HandlerFunc) http.Handler {
		if h.idempotent != nil {
			return h.idempotent(f)
		}
		return f
	}
	member := h.mw.Require(authn.Members...)
	r.Route("/ads", func(r chi.Router) {
		r.Get("/packages", h.packages)
		r.With(member).Post("/packages", h.createPackage)
		r.With(member).Put("/packages/{id}", h.updatePackage)
		r.With(member).Method(http.MethodPost, "/purchase", idem(h.purchase))
		r.With(member).Get("/", h.mine)
		r.With(member).Put("/{id}/toggle", h.toggle)
		r.With(member).Get("/{id}/stats", h.stats)
		r.With(member).Get("/{id}/history", h.history)
		r.With(h.rateLimit).Post("/click", h.click)
	})
	r.Route("/agency", func(r chi.Router) {
		r.Use(member)
		r.Post("/import", h.importFile)
		r.Get("/sub-accounts", h.subAccounts)
		r.Method(http.MethodPost, "/ads/purchase", idem(h.purchaseFor))
		r.Put("/ads/{id}/toggle", h.toggle)
	})
}

func (h *Handler) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.clicks != nil {
			ok, retry, err := h.clicks.Allow(r.Context(), clientAddr(r))
			if err != nil {
				httpx.Error(w, r, apperr.ErrUnavailable)
				return
			}
			if !ok {
				httpx.Error(w, r, apperr.ErrRateLimited.WithRetry(retry))
				return
			}
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

func who(r *http.Request) authn.Identity {
	id, _ := authn.FromContext(r.Context())
	return id
}

func (h *Handler) packages(w http.ResponseWriter, r *http.Request) {
	list, err := h.svc.Packages(r.Context(), false)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"items": list})
}

func (h *Handler) createPackage(w http.ResponseWriter, r *http.Request) {
	var in PackageInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	p, err := h.svc.CreatePackage(r.Context(), who(r), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, p)
}

func (h *Handler) updatePackage(w http.ResponseWriter, r *http.Request) {
	var in PackageInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	p, err := h.svc.UpdatePackage(r.Context(), who(r), chi.URLParam(r, "id"), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (h *Handler) purchase(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PackageID string `json:"package_id"`
	}
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	a, err := h.svc.Purchase(r.Context(), who(r), in.PackageID)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, a.View(h.svc.now()))
}

func (h *Handler) purchaseFor(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SubAccountID string `json:"sub_account_id"`
		PackageID    string `json:"package_id"`
	}
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	a, err := h.svc.PurchaseFor(r.Context(), who(r), in.SubAccountID, in.PackageID)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, a.View(h.svc.now()))
}

func paging(r *http.Request) (int, int, error) {
	page, err := httpx.QueryInt(r, "page", 1, 1, 1_000_000)
	if err != nil {
		return 0, 0, err
	}
	size, err := httpx.QueryInt(r, "page_size", 20, 1, 100)
	return page, size, err
}

func (h *Handler) mine(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	items, total, err := h.svc.Mine(r.Context(), who(r), page, size)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, httpx.Page[AdView]{Items: items, Page: page, PageSize: size, Total: total})
}

func (h *Handler) toggle(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Active *bool `json:"active"`
	}
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if in.Active == nil {
		httpx.Error(w, r, apperr.Invalidf(map[string]string{"active": "required"}))
		return
	}
	a, err := h.svc.Toggle(r.Context(), who(r), chi.URLParam(r, "id"), *in.Active)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, a.View(h.svc.now()))
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st, err := h.svc.Stats(r.Context(), who(r), chi.URLParam(r, "id"), q.Get("from"), q.Get("to"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, st)
}

func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	items, err := h.svc.History(r.Context(), who(r), chi.URLParam(r, "id"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"items": items})
}

func (h *Handler) click(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	ad, err := h.placer.Click(r.Context(), in.Token, r.UserAgent())
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"ad_id": ad, "counted": true})
}

func (h *Handler) importFile(w http.ResponseWriter, r *http.Request) {
	dry, err := httpx.QueryBool(r, "dry_run")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBody)
	if err := r.ParseMultipartForm(httpx.MaxBody); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpx.Error(w, r, apperr.ErrTooLarge)
			return
		}
		httpx.Error(w, r, apperr.ErrBadRequest.WithMessage("send the file as multipart/form-data in the field \"file\""))
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	f, _, err := r.FormFile("file")
	if err != nil {
		httpx.Error(w, r, apperr.ErrBadRequest.WithMessage("send the file as multipart/form-data in the field \"file\"").
			WithFields(map[string]string{"file": "required"}))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, httpx.MaxBody+1))
	if err != nil || len(data) > httpx.MaxBody {
		httpx.Error(w, r, apperr.ErrTooLarge)
		return
	}
	res, err := h.svc.Import(r.Context(), who(r), data, dry != nil && *dry)
	var ie *ImportError
	if errors.As(err, &ie) {
		httpx.JSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": ie.Problems,
			"error": httpx.ErrorDetail{Code: ErrImportInvalid.Code, Message: ErrImportInvalid.Message}})
		return
	}
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	status := http.StatusCreated
	if res.DryRun {
		status = http.StatusOK
	}
	httpx.JSON(w, status, res)
}

func (h *Handler) subAccounts(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	items, total, err := h.svc.SubAccounts(r.Context(), who(r), r.URL.Query().Get("q"), page, size)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, httpx.Page[SubAccount]{Items: items, Page: page, PageSize: size, Total: total})
}
