package cards

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/httpx"
)

// maxSignedBody bounds the body of a signed verify or query request.
const maxSignedBody = 4 << 10

// Handler serves the card-key routes relative to /api/v1.
type Handler struct {
	svc *Service
	// idem wraps every quota mutation: Idempotency-Key replay (internal/idempotency).
	idem func(http.Handler) http.Handler
}

// NewHandler returns the REST handler; idempotent is the Idempotency-Key middleware.
func NewHandler(svc *Service, idempotent func(http.Handler) http.Handler) *Handler {
	return &Handler{svc: svc, idem: idempotent}
}

// requireKey refuses a quota mutation without an Idempotency-Key, then replays or records
// it: a retried recharge or batch never runs twice.
func (h *Handler) requireKey(fn http.HandlerFunc) http.Handler {
	next := http.Handler(fn)
	if h.idem != nil {
		next = h.idem(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") == "" {
			httpx.Error(w, r, ErrIdempotencyKey)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Mount adds the routes to r (behind authentication and the route table's guard).
func (h *Handler) Mount(r chi.Router) {
	r.Post("/agents", h.createAgent)
	r.Get("/agents", h.agents)
	r.Route("/cards", func(r chi.Router) {
		r.Post("/projects", h.createProject)
		r.Get("/projects", h.projects)
		r.Post("/projects/{id}/rotate-secret", h.rotate)
		r.Get("/projects/{id}/public-key", h.publicKey)
		r.Get("/projects/{id}/deliveries", h.deliveries)
		r.Post("/projects/{id}/deliveries/{did}/resend", h.resend)
		r.Post("/grants", h.grant)
		r.Get("/grants", h.grants)
		r.Post("/applications", h.apply)
		r.Get("/applications", h.applications)
		r.Post("/applications/{id}/decide", h.decide)
		r.Method("POST", "/batches", h.requireKey(h.createBatch))
		r.Get("/batches/{id}/export", h.export)
		r.Get("/keys", h.keys)
		r.Post("/keys/{key}/unbind", h.unbind)
		r.Get("/stats", h.stats)
		r.Post("/verify", h.signed(true))
		r.Post("/query", h.signed(false))
	})
	r.Route("/quota", func(r chi.Router) {
		r.Method("POST", "/recharges", h.requireKey(h.recharge))
		r.Method("POST", "/transfers", h.requireKey(h.transfer))
		r.Method("POST", "/withdrawals", h.requireKey(h.withdraw))
		r.Get("/withdrawals", h.withdrawals)
		r.Method("POST", "/withdrawals/{id}/approve", h.requireKey(h.decideWithdrawal(true)))
		r.Method("POST", "/withdrawals/{id}/reject", h.requireKey(h.decideWithdrawal(false)))
		r.Get("/balance", h.balance)
		r.Get("/entries", h.entries)
		r.Get("/ledger/check", h.checkLedger)
	})
}

func caller(r *http.Request) authn.Identity {
	id, _ := authn.FromContext(r.Context())
	return id
}

func param(r *http.Request, name string) (string, error) {
	if v, ok := httpx.PathParam(r, name); ok {
		return v, nil
	}
	return "", ErrNotFound
}

func paging(r *http.Request) (int, int, error) {
	page, err := httpx.QueryInt(r, "page", 1, 1, 1_000_000)
	if err != nil {
		return 0, 0, err
	}
	size, err := httpx.QueryInt(r, "page_size", 50, 1, 500)
	return page, size, err
}

func reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, status, v)
}

type items[T any] struct {
	Items []T `json:"items"`
}

func (h *Handler) createAgent(w http.ResponseWriter, r *http.Request) {
	var in AgentInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	id, err := h.svc.CreateAgent(r.Context(), caller(r), in)
	reply(w, r, http.StatusCreated, map[string]string{"id": id, "email": strings.ToLower(clean(in.Email)),
		"display_name": clean(in.DisplayName), "parent_id": caller(r).UserID}, err)
}

func (h *Handler) agents(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Agents(r.Context(), caller(r), page, size)
	reply(w, r, http.StatusOK, out, err)
}

func (h *Handler) createProject(w http.ResponseWriter, r *http.Request) {
	var in ProjectInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.CreateProject(r.Context(), caller(r), in)
	reply(w, r, http.StatusCreated, out, err)
}

func (h *Handler) projects(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.Projects(r.Context(), caller(r))
	reply(w, r, http.StatusOK, items[Project]{out}, err)
}

func (h *Handler) rotate(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.RotateSecret(r.Context(), caller(r), id)
	reply(w, r, http.StatusOK, out, err)
}

func (h *Handler) publicKey(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	pub, err := h.svc.PublicKey(r.Context(), id)
	reply(w, r, http.StatusOK, map[string]string{"algorithm": "Ed25519", "public_key": base64.StdEncoding.EncodeToString(pub)}, err)
}

func (h *Handler) deliveries(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	page, size, err := paging(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, total, err := h.svc.Deliveries(r.Context(), caller(r), id, page, size)
	reply(w, r, http.StatusOK, httpx.Page[Delivery]{Items: out, Page: page, PageSize: size, Total: total}, err)
}

func (h *Handler) resend(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	did, err := param(r, "did")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Resend(r.Context(), caller(r), id, did)
	reply(w, r, http.StatusAccepted, out, err)
}

func (h *Handler) grant(w http.ResponseWriter, r *http.Request) {
	var in GrantInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Grant(r.Context(), caller(r), in)
	reply(w, r, http.StatusCreated, out, err)
}

func (h *Handler) grants(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.Grants(r.Context(), caller(r))
	reply(w, r, http.StatusOK, items[Grant]{out}, err)
}

func (h *Handler) apply(w http.ResponseWriter, r *http.Request) {
	var in ApplicationInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Apply(r.Context(), caller(r), in)
	reply(w, r, http.StatusCreated, out, err)
}

func (h *Handler) applications(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.Applications(r.Context(), caller(r), r.URL.Query().Get("status"))
	reply(w, r, http.StatusOK, items[Application]{out}, err)
}

func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var in DecisionInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Decide(r.Context(), caller(r), id, in)
	reply(w, r, http.StatusOK, out, err)
}

type amountBody struct {
	UserID   string `json:"user_id"`
	ToUserID string `json:"to_user_id"`
	Amount   int64  `json:"amount"`
	Account  string `json:"account"`
}

func (h *Handler) recharge(w http.ResponseWriter, r *http.Request) {
	var in amountBody
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Recharge(r.Context(), caller(r), in.UserID, in.Amount)
	reply(w, r, http.StatusCreated, out, err)
}

func (h *Handler) transfer(w http.ResponseWriter, r *http.Request) {
	var in amountBody
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.TransferQuota(r.Context(), caller(r), in.ToUserID, in.Amount)
	reply(w, r, http.StatusCreated, out, err)
}

func (h *Handler) withdraw(w http.ResponseWriter, r *http.Request) {
	var in amountBody
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Withdraw(r.Context(), caller(r), in.Amount, in.Account)
	reply(w, r, http.StatusCreated, out, err)
}

func (h *Handler) withdrawals(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, total, err := h.svc.Withdrawals(r.Context(), caller(r), r.URL.Query().Get("status"), page, size)
	reply(w, r, http.StatusOK, httpx.Page[Transfer]{Items: out, Page: page, PageSize: size, Total: total}, err)
}

func (h *Handler) decideWithdrawal(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := param(r, "id")
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		out, err := h.svc.DecideWithdrawal(r.Context(), caller(r), id, approve)
		reply(w, r, http.StatusOK, out, err)
	}
}

func (h *Handler) balance(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.Balance(r.Context(), caller(r).UserID)
	reply(w, r, http.StatusOK, out, err)
}

func (h *Handler) entries(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, total, err := h.svc.Entries(r.Context(), caller(r).UserID, page, size)
	reply(w, r, http.StatusOK, httpx.Page[EntryView]{Items: out, Page: page, PageSize: size, Total: total}, err)
}

func (h *Handler) checkLedger(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.CheckLedger(r.Context())
	reply(w, r, http.StatusOK, out, err)
}

func (h *Handler) createBatch(w http.ResponseWriter, r *http.Request) {
	var in BatchInput
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.CreateBatch(r.Context(), caller(r), in)
	reply(w, r, http.StatusCreated, out, err)
}

func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "xlsx" {
		httpx.Error(w, r, fieldsErr(map[string]string{"format": "must be csv or xlsx"}))
		return
	}
	b, keys, err := h.svc.BatchKeys(r.Context(), caller(r), id)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	now := h.svc.clock()
	rows := [][]string{{"key", "status", "valid_days", "device_id", "activated_at", "expires_at", "created_at"}}
	for _, k := range keys {
		dev, act, exp := "", "", ""
		if k.DeviceID != nil {
			dev = *k.DeviceID
		}
		if k.ActivatedAt != nil {
			act = k.ActivatedAt.UTC().Format(time.RFC3339)
		}
		if k.ExpiresAt != nil {
			exp = k.ExpiresAt.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{k.Key, k.status(now), strconv.Itoa(k.ValidDays), csvSafe(dev), act, exp,
			k.CreatedAt.UTC().Format(time.RFC3339)})
	}
	name := "keys-" + b.ID
	if format == "xlsx" {
		data, err := xlsxOf(rows)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.xlsx"`)
		_, _ = w.Write(data)
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.WriteAll(rows)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	_, _ = w.Write(buf.Bytes())
}

// csvSafe keeps a client-chosen value (a device id) from being read as a formula by a
// spreadsheet.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (h *Handler) keys(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	out, err := h.svc.Keys(r.Context(), caller(r), KeyQuery{ProjectID: q.Get("project_id"), Status: q.Get("status"), Q: q.Get("q"),
		Page: page, PageSize: size})
	reply(w, r, http.StatusOK, out, err)
}

