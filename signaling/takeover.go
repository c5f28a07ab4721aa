package signaling

import (
	"context"

	"github.com/onstagehq/onstage/rooms"
)

// Taking a room over.
//
// When a room's owner dies, the next join places the room on a survivor, and each client that
// comes back resumes there with its token. A participant whose client never comes back would
// stay in the meeting for good, as this node never saw its socket go. So when this node gets
// a resume for a participant it holds nothing for (the room was served elsewhere, or by this
// node before a restart), every participant the database lists as active in the meeting and
// that this node does not hold gets an orphan member: a placeholder with no socket and no
// media whose reconnect grace starts now. A resume or a join of that participant within the
// grace drops the placeholder and restores the participant as usual; when the grace runs out
// it leaves with reason disconnected, exactly as after a socket drop here. A plain first join
// does none of this: participants that joined over REST only are left alone.

// activeLister is implemented by a Rooms that lists a meeting's active participants without
// a caller check (*rooms.Service does).
type activeLister interface {
	ActiveParticipants(ctx context.Context, meetingID string) ([]rooms.ParticipantView, error)
}

// adoptOrphans starts the reconnect grace of every active participant of the meeting that
// this node does not hold, except resumer, once per room. Called by a resume of a
// participant this node holds nothing for, outside every lock.
func (h *Hub) adoptOrphans(ctx context.Context, r *room, resumer string) {
	al, ok := h.p.Rooms.(activeLister)
	if !ok {
		return
	}
	r.mu.Lock()
	if r.adopted || r.closed {
		r.mu.Unlock()
		return
	}
	r.adopted = true
	r.mu.Unlock()
	ps, err := al.ActiveParticipants(ctx, r.id)
	if err != nil {
		h.log.Warn("takeover: list participants", "meeting_id", r.id, "err", err)
		r.mu.Lock()
		r.adopted = false // the next resume tries again
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	n := 0
	for _, p := range ps {
		if p.ParticipantID == resumer || r.members[p.ParticipantID] != nil || r.byUser[p.UserID] != nil {
			continue
		}
		h.addOrphanLocked(r, p.ParticipantID, p.UserID)
		n++
	}
	if n > 0 {
		h.log.Info("takeover: reconnect grace started for participants of the previous owner",
			"meeting_id", r.id, "participants", n)
	}
}

// addOrphanLocked adds an orphan member and starts its grace. Requires r.mu.
func (h *Hub) addOrphanLocked(r *room, pid, uid string) {
	m := &member{room: r, pid: pid, uid: uid, orphan: true}
	r.members[pid] = m
	r.byUser[uid] = m
	m.mu.Lock()
	h.startGraceLocked(m)
	m.mu.Unlock()
}

// claimOrphanLocked takes the user's orphan member out of the room, its grace stopped, for
// a join of that user; it returns nil when the user has none. Requires r.mu.
func (r *room) claimOrphanLocked(uid string) *member {
	o := r.byUser[uid]
	if o == nil || !o.orphan {
		return nil
	}
	r.removeMemberLocked(o)
	return o
}

// restoreOrphan puts back an orphan a failed join claimed, with a new grace, unless its
// participant is held here again or the room closed meanwhile.
func (h *Hub) restoreOrphan(r *room, o *member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.members[o.pid] != nil || r.byUser[o.uid] != nil {
		return
	}
	h.addOrphanLocked(r, o.pid, o.uid)
}

// dropOrphanLocked removes the orphan member holding pid, if any, for a join that attaches
// that participant; it reports whether pid is now free. Requires r.mu.
func (r *room) dropOrphanLocked(pid string) bool {
	prev := r.members[pid]
	if prev == nil {
		return true
	}
	if !prev.orphan {
		return false
	}
	r.removeMemberLocked(prev)
	return true
}
