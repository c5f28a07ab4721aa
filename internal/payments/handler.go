package payments

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/httpx"
)

// maxWebhookBody bounds a webhook's body; real events are a few kilobytes.
const maxWebhookBody = 256 << 10

// Handler is the payments REST adapter: intents, the webhook inbox and the sandbox's routes.
type Handler struct {
	svc     *Service
	mw      authn.Middleware
	sandbox *Sandbox // nil when the sandbox is not running
	limiter *cache.Limiter
	// idempotent wraps the create route (Idempotency-Key); nil leaves it bare.
	idempotent func(http.Handler) http.Handler
}

// HandlerParams configure the Handler.
type HandlerParams struct {
	Service    *Service
	Middleware authn.Middleware
	Sandbox    *Sandbox
	// Limiter bounds webhook and sandbox requests per client address.
	Limiter    *cache.Limiter
	Idempotent func(http.Handler) http.Handler
}

// NewHandler returns the payments handler.
func NewHandler(p HandlerParams) *Handler {
	return &Handler{svc: p.Service, mw: p.Middleware, sandbox: p.Sandbox, limiter: p.Limiter, idempotent: p.Idempotent}
}

// Mount adds the routes, relative to /api/v1, to r.
func (h *Handler) Mount(r chi.Router) {
	r.Route("/payments", func(r chi.Router) {
		create := http.Handler(http.HandlerFunc(h.create))
		if h.idempotent != nil {
			create = h.idempotent(create)
		}
		r.With(h.mw.Require(authn.Members...)).Method(http.MethodPost, "/", create)
		r.With(h.mw.Require(authn.Members...)).Get("/{id}", h.get)
		r.With(h.rateLimit).Post("/webhook/{provider}", h.webhook)
		if h.sandbox != nil {
			r.With(h.rateLimit).Post("/sandbox/{ref}/{action}", h.sandboxAct)
		}
	})
}

// Page serves the sandbox's checkout page at /pay/{ref}; nil when the sandbox is off.
func (h *Handler) Page() http.Handler {
	if h.sandbox == nil {
		return nil
	}
	r := chi.NewRouter()
	r.With(h.rateLimit).Get("/pay/{ref}", h.page)
	return r
}

func (h *Handler) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.limiter != nil {
			addr := r.RemoteAddr
			if host, _, err := net.SplitHostPort(addr); err == nil {
				addr = host
			}
			ok, retry, err := h.limiter.Allow(r.Context(), addr)
			if err != nil {
				// A cache outage must not stop payments from settling.
				httpx.Logger(r).Warn("payments: rate limiter unavailable; allowing", "err", err)
			} else if !ok {
				httpx.Error(w, r, apperr.ErrRateLimited.WithRetry(retry))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	id, _ := authn.FromContext(r.Context())
	var in map[string]string
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	fields := h.svc.Fields()
	slices.Sort(fields)
	if len(in) != 1 {
		httpx.Error(w, r, apperr.ErrValidation.WithMessage("name exactly one of "+strings.Join(fields, ", ")))
		return
	}
	var field, subject string
	for field, subject = range in {
	}
	kind, ok := h.svc.KindOfField(field)
	if !ok {
		httpx.Error(w, r, apperr.ErrBadRequest.WithMessage("unknown field; name one of "+strings.Join(fields, ", ")).
			WithFields(map[string]string{field: "unknown field"}))
		return
	}
	p, created, err := h.svc.Create(r.Context(), id.UserID, kind, subject)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpx.JSON(w, status, p.View())
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id, _ := authn.FromContext(r.Context())
	p, err := h.svc.Get(r.Context(), id.UserID, chi.URLParam(r, "id"))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p.View())
}

func (h *Handler) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpx.Error(w, r, apperr.ErrTooLarge)
			return
		}
		httpx.Error(w, r, apperr.ErrBadRequest.WithMessage("could not read the body"))
		return
	}
	res, err := h.svc.HandleWebhook(r.Context(), chi.URLParam(r, "provider"), body, r.Header)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"received": true, "result": res})
}

func (h *Handler) sandboxAct(w http.ResponseWriter, r *http.Request) {
	ref := chi.URLParam(r, "ref")
	st, err := h.sandbox.Act(r.Context(), ref, SandboxAction(chi.URLParam(r, "action")))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	// The page's buttons are plain form posts (no script): send the browser back to the page.
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		http.Redirect(w, r, "/pay/"+ref, http.StatusSeeOther)
		return
	}
	httpx.JSON(w, http.StatusAccepted, map[string]any{"ref": ref, "status": st})
}

// pageCSP allows the page nothing but its own form posts: no script at all.
const pageCSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

var pageTmpl = template.Must(template.New("pay").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>onstage sandbox payment</title></head>
<body>
<h1>Sandbox payment</h1>
<p>This is onstage's sandbox payment provider: no money moves.</p>
<dl><dt>Amount</dt><dd>{{.Amount}}</dd><dt>Status</dt><dd id="status">{{.Status}}</dd></dl>
{{if .Open}}
<form method="post" action="/api/v1/payments/sandbox/{{.Ref}}/succeed"><button type="submit">Pay</button></form>
<form method="post" action="/api/v1/payments/sandbox/{{.Ref}}/decline"><button type="submit">Decline</button></form>
<form method="post" action="/api/v1/payments/sandbox/{{.Ref}}/never"><button type="submit">Never answer</button></form>
{{else}}
<p>This payment has its answer; onstage learns it from the sandbox's webhook{{if eq .Status "succeeded"}} (or, if none comes, from the reconciler){{end}}.</p>
{{end}}
</body></html>
`))

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	in, err := h.sandbox.intent(r.Context(), chi.URLParam(r, "ref"))
	if err != nil {
		w.Header().Set("Content-Security-Policy", pageCSP)
		httpx.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = pageTmpl.Execute(w, map[string]any{
		"Ref": in.Ref, "Amount": FormatAmount(in.Amount, in.Currency), "Status": in.Status, "Open": in.Status.Open(),
	})
}

// FormatAmount shows minor units as a decimal amount with its currency, for people.
func FormatAmount(amount int64, currency string) string {
	digits := minorDigits(currency)
	if digits == 0 {
		return fmt.Sprintf("%d %s", amount, currency)
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	div := int64(1)
	for range digits {
		div *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, amount/div, digits, amount%div, currency)
}

// minorDigits is the number of decimals of a currency's minor unit (ISO 4217).
func minorDigits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}