func (h *Handler) unbind(w http.ResponseWriter, r *http.Request) {
	key, err := param(r, "key")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := h.svc.Unbind(r.Context(), caller(r), key)
	reply(w, r, http.StatusOK, out, err)
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.Stats(r.Context(), caller(r))
	reply(w, r, http.StatusOK, out, err)
}

type signedBody struct {
	Key      string `json:"key"`
	DeviceID string `json:"device_id"`
}

// signed serves POST /cards/verify (bind) and /cards/query: the signature is checked over
// the raw body before it is decoded.
func (h *Handler) signed(bind bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSignedBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				httpx.Error(w, r, apperr.ErrTooLarge)
				return
			}
			httpx.Error(w, r, apperr.ErrBadRequest)
			return
		}
		p, err := h.svc.Authenticate(r.Context(), r.Method, r.URL.Path, r.Header, raw)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		var in signedBody
		r.Body = io.NopCloser(bytes.NewReader(raw))
		if err := httpx.Decode(w, r, &in); err != nil {
			httpx.Error(w, r, err)
			return
		}
		if !bind {
			in.DeviceID = ""
		}
		ip := r.RemoteAddr
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		out, err := h.svc.Check(r.Context(), p, in.Key, in.DeviceID, bind, ip)
		reply(w, r, http.StatusOK, out, err)
	}
}
