package rooms

import (
	"context"
	"fmt"

	"github.com/onstagehq/onstage/internal/apperr"
)

// ValidSource reports whether source names a media source. It is the only check of a
// source name: the signaling layer asks it too.
func ValidSource(source string) bool {
	return source == SourceMicrophone || source == SourceCamera || source == SourceScreen
}

var errBadSource = apperr.Invalidf(map[string]string{"source": "must be microphone, camera or screen"})

// sourceState points at one source's columns of a participant.
type sourceState struct {
	on, published, muted *bool
}

// source returns the columns of src; src must be valid.
func (p *Participant) source(src string) sourceState {
	switch src {
	case SourceMicrophone:
		return sourceState{&p.Microphone, &p.MicrophonePublished, &p.MicrophoneMuted}
	case SourceCamera:
		return sourceState{&p.Camera, &p.CameraPublished, &p.CameraMuted}
	}
	return sourceState{&p.Screen, &p.ScreenPublished, &p.ScreenMuted}
}

// derive applies the contract's rule, the one place it is written: a source is shown on
// (MediaView true) when it is published and not muted. It reports whether that changed.
func (s sourceState) derive() bool {
	was := *s.on
	*s.on = *s.published && !*s.muted
	return was != *s.on
}

// columns are the stored fields of one source.
func (s sourceState) columns(src string) map[string]any {
	return map[string]any{src: *s.on, src + "_published": *s.published, src + "_muted": *s.muted}
}

// SetPublished records that the participant now publishes a track of source, or no longer
// does (the signaling layer tells it what the media server reports). When the shown state
// changes, media_state is published with muted set to its opposite and no By. It returns
// whether the source is muted, so that the media server can hold back a source that was
// muted before it was published. A participant that has left is left as it is.
func (s *Service) SetPublished(ctx context.Context, meetingID, participantID, source string, published bool) (muted bool, err error) {
	if !ValidSource(source) {
		return false, errBadSource
	}
	var evs events
	err = s.store.Tx(ctx, func(tx *Store) error {
		evs, muted = nil, false
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		p, err := tx.participant(m.ID, participantID)
		if err != nil {
			return err
		}
		st := p.source(source)
		muted = *st.muted
		if !p.Active() || *st.published == published {
			return nil
		}
		*st.published = published
		changed := st.derive()
		if err := tx.setMedia(p.ID, st.columns(source)); err != nil {
			return fmt.Errorf("set media: %w", err)
		}
		if changed {
			ev := s.event(EventMediaState, m.ID)
			ev.Media = &MediaChange{ParticipantID: p.ID, Source: source, Muted: !*st.on, Publication: true}
			evs = events{ev}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	s.publish(ctx, evs)
	return muted, nil
}
