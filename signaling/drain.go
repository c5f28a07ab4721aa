package signaling

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/onstagehq/onstage/rooms"
)

// StartDrain marks the node draining: it keeps its rooms, and Draining reports true so that
// the registry tells placement to put no new room here.
func (h *Hub) StartDrain() { h.relay.draining.Store(true) }

// Draining reports whether StartDrain was called.
func (h *Hub) Draining() bool { return h.relay.draining.Load() }

// WaitRooms returns when no room runs on this node any more (they ended, or moved), or with
// ctx's error when ctx ends first.
func (h *Hub) WaitRooms(ctx context.Context) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		h.mu.Lock()
		n := len(h.rooms)
		h.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// RoomLost stops a room whose lease another node holds now (placement's OnLost): nobody
// leaves, and every socket in it, local or relayed, is asked to reconnect (1012) so that it
// resumes on the owner.
func (h *Hub) RoomLost(meetingID string) {
	h.mu.Lock()
	r := h.rooms[meetingID]
	if r != nil {
		delete(h.rooms, meetingID)
	}
	h.mu.Unlock()
	if r == nil {
		return
	}
	var conns []*conn
	r.mu.Lock()
	for _, m := range r.members {
		m.mu.Lock()
		if m.conn != nil {
			conns = append(conns, m.conn)
		}
		m.mu.Unlock()
	}
	r.mu.Unlock()
	r.shutdown()
	for _, c := range conns {
		c.fail(statusServiceRestart, "the meeting moved to another node")
	}
	h.log.Warn("room lost to another node; its clients reconnect there", "meeting_id", meetingID, "sockets", len(conns))
}

// roomReleased gives up the lease of a room that closed here, unless it was opened again
// meanwhile. Called by room.release.
func (h *Hub) roomReleased(meetingID string) {
	rel, ok := h.p.Placement.(Releaser)
	if !ok || !h.track() {
		return // shutting down: placement releases every lease by itself
	}
	go func() {
		defer h.wg.Done()
		h.mu.Lock()
		live := h.rooms[meetingID] != nil
		h.mu.Unlock()
		if live {
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, 3*time.Second)
		defer cancel()
		rel.Release(ctx, meetingID)
	}()
}

// ---- events while the bus is down ----

// localEvents remembers the events delivered in-process while the bus was down, so that
// their copies, flushed to the bus when it returns, are not delivered twice.
type localEvents struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const localEventTTL = 5 * time.Minute

func eventKey(ev rooms.Event) string {
	k := string(ev.Type) + "|" + ev.MeetingID + "|" + ev.Origin + "|" + strconv.FormatInt(ev.At.UnixNano(), 10) + "|" + ev.ParticipantID
	if cs := ev.ChatViews(); len(cs) > 0 {
		k += "|" + strconv.FormatInt(cs[0].Seq, 10)
	}
	if ev.Participant != nil {
		k += "|" + ev.Participant.ParticipantID
	}
	if ev.Media != nil {
		k += "|" + ev.Media.ParticipantID + ev.Media.Source + strconv.FormatBool(ev.Media.Muted)
	}
	return k
}

func (l *localEvents) add(ev rooms.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.seen == nil {
		l.seen = map[string]time.Time{}
	}
	for k, t := range l.seen {
		if now.Sub(t) > localEventTTL {
			delete(l.seen, k)
		}
	}
	l.seen[eventKey(ev)] = now
}

// take reports whether ev was delivered in-process, and forgets it.
func (l *localEvents) take(ev rooms.Event) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return false
	}
	k := eventKey(ev)
	if _, ok := l.seen[k]; ok {
		delete(l.seen, k)
		return true
	}
	return false
}

// LocalEvent is rooms.Service's in-process OnEvent hook. While the bus is connected it does
// nothing (events arrive through the bus); while it is down, this node's own events reach
// its rooms here, so local chat, joins and media state keep working without NATS.
func (h *Hub) LocalEvent(ev rooms.Event) {
	if h.p.Bus == nil || h.p.Bus.Conn().IsConnected() {
		return
	}
	h.mu.Lock()
	r := h.rooms[ev.MeetingID]
	h.mu.Unlock()
	if r == nil {
		return
	}
	h.local.add(ev)
	r.onEvent(ev)
}

// deliveredLocally reports whether a bus event was already delivered by LocalEvent.
func (h *Hub) deliveredLocally(ev rooms.Event) bool { return h.local.take(ev) }
