package sfu

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// RouterParams configures a Router.
type RouterParams struct {
	// ID names the router in logs.
	ID string
	// OnSpeakers receives the current speakers, loudest first, at most four
	// times a second and only when the list or a level changed. It is
	// called from the router's housekeeping goroutine with no lock held.
	OnSpeakers func([]Speaker)
}

// Router is the media of one room: its participants and their published
// tracks. Every participant is subscribed to every track the others publish.
//
// Lock order: Router.mu before Participant.mu; the Router never takes its
// own lock while holding a participant's. Callbacks run without Router.mu.
type Router struct {
	id     string
	engine *Engine
	params RouterParams
	log    *slog.Logger

	mu           sync.RWMutex // guards the fields below
	closed       bool
	participants map[ParticipantID]*Participant
	tracks       []*publishedTrack // in publish order

	mutes map[ParticipantID]map[Source]bool // guarded by mu: sources held back (mute.go)

	// Counters of down-tracks that no longer exist, so Stats keeps growing
	// monotonically.
	retiredPackets atomic.Uint64
	retiredBytes   atomic.Uint64
	retiredRetx    atomic.Uint64
	retiredDropped atomic.Uint64 // fan-out drops of unpublished tracks
	retiredStale   atomic.Uint64

	speakers *speakerDetector // housekeeping goroutine only
	quit     chan struct{}
	wg       sync.WaitGroup
}

func newRouter(e *Engine, p RouterParams) *Router {
	r := &Router{
		id:           p.ID,
		engine:       e,
		params:       p,
		log:          e.log.With("router", p.ID),
		participants: map[ParticipantID]*Participant{},
		speakers:     newSpeakerDetector(),
		quit:         make(chan struct{}),
	}
	r.wg.Add(1)
	go r.housekeeping()
	return r
}

// AddParticipant creates a participant with its two peer connections and
// subscribes it to every track already published.
func (r *Router) AddParticipant(id ParticipantID, params ParticipantParams) (*Participant, error) {
	r.mu.RLock()
	closed, exists := r.closed, r.participants[id] != nil
	r.mu.RUnlock()
	if closed {
		return nil, ErrRouterClosed
	}
	if exists {
		return nil, ErrParticipantExists
	}
	p, err := newParticipant(r, id, params)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	switch {
	case r.closed:
		err = ErrRouterClosed
	case r.participants[id] != nil:
		err = ErrParticipantExists
	default:
		r.participants[id] = p
	}
	tracks := append([]*publishedTrack(nil), r.tracks...)
	r.mu.Unlock()
	if err != nil {
		p.close()
		return nil, err
	}
	for _, t := range tracks {
		p.addDownTrack(t)
	}
	return p, nil
}

// RemoveParticipant unpublishes the participant's tracks (its
// OnTrackUnpublished runs for each before this returns), closes its peer
// connections and waits for its goroutines.
func (r *Router) RemoveParticipant(id ParticipantID) {
	r.mu.Lock()
	p := r.participants[id]
	delete(r.participants, id)
	delete(r.mutes, id)
	r.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// ReplaceParticipant gives participant id new peer connections, for a client
// that lost its own (a reloaded page): the old participant is closed as by
// RemoveParticipant (its tracks are unpublished, OnTrackUnpublished running
// for each before this returns) and a new one with the same id and params
// takes its place. The new one is subscribed to every published track with
// the old layer and pause preferences, and sends a fresh subscriber offer.
// It returns ErrParticipantClosed when id is not in the router.
func (r *Router) ReplaceParticipant(id ParticipantID, params ParticipantParams) (*Participant, error) {
	r.mu.RLock()
	closed, old := r.closed, r.participants[id]
	r.mu.RUnlock()
	if closed {
		return nil, ErrRouterClosed
	}
	if old == nil {
		return nil, ErrParticipantClosed
	}
	prefs := old.subscriptionPrefs()
	p, err := newParticipant(r, id, params)
	if err != nil {
		return nil, err
	}
	p.fresh = true
	r.mu.Lock()
	switch {
	case r.closed:
		err = ErrRouterClosed
	case r.participants[id] != old:
		err = ErrParticipantClosed
	default:
		r.participants[id] = p
	}
	r.mu.Unlock()
	if err != nil {
		p.close()
		return nil, err
	}
	old.close()
	r.mu.RLock()
	tracks := append([]*publishedTrack(nil), r.tracks...)
	r.mu.RUnlock()
	for _, t := range tracks {
		if t.owner != old {
			p.addDownTrack(t)
		}
	}
	p.applyPrefs(prefs)
	return p, nil
}

func (r *Router) removeParticipant(p *Participant) {
	r.mu.Lock()
	if r.participants[p.id] == p {
		delete(r.participants, p.id)
	}
	r.mu.Unlock()
	p.close()
}

// Participant returns the participant with id, or nil.
func (r *Router) Participant(id ParticipantID) *Participant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.participants[id]
}

