package booking

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/audit"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/httpx"
)

// Handler is the booking REST adapter (docs/api.md, Booking): it decodes, calls the Service
// with the caller's identity and encodes. Access levels are declared in api/openapi.go.
type Handler struct {
	svc        *Service
	storage    Storage
	idempotent func(http.Handler) http.Handler
	// sponsors places a sponsored card on catalogue pages; nil places none (SetSponsors).
	sponsors Sponsors
}

// NewHandler returns the booking handler; idempotent wraps POST /orders (Idempotency-Key).
func NewHandler(svc *Service, st Storage, idempotent func(http.Handler) http.Handler) *Handler {
	return &Handler{svc: svc, storage: st, idempotent: idempotent}
}

// AdminOperations name the booking admin routes for the audit log.
var AdminOperations = map[string]audit.Operation{
	"GET /api/v1/admin/streamers":              {Name: "streamer:list"},
	"PUT /api/v1/admin/streamers/{id}/approve": {Name: "streamer:approve", TargetType: "user", TargetParam: "id"},
	"PUT /api/v1/admin/streamers/{id}/reject":  {Name: "streamer:reject", TargetType: "user", TargetParam: "id"},
}

// Mount adds the routes, relative to /api/v1.
func (h *Handler) Mount(r chi.Router) {
	r.Route("/streamers", func(r chi.Router) {
		r.Get("/", h.catalog)
		r.Get("/profile", h.myProfile)
		r.Put("/profile", h.saveProfile)
		r.Get("/schedule", h.mySchedule)
		r.Put("/schedule", h.setSchedule)
		r.Get("/{id}", h.detail)
		r.Get("/{id}/reviews", h.reviews)
	})
	r.Get("/admin/streamers", h.profiles)
	r.Put("/admin/streamers/{id}/approve", h.approve)
	r.Put("/admin/streamers/{id}/reject", h.reject)
	r.Route("/orders", func(r chi.Router) {
		create := http.Handler(http.HandlerFunc(h.createOrder))
		if h.idempotent != nil {
			create = h.idempotent(create)
		}
		r.Method(http.MethodPost, "/", create)
		r.Get("/", h.orders)
		r.Get("/{id}", h.order)
		r.Post("/{id}/cancel", h.cancel)
	})
	r.Post("/reviews", h.addReview)
	r.Post("/uploads/images", h.upload)
	r.Get("/uploads/images/{name}", h.image)
}

func caller(r *http.Request) authn.Identity {
	id, _ := authn.FromContext(r.Context())
	return id
}

func paging(r *http.Request, def int) (int, int, error) {
	page, err := httpx.QueryInt(r, "page", 1, 1, 1_000_000)
	if err != nil {
		return 0, 0, err
	}
	size, err := httpx.QueryInt(r, "page_size", def, 1, 50)
	return page, size, err
}

func queryMoney(r *http.Request, name string) (int64, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 || n > MaxPrice {
		return 0, apperr.Invalidf(map[string]string{name: "must be an amount in minor units"})
	}
	return n, nil
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r, 20)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	lq := ListQuery{Page: page, PageSize: size, City: q.Get("city"), Game: q.Get("game"), Lang: q.Get("language"),
		Q: q.Get("q"), Sort: q.Get("sort")}
	if lq.PriceMin, err = queryMoney(r, "price_min"); err == nil {
		lq.PriceMax, err = queryMoney(r, "price_max")
	}
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, hit, err := h.svc.Catalog(r.Context(), lq)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out = h.sponsored(r, lq, out)
	w.Header().Set("X-Cache", map[bool]string{true: "hit", false: "miss"}[hit])
	httpx.JSON(w, http.StatusOK, out)
}

func (h *Handler) detail(w http.ResponseWriter, r *http.Request) {
	dur, err := httpx.QueryInt(r, "duration_minutes", 60, 15, 480)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	viewer := caller(r).UserID
	if viewer == "" {
		viewer, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	d, err := h.svc.Detail(r.Context(), chi.URLParam(r, "id"), viewer, time.Duration(dur)*time.Minute)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, d)
}

