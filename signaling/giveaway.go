package signaling

import (
	"context"
	"errors"
	"strings"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/rooms"
)

// Giveaway messages (docs/protocol.md, Giveaways). Client → server:
const TypeGiveawayEnter = "giveaway_enter"

// Server → client:
const (
	TypeGiveawayOpened  = "giveaway_opened"
	TypeGiveawayClosed  = "giveaway_closed"
	TypeGiveawayWinners = "giveaway_winners"
)

// The error codes of giveaway_enter, besides the general ones.
const (
	// CodeAlreadyEntered is a second entry by the same user.
	CodeAlreadyEntered = "already_entered"
	// CodeGiveawayClosed is an entry after the window closed.
	CodeGiveawayClosed = "giveaway_closed"
)

// GiveawayEnterData is giveaway_enter's data.
type GiveawayEnterData struct {
	GiveawayID string `json:"giveaway_id"`
	Contact    string `json:"contact,omitempty"`
}

// GiveawayData is the data of giveaway_opened and giveaway_closed: the giveaway as REST
// shows it (giveaway_closed carries its entry_list_hash).
type GiveawayData struct {
	Giveaway rooms.GiveawayView `json:"giveaway"`
}

// giveawayRooms is what giveaway_enter needs of the meeting domain; *rooms.Service has it.
type giveawayRooms interface {
	EnterGiveaway(ctx context.Context, caller authn.Identity, meetingID, giveawayID string, in rooms.EnterInput) (rooms.EntryView, error)
}

// handleGiveawayEnter enters the member's user in a giveaway of its meeting. The ack's data
// is the entry (its entry_number included); a second entry is the error already_entered.
func (h *Hub) handleGiveawayEnter(ctx context.Context, c *conn, m *member, env Envelope) (any, error) {
	var d GiveawayEnterData
	if err := decodeData(env.Data, &d); err != nil {
		return nil, err
	}
	d.GiveawayID = strings.TrimSpace(d.GiveawayID)
	if d.GiveawayID == "" || len(d.GiveawayID) > 64 {
		return nil, badRequest("giveaway_id is required")
	}
	gr, ok := h.p.Rooms.(giveawayRooms)
	if !ok {
		return nil, badRequest("giveaways are not available")
	}
	e, err := gr.EnterGiveaway(ctx, c.who, m.room.id, d.GiveawayID, rooms.EnterInput{Contact: d.Contact, Source: rooms.SourceWebSocket})
	switch {
	case errors.Is(err, rooms.ErrAlreadyEntered):
		return nil, newError(CodeAlreadyEntered, "you have entered this giveaway already")
	case errors.Is(err, rooms.ErrEntriesClosed):
		return nil, newError(CodeGiveawayClosed, "entries to this giveaway are closed")
	}
	return e, err
}

// giveawayMessage maps a giveaway event to its message; every member gets the same one.
func giveawayMessage(ev *rooms.Event) (string, any, bool) {
	switch {
	case ev.Type == rooms.EventGiveawayOpened && ev.Giveaway != nil:
		return TypeGiveawayOpened, GiveawayData{Giveaway: *ev.Giveaway}, true
	case ev.Type == rooms.EventGiveawayClosed && ev.Giveaway != nil:
		return TypeGiveawayClosed, GiveawayData{Giveaway: *ev.Giveaway}, true
	case ev.Type == rooms.EventGiveawayWinners && ev.Draw != nil:
		return TypeGiveawayWinners, ev.Draw, true
	}
	return "", nil, false
}