// Tracks lists the published tracks in publish order.
func (r *Router) Tracks() []TrackInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]TrackInfo, 0, len(r.tracks))
	for _, t := range r.tracks {
		info := t.info
		info.Layers = append([]string(nil), t.info.Layers...)
		out = append(out, info)
	}
	return out
}

// Stats returns the router's counters.
func (r *Router) Stats() RouterStats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := RouterStats{
		Participants:     len(r.participants),
		Tracks:           len(r.tracks),
		ForwardedPackets: r.retiredPackets.Load(),
		ForwardedBytes:   r.retiredBytes.Load(),
		Retransmitted:    r.retiredRetx.Load(),
		QueueDropped:     r.retiredDropped.Load(),
		StaleDropped:     r.retiredStale.Load(),
	}
	for _, p := range r.participants {
		n, pk, b, rx := p.downTrackStats()
		st.DownTracks += n
		st.ForwardedPackets += pk
		st.ForwardedBytes += b
		st.Retransmitted += rx
	}
	for _, t := range r.tracks {
		st.QueueDropped += t.fan.dropped.Load()
		st.StaleDropped += t.fan.stale.Load()
	}
	return st
}

// Close removes every participant and stops the router's goroutines.
func (r *Router) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	parts := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		parts = append(parts, p)
	}
	r.participants = map[ParticipantID]*Participant{}
	r.mu.Unlock()
	for _, p := range parts {
		p.close()
	}
	close(r.quit)
	r.wg.Wait()
	r.engine.forgetRouter(r)
}

// publish registers a track, subscribes every other participant to it and
// then tells its owner.
func (r *Router) publish(t *publishedTrack) {
	r.mu.Lock()
	if r.closed || t.isEnded() {
		r.mu.Unlock()
		return
	}
	r.applyMuteLocked(t)
	r.tracks = append(r.tracks, t)
	others := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		if p != t.owner {
			others = append(others, p)
		}
	}
	r.mu.Unlock()
	for _, p := range others {
		p.addDownTrack(t)
	}
	t.notify(true)
}

// unpublish forgets a track, removes it from every subscriber and tells its
// owner.
func (r *Router) unpublish(t *publishedTrack) {
	r.mu.Lock()
	found := false
	for i, x := range r.tracks {
		if x == t {
			r.tracks = append(r.tracks[:i], r.tracks[i+1:]...)
			found = true
			break
		}
	}
	parts := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		parts = append(parts, p)
	}
	if found {
		r.retiredDropped.Add(t.fan.dropped.Load())
		r.retiredStale.Add(t.fan.stale.Load())
	}
	r.mu.Unlock()
	if !found {
		return
	}
	for _, p := range parts {
		p.removeDownTrack(t.info.TrackID)
	}
	t.notify(false)
}

// retire folds a dropped down-track's counters into the router totals.
func (r *Router) retire(d *DownTrack) {
	r.retiredPackets.Add(d.packets.Load())
	r.retiredBytes.Add(d.bytes.Load())
	r.retiredRetx.Add(d.retransmits.Load())
}

// housekeeping runs speaker detection every speakerInterval, samples layer
// bitrates every other tick, and drives every participant's simulcast
// allocation (allocInterval) and sender reports (senderReportInterval): one
// ticker per room rather than two per participant. It ends with Close.
func (r *Router) housekeeping() {
	defer r.wg.Done()
	tick := time.NewTicker(speakerInterval)
	defer tick.Stop()
	const (
		allocEvery = int(allocInterval / speakerInterval)
		srEvery    = int(senderReportInterval / speakerInterval)
	)
	var parts []*Participant
	for n := 0; ; n++ {
		select {
		case <-r.quit:
			return
		case now := <-tick.C:
			r.mu.RLock()
			tracks := append([]*publishedTrack(nil), r.tracks...)
			alloc, sr := n%allocEvery == 0, n%srEvery == srEvery/2
			if alloc || sr {
				parts = parts[:0]
				for _, p := range r.participants {
					parts = append(parts, p)
				}
			}
			r.mu.RUnlock()
			samples := map[ParticipantID]float64{}
			for _, t := range tracks {
				if n%2 == 0 {
					t.sampleRates(now)
				}
				if lvl, ok := t.level.take(); ok && lvl >= samples[t.owner.id] {
					samples[t.owner.id] = lvl
				}
			}
			if list, changed := r.speakers.tick(now, samples); changed && r.params.OnSpeakers != nil {
				r.params.OnSpeakers(list)
			}
			// Allocation follows the rate sample of the same tick; sender
			// reports fall on other ticks than most allocations.
			if alloc {
				for _, p := range parts {
					p.allocateLayers()
				}
			}
			if sr {
				for _, p := range parts {
					p.sendSenderReports()
				}
			}
			if alloc || sr {
				clear(parts) // hold no closed participant until the next pass
			}
		}
	}
}
