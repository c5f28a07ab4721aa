// Package meetings serves the REST routes of the meeting domain (docs/api.md, Meetings). It is
// a thin adapter: each handler decodes the request, calls rooms.Service with the caller's
// identity and encodes the answer. The rules and the authorization live in rooms.
package meetings

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/httpx"
	"github.com/onstagehq/onstage/rooms"
)

// Handler serves /meetings… relative to /api/v1.
type Handler struct {
	svc *rooms.Service
	mw  authn.Middleware
}

// NewHandler returns the meetings REST handler.
func NewHandler(svc *rooms.Service, mw authn.Middleware) *Handler {
	return &Handler{svc: svc, mw: mw}
}

// Mount adds the routes to r, which the caller has wrapped in mw.Authenticate.
func (h *Handler) Mount(r chi.Router) {
	r.Route("/meetings", func(r chi.Router) {
		r.Use(h.mw.Require())
		r.With(h.mw.Require(authn.Members...)).Post("/", h.create)
		r.Get("/", h.list)
		r.Get("/code/{code}", h.byCode)
		r.Route("/{id}", func(r chi.Router) {
			r.Get("/", h.get)
			r.Patch("/", h.update)
			r.Post("/join", h.join)
			r.Post("/leave", h.leave)
			r.Post("/end", h.end)
			r.Get("/participants", h.participants)
			r.Post("/participants/{user_id}/role", h.setRole)
			r.Post("/participants/{user_id}/kick", h.kick)
			r.Post("/transfer-host", h.transferHost)
			r.Get("/messages", h.messages)
			r.Post("/messages", h.postMessage)
			h.mountGiveaways(r)
		})
	})
}

func caller(r *http.Request) authn.Identity {
	id, _ := authn.FromContext(r.Context())
	return id
}

// pathID returns a path parameter, or ErrNotFound when it cannot be an id of ours.
func pathID(r *http.Request, name string) (string, error) {
	if v, ok := httpx.PathParam(r, name); ok {
		return v, nil
	}
	return "", rooms.ErrNotFound
}

// decodeOptional decodes a JSON body into dst when there is one; an empty body is no input.
func decodeOptional(w http.ResponseWriter, r *http.Request, dst any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxBody))
	if err != nil {
		if _, ok := err.(*http.MaxBytesError); ok {
			return apperr.ErrTooLarge
		}
		return apperr.ErrBadRequest.WithMessage("could not read the body")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return httpx.Decode(w, r, dst)
}

func parseTime(field, raw string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return time.Time{}, apperr.Invalidf(map[string]string{field: "must be an RFC 3339 time"})
	}
	return t, nil
}

type createRequest struct {
	Title            string `json:"title"`
	Description      string `json:"description"`
	StartTime        string `json:"start_time"`
	DurationMinutes  int    `json:"duration_minutes"`
	Password         string `json:"password"`
	MaxParticipants  *int   `json:"max_participants"`
	IsPublic         bool   `json:"is_public"`
	RecordingEnabled bool   `json:"recording_enabled"`
	CardProjectID    string `json:"card_project_id"`
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	in := rooms.CreateInput{Title: req.Title, Description: req.Description, DurationMinutes: req.DurationMinutes,
		Password: req.Password, MaxParticipants: req.MaxParticipants, IsPublic: req.IsPublic, RecordingEnabled: req.RecordingEnabled,
		CardProjectID: req.CardProjectID}
	if req.StartTime != "" {
		t, err := parseTime("start_time", req.StartTime)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		in.StartTime = t
	}
	m, err := h.svc.Create(r.Context(), caller(r), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, m)
}

func (h *Handler) byCode(w http.ResponseWriter, r *http.Request) {
	code, err := pathID(r, "code")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	m, err := h.svc.ByCode(r.Context(), code)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, m)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err == nil {
		var m rooms.MeetingView
		if m, err = h.svc.Get(r.Context(), caller(r), id); err == nil {
			httpx.JSON(w, http.StatusOK, m)
			return
		}
	}
	httpx.Error(w, r, err)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	f, err := listFilter(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	page, err := h.svc.List(r.Context(), caller(r), f)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, httpx.Page[rooms.MeetingView]{Items: page.Items, Page: page.Page, PageSize: page.PageSize, Total: page.Total})
}

func listFilter(r *http.Request) (rooms.ListFilter, error) {
	var (
		f   rooms.ListFilter
		err error
	)
	q := r.URL.Query()
	if f.Page, err = httpx.QueryInt(r, "page", 1, 1, math.MaxInt32/rooms.MaxPageSize); err != nil {
		return f, err
	}
	if f.PageSize, err = httpx.QueryInt(r, "page_size", rooms.DefaultPageSize, 1, rooms.MaxPageSize); err != nil {
		return f, err
	}
	f.Status = rooms.Status(q.Get("status"))
	f.Keyword = q.Get("keyword")
	if !utf8.ValidString(f.Keyword) || strings.ContainsRune(f.Keyword, 0) || utf8.RuneCountInString(f.Keyword) > 200 {
		return f, apperr.Invalidf(map[string]string{"keyword": "must be text of at most 200 characters"})
	}
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if raw := q.Get(p.name); raw != "" {
			t, err := parseTime(p.name, raw)
			if err != nil {
				return f, err
			}
			*p.dst = &t
		}
	}
	var onlyJoined *bool
	if onlyJoined, err = httpx.QueryBool(r, "only_joined"); err != nil {
		return f, err
	}
	f.OnlyJoined = onlyJoined != nil && *onlyJoined
	if f.HasPassword, err = httpx.QueryBool(r, "has_password"); err != nil {
		return f, err
	}
	if f.Recording, err = httpx.QueryBool(r, "recording"); err != nil {
		return f, err
	}
	return f, nil
}

