package meetings

import (
	"math"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/httpx"
	"github.com/onstagehq/onstage/rooms"
)

// mountGiveaways adds the giveaway routes under /meetings/{id} (docs/api.md, Giveaways).
func (h *Handler) mountGiveaways(r chi.Router) {
	r.Route("/giveaways", func(r chi.Router) {
		r.Post("/", h.openGiveaway)
		r.Get("/", h.giveaways)
		r.Get("/stats", h.giveawayStats)
		r.Route("/{gid}", func(r chi.Router) {
			r.Get("/", h.giveaway)
			r.Post("/entries", h.enterGiveaway)
			r.Get("/entries", h.giveawayEntries)
			r.Post("/close", h.closeGiveaway)
			r.Post("/draw", h.drawGiveaway)
			r.Post("/reroll", h.rerollGiveaway)
			r.Get("/proof", h.giveawayProof)
		})
	})
}

// meetingAndGiveaway reads the {id} and {gid} path parameters.
func meetingAndGiveaway(r *http.Request) (string, string, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return "", "", err
	}
	gid, err := pathID(r, "gid")
	if err != nil {
		return "", "", rooms.ErrGiveawayNotFound
	}
	return id, gid, nil
}

type openGiveawayRequest struct {
	Title        string       `json:"title"`
	Prize        string       `json:"prize"`
	Winners      int          `json:"winners"`
	EntrySeconds int          `json:"entry_seconds"`
	Bonus        *rooms.Bonus `json:"bonus"`
}

func (h *Handler) openGiveaway(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req openGiveawayRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	g, err := h.svc.OpenGiveaway(r.Context(), caller(r), id, rooms.OpenGiveawayInput{Title: req.Title, Prize: req.Prize,
		Winners: req.Winners, EntrySeconds: req.EntrySeconds, Bonus: req.Bonus})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, g)
}

func (h *Handler) giveaways(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err == nil {
		var gs []rooms.GiveawayView
		if gs, err = h.svc.Giveaways(r.Context(), caller(r), id); err == nil {
			httpx.JSON(w, http.StatusOK, items[rooms.GiveawayView]{Items: gs})
			return
		}
	}
	httpx.Error(w, r, err)
}

func (h *Handler) giveawayStats(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err == nil {
		var st rooms.GiveawayStats
		if st, err = h.svc.GiveawayStatistics(r.Context(), caller(r), id); err == nil {
			httpx.JSON(w, http.StatusOK, st)
			return
		}
	}
	httpx.Error(w, r, err)
}

func (h *Handler) giveaway(w http.ResponseWriter, r *http.Request) {
	id, gid, err := meetingAndGiveaway(r)
	if err == nil {
		var g rooms.GiveawayView
		if g, err = h.svc.Giveaway(r.Context(), caller(r), id, gid); err == nil {
			httpx.JSON(w, http.StatusOK, g)
			return
		}
	}
	httpx.Error(w, r, err)
}

type enterRequest struct {
	Contact string `json:"contact"`
}

func (h *Handler) enterGiveaway(w http.ResponseWriter, r *http.Request) {
	id, gid, err := meetingAndGiveaway(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req enterRequest
	if err := decodeOptional(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	e, err := h.svc.EnterGiveaway(r.Context(), caller(r), id, gid, rooms.EnterInput{Contact: req.Contact, Source: rooms.SourceREST})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, e)
}

func (h *Handler) giveawayEntries(w http.ResponseWriter, r *http.Request) {
	id, gid, err := meetingAndGiveaway(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	page, err := httpx.QueryInt(r, "page", 1, 1, math.MaxInt32/rooms.MaxEntryPage)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	size, err := httpx.QueryInt(r, "size", rooms.DefaultEntryPage, 1, rooms.MaxEntryPage)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	p, err := h.svc.GiveawayEntries(r.Context(), caller(r), id, gid, page, size)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (h *Handler) closeGiveaway(w http.ResponseWriter, r *http.Request) {
	id, gid, err := meetingAndGiveaway(r)
	if err == nil {
		var g rooms.GiveawayView
		if g, err = h.svc.CloseGiveaway(r.Context(), caller(r), id, gid); err == nil {
			httpx.JSON(w, http.StatusOK, g)
			return
		}
	}
	httpx.Error(w, r, err)
}

func (h *Handler) drawGiveaway(w http.ResponseWriter, r *http.Request) {
	id, gid, err := meetingAndGiveaway(r)
	if err == nil {
		var d rooms.DrawView
		if d, err = h.svc.DrawGiveaway(r.Context(), caller(r), id, gid); err == nil {
			httpx.JSON(w, http.StatusOK, d)
			return
		}
	}
	httpx.Error(w, r, err)
}

type rerollRequest struct {
	Reason  string `json:"reason"`
	Replace int64  `json:"replace"`
}

func (h *Handler) rerollGiveaway(w http.ResponseWriter, r *http.Request) {
	id, gid, err := meetingAndGiveaway(r)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	var req rerollRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	d, err := h.svc.RerollGiveaway(r.Context(), caller(r), id, gid, rooms.RerollInput{Reason: req.Reason, Replace: req.Replace})
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, d)
}

func (h *Handler) giveawayProof(w http.ResponseWriter, r *http.Request) {
	id, gid, err := meetingAndGiveaway(r)
	if err == nil {
		var p rooms.GiveawayProof
		if p, err = h.svc.GiveawayProof(r.Context(), caller(r), id, gid); err == nil {
			httpx.JSON(w, http.StatusOK, p)
			return
		}
	}
	httpx.Error(w, r, err)
}