func (h *Handler) reviews(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r, 10)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	items, total, err := h.svc.Reviews(r.Context(), chi.URLParam(r, "id"), page, size)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, httpx.Page[ReviewView]{Items: items, Page: page, PageSize: size, Total: total})
}

func (h *Handler) profiles(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r, 20)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	items, total, err := h.svc.Profiles(r.Context(), caller(r), ProfileStatus(r.URL.Query().Get("status")), page, size)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, httpx.Page[ProfileView]{Items: items, Page: page, PageSize: size, Total: total})
}

func (h *Handler) myProfile(w http.ResponseWriter, r *http.Request) {
	p, err := h.svc.MyProfile(r.Context(), caller(r))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (h *Handler) saveProfile(w http.ResponseWriter, r *http.Request) {
	var in ProfileInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	p, err := h.svc.SaveProfile(r.Context(), caller(r), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (h *Handler) mySchedule(w http.ResponseWriter, r *http.Request) {
	s, err := h.svc.MySchedule(r.Context(), caller(r))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, s)
}

func (h *Handler) setSchedule(w http.ResponseWriter, r *http.Request) {
	var in Schedule
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	s, err := h.svc.SetSchedule(r.Context(), caller(r), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, s)
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

func (h *Handler) approve(w http.ResponseWriter, r *http.Request) { h.decide(w, r, true) }
func (h *Handler) reject(w http.ResponseWriter, r *http.Request)  { h.decide(w, r, false) }

func (h *Handler) decide(w http.ResponseWriter, r *http.Request, approve bool) {
	var in reasonRequest
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &in); err != nil {
			httpx.Error(w, r, err)
			return
		}
	}
	id := chi.URLParam(r, "id")
	op := "streamer:reject"
	if approve {
		op = "streamer:approve"
	}
	audit.Note(r.Context(), op, "user", id)
	p, err := h.svc.Review(r.Context(), caller(r), id, approve, in.Reason)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (h *Handler) createOrder(w http.ResponseWriter, r *http.Request) {
	var in OrderInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	o, err := h.svc.CreateOrder(r.Context(), caller(r), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, o)
}

func (h *Handler) orders(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r, 20)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Orders(r.Context(), caller(r), OrderQuery{As: r.URL.Query().Get("as"),
		Status: r.URL.Query().Get("status"), Page: page, PageSize: size})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, out)
}

func (h *Handler) order(w http.ResponseWriter, r *http.Request) {
	o, err := h.svc.GetOrder(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, o)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	var in reasonRequest
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &in); err != nil {
			httpx.Error(w, r, err)
			return
		}
	}
	o, err := h.svc.CancelOrder(r.Context(), caller(r), chi.URLParam(r, "id"), in.Reason)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, o)
}

func (h *Handler) addReview(w http.ResponseWriter, r *http.Request) {
	var in ReviewInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	rv, err := h.svc.AddReview(r.Context(), caller(r), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, rv)
}

// upload takes the image as the raw body or as the "file" field of a multipart form.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxImageBytes+64<<10)
	var src io.Reader = r.Body
	if mr, err := r.MultipartReader(); err == nil {
		src = nil
		for {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			if part.FormName() == "file" {
				src = part
				break
			}
		}
		if src == nil {
			httpx.Error(w, r, apperr.Invalidf(map[string]string{"file": "required"}))
			return
		}
	}
	data, err := io.ReadAll(io.LimitReader(src, MaxImageBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpx.Error(w, r, apperr.ErrTooLarge.WithMessage("the image is larger than 2 MiB"))
			return
		}
		httpx.Error(w, r, apperr.ErrBadRequest)
		return
	}
	if len(data) > MaxImageBytes {
		httpx.Error(w, r, apperr.ErrTooLarge.WithMessage("the image is larger than 2 MiB"))
		return
	}
	url, err := h.svc.SaveImage(r.Context(), h.storage, data)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, map[string]string{"url": url})
}

func (h *Handler) image(w http.ResponseWriter, r *http.Request) {
	data, ct, err := h.storage.Get(r.Context(), chi.URLParam(r, "name"))
	if errors.Is(err, ErrNoObject) {
		httpx.Error(w, r, apperr.ErrNotFound)
		return
	}
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(data)
}