type updateRequest struct {
	Title            *string `json:"title"`
	Description      *string `json:"description"`
	StartTime        *string `json:"start_time"`
	DurationMinutes  *int    `json:"duration_minutes"`
	Password         *string `json:"password"`
	MaxParticipants  *int    `json:"max_participants"`
	IsPublic         *bool   `json:"is_public"`
	RecordingEnabled *bool   `json:"recording_enabled"`
	Status           *string `json:"status"`
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req updateRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	in := rooms.UpdateInput{Title: req.Title, Description: req.Description, DurationMinutes: req.DurationMinutes,
		Password: req.Password, MaxParticipants: req.MaxParticipants, IsPublic: req.IsPublic, RecordingEnabled: req.RecordingEnabled}
	if req.StartTime != nil {
		t, err := parseTime("start_time", *req.StartTime)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		in.StartTime = &t
	}
	if req.Status != nil {
		st := rooms.Status(*req.Status)
		in.Status = &st
	}
	m, err := h.svc.Update(r.Context(), caller(r), id, in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, m)
}

type joinRequest struct {
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
	CardKey     string `json:"card_key"`
	DeviceID    string `json:"device_id"`
}

func (h *Handler) join(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req joinRequest
	if err := decodeOptional(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	res, err := h.svc.Join(r.Context(), caller(r), id, rooms.JoinInput{Password: req.Password, DisplayName: req.DisplayName,
		CardKey: req.CardKey, DeviceID: req.DeviceID})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, res)
}

func (h *Handler) leave(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err == nil {
		if err = h.svc.Leave(r.Context(), caller(r), id); err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	httpx.Error(w, r, err)
}

func (h *Handler) end(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err == nil {
		var m rooms.MeetingView
		if m, err = h.svc.End(r.Context(), caller(r), id); err == nil {
			httpx.JSON(w, http.StatusOK, m)
			return
		}
	}
	httpx.Error(w, r, err)
}

type items[T any] struct {
	Items []T `json:"items"`
}

func (h *Handler) participants(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err == nil {
		var ps []rooms.ParticipantView
		if ps, err = h.svc.Participants(r.Context(), caller(r), id); err == nil {
			httpx.JSON(w, http.StatusOK, items[rooms.ParticipantView]{Items: ps})
			return
		}
	}
	httpx.Error(w, r, err)
}

// meetingAndUser reads the {id} and {user_id} path parameters.
func meetingAndUser(r *http.Request) (string, string, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return "", "", err
	}
	uid, err := pathID(r, "user_id")
	if err != nil {
		return "", "", rooms.ErrParticipantNotFound
	}
	return id, uid, nil
}

type roleRequest struct {
	Role string `json:"role"`
}

func (h *Handler) setRole(w http.ResponseWriter, r *http.Request) {
	id, uid, err := meetingAndUser(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req roleRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	p, err := h.svc.SetRole(r.Context(), caller(r), id, rooms.ByUser(uid), rooms.Role(req.Role))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (h *Handler) kick(w http.ResponseWriter, r *http.Request) {
	id, uid, err := meetingAndUser(r)
	if err == nil {
		if err = h.svc.Kick(r.Context(), caller(r), id, rooms.ByUser(uid)); err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	httpx.Error(w, r, err)
}

type transferRequest struct {
	UserID string `json:"user_id"`
}

func (h *Handler) transferHost(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req transferRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if req.UserID == "" || len(req.UserID) > 64 || !utf8.ValidString(req.UserID) || strings.ContainsRune(req.UserID, 0) {
		httpx.Error(w, r, apperr.Invalidf(map[string]string{"user_id": "required"}))
		return
	}
	p, err := h.svc.TransferHost(r.Context(), caller(r), id, rooms.ByUser(req.UserID))
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (h *Handler) messages(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	after, err := httpx.QueryInt(r, "after_seq", 0, 0, math.MaxInt)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	limit, err := httpx.QueryInt(r, "limit", rooms.DefaultChatLimit, 1, rooms.MaxChatLimit)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	ms, err := h.svc.Messages(r.Context(), caller(r), id, int64(after), limit)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, items[rooms.ChatView]{Items: ms})
}

type chatRequest struct {
	Text string `json:"text"`
	To   string `json:"to"`
}

func (h *Handler) postMessage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req chatRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if len(req.To) > 64 || !utf8.ValidString(req.To) || strings.ContainsRune(req.To, 0) {
		httpx.Error(w, r, apperr.Invalidf(map[string]string{"to": "must be a participant id"}))
		return
	}
	c, err := h.svc.PostChat(r.Context(), caller(r), id, req.Text, req.To)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, c)
}
