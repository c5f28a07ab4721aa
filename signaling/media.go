package signaling

import (
	"context"
	"sync"
	"time"

	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/sfu"
)

// mediaCallTimeout bounds one call into the domain made for the media plane.
const mediaCallTimeout = 10 * time.Second

// mediaKey is one source of one participant.
type mediaKey struct {
	pid sfu.ParticipantID
	src sfu.Source
}

// mediaSync keeps the domain's media state and the room's router in agreement:
//   - what the router publishes becomes the domain's "published" (rooms.Service.SetPublished),
//     so a participant's media flags are true for what it publishes and has not muted;
//   - every mute or unmute (a media_state event) is enforced by the router
//     (sfu.Router.SetSourceMuted), so a muted client is not heard whatever it sends.
//
// The SFU reports publications from its own goroutines, under its locks: they are only marked
// here, and one goroutine per room (owned by the hub) reports the marked sources, reading
// what is published when it gets to them. The marks are a set, so the work is bounded by the
// room's sources however fast tracks come and go.
type mediaSync struct {
	mu      sync.Mutex // guards the fields below; never held with another lock
	dirty   map[mediaKey]struct{}
	running bool
	// mutes counts the mutes and unmutes applied from events: a mute read from the domain
	// is applied only if no event came meanwhile, as the event is newer.
	mutes uint64
}

// mediaPublicationChanged marks a source whose publication changed. It never blocks. Called
// with no lock held, after r.tracks was updated.
func (r *room) mediaPublicationChanged(info sfu.TrackInfo) {
	s := &r.media
	s.mu.Lock()
	if s.dirty == nil {
		s.dirty = map[mediaKey]struct{}{}
	}
	s.dirty[mediaKey{info.ParticipantID, info.Source}] = struct{}{}
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if !start {
		return
	}
	if !r.hub.track() {
		s.mu.Lock()
		s.running = false // shutting down: nothing is reported any more
		s.mu.Unlock()
		return
	}
	go r.syncMedia()
}

// syncMedia reports the marked sources to the domain until none is left.
func (r *room) syncMedia() {
	defer r.hub.wg.Done()
	s := &r.media
	for {
		s.mu.Lock()
		keys, gen := s.dirty, s.mutes
		s.dirty = nil
		if len(keys) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		for k := range keys {
			published, closed := r.publishes(k)
			if closed {
				// The media left this node with the room: the participants left, or they
				// publish again wherever the room went, which reports it from there.
				continue
			}
			ctx, cancel := context.WithTimeout(r.hub.ctx, mediaCallTimeout)
			muted, err := r.hub.p.Rooms.SetPublished(ctx, r.id, string(k.pid), string(k.src), published)
			cancel()
			if err != nil {
				if pe, internal := toProtocol(err); internal || pe.Code == CodeInternal {
					r.hub.log.Warn("report publication", "meeting_id", r.id, "participant_id", k.pid, "err", err)
				}
				continue
			}
			if !published || !muted || r.router == nil {
				continue
			}
			// Muted before it was published, possibly on another node (this router may not
			// have seen the mute): held back from the start.
			s.mu.Lock()
			fresh := s.mutes == gen
			s.mu.Unlock()
			if fresh {
				r.router.SetSourceMuted(k.pid, k.src, true)
			}
		}
	}
}

// publishes reports whether the participant publishes a track of the source here, and
// whether the room is closed.
func (r *room) publishes(k mediaKey) (published, closed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tracks {
		if t.ParticipantID == k.pid && t.Source == k.src {
			return true, r.closed
		}
	}
	return false, r.closed
}

// applyMute enforces a mute or unmute (a media_state event that is no publication) in the
// room's router. The domain decided who may: a moderator mutes, only the owner unmutes.
func (r *room) applyMute(ev *rooms.Event) {
	if ev.Type != rooms.EventMediaState || ev.Media == nil || ev.Media.Publication || r.router == nil {
		return
	}
	r.media.mu.Lock()
	r.media.mutes++
	r.media.mu.Unlock()
	r.router.SetSourceMuted(sfu.ParticipantID(ev.Media.ParticipantID), sfu.Source(ev.Media.Source), ev.Media.Muted)
}
