package sfu

// SetSourceMuted holds back (muted) or forwards again the tracks a participant publishes
// from src, whatever the client keeps sending: a mute by a moderator must not depend on the
// muted client's cooperation. The state outlives the tracks: a track of src published later
// by id starts held back until the source is unmuted. Unmuting a video source asks its
// publisher for a keyframe, so subscribers resume with a picture at once. The Router still
// knows no users; who may mute or unmute is the caller's business.
func (r *Router) SetSourceMuted(id ParticipantID, src Source, muted bool) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	srcs := r.mutes[id]
	switch {
	case muted && !srcs[src]:
		if r.mutes == nil {
			r.mutes = map[ParticipantID]map[Source]bool{}
		}
		if srcs == nil {
			srcs = map[Source]bool{}
			r.mutes[id] = srcs
		}
		srcs[src] = true
	case !muted && srcs[src]:
		delete(srcs, src)
		if len(srcs) == 0 {
			delete(r.mutes, id)
		}
	}
	var resumed []*publishedTrack
	for _, t := range r.tracks {
		if t.owner.id == id && t.info.Source == src && t.muted.Swap(muted) && !muted {
			resumed = append(resumed, t)
		}
	}
	r.mu.Unlock()
	for _, t := range resumed {
		for i := range t.layers {
			if t.layers[i].started.Load() {
				t.requestKeyframe(i)
			}
		}
	}
}

// applyMuteLocked starts a track being published held back when its source is muted.
// Requires r.mu.
func (r *Router) applyMuteLocked(t *publishedTrack) {
	t.muted.Store(r.mutes[t.owner.id][t.info.Source])
}
