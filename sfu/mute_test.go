package sfu

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/check"
)

// A muted source is held back whatever its publisher sends, the others keep flowing, and
// an unmuted video source resumes with a keyframe request to its publisher.
func TestSetSourceMuted(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	b := newTestClient(t, r, "bob", clientOpts{})
	_, video := publishAV(a)
	var audioID, videoID TrackID
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		infos := a.publishedTracks()
		if len(infos) != 2 {
			return errors.New("not published")
		}
		ai, _ := trackOf(infos, "audio")
		vi, _ := trackOf(infos, "video")
		audioID, videoID = ai.TrackID, vi.TrackID
		for _, id := range []TrackID{audioID, videoID} {
			if rt := b.recvTrack(id); rt == nil || len(rt.packets()) < 10 {
				return fmt.Errorf("%s not flowing yet", id)
			}
		}
		return nil
	})
	count := func(id TrackID) int { return len(b.recvTrack(id).packets()) }
	grows := func(id TrackID) {
		t.Helper()
		n := count(id)
		check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
			if count(id) < n+10 {
				return fmt.Errorf("%s: no new packets", id)
			}
			return nil
		})
	}
	held := func(id TrackID) {
		t.Helper()
		time.Sleep(200 * time.Millisecond) // packets already in flight
		n := count(id)
		time.Sleep(500 * time.Millisecond)
		if m := count(id); m != n {
			t.Fatalf("%s: %d packets forwarded while muted", id, m-n)
		}
	}

	r.SetSourceMuted("alice", SourceMicrophone, true)
	held(audioID)
	grows(videoID)
	r.SetSourceMuted("alice", SourceMicrophone, false)
	grows(audioID)

	r.SetSourceMuted("alice", SourceCamera, true)
	held(videoID)
	plis := video.plis.Load()
	r.SetSourceMuted("alice", SourceCamera, false)
	grows(videoID)
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error {
		if video.plis.Load() <= plis {
			return errors.New("no keyframe request after the unmute")
		}
		return nil
	})

	// A source muted before it is published starts held back; other participants' sources
	// and unknown ids are unaffected.
	r.SetSourceMuted("bob", SourceMicrophone, true)
	r.SetSourceMuted("nobody", SourceCamera, true)
	publishAV(b)
	var bAudioID, bVideoID TrackID
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		infos := b.publishedTracks()
		if len(infos) != 2 {
			return errors.New("bob not published")
		}
		ai, _ := trackOf(infos, "audio")
		vi, _ := trackOf(infos, "video")
		bAudioID, bVideoID = ai.TrackID, vi.TrackID
		if rt := a.recvTrack(bVideoID); rt == nil || len(rt.packets()) < 10 {
			return errors.New("bob's video not flowing yet")
		}
		return nil
	})
	if rt := a.recvTrack(bAudioID); rt != nil && len(rt.packets()) > 0 {
		t.Fatalf("%d packets of a source muted before it was published", len(rt.packets()))
	}
	grows(audioID)
}
