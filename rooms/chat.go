package rooms

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
)

// PostChat stores a chat message from the caller, who must be in the meeting (ErrNotInRoom),
// and publishes it as a chat event. to, when set, is the participant id of the one recipient
// of a private message; it must be in the meeting too. Every message, public or private, takes
// the meeting's next seq (1, 2, 3, … without gaps). The meeting's chat writer (chatwriter.go),
// on the node that owns the meeting's room (chatroute.go), stores it, in a transaction it may share with other chats of the meeting, before it is
// published or returned; the meeting's chat events are published in seq order.
func (s *Service) PostChat(ctx context.Context, caller authn.Identity, meetingID, text, to string) (ChatView, error) {
	n := utf8.RuneCountInString(text)
	switch {
	case !utf8.ValidString(text) || strings.ContainsRune(text, 0):
		return ChatView{}, apperr.Invalidf(map[string]string{"text": "must be valid UTF-8 text"})
	case strings.TrimSpace(text) == "":
		return ChatView{}, apperr.Invalidf(map[string]string{"text": "required"})
	case n > MaxChatText:
		return ChatView{}, apperr.Invalidf(map[string]string{"text": fmt.Sprintf("must be at most %d characters", MaxChatText)})
	}
	if meetingID == "" {
		return ChatView{}, ErrNotFound
	}
	if owner := s.chatOwner(ctx, meetingID); owner != "" {
		cv, handled, err := s.forwardChat(ctx, owner, caller, meetingID, text, to)
		if handled {
			return cv, err
		}
	}
	return s.submitChat(ctx, caller, meetingID, text, to)
}

// Messages returns up to limit chat messages with seq > afterSeq visible to the caller (public
// ones and private ones sent by or to any of its participants), oldest first. Only someone who
// took part in the meeting, now or before, may read them.
func (s *Service) Messages(ctx context.Context, caller authn.Identity, meetingID string, afterSeq int64, limit int) ([]ChatView, error) {
	if limit <= 0 {
		limit = DefaultChatLimit
	}
	if limit > MaxChatLimit {
		limit = MaxChatLimit
	}
	if afterSeq < 0 {
		afterSeq = 0
	}
	st := s.store.with(ctx)
	if _, err := st.meeting(meetingID); err != nil {
		return nil, err
	}
	ids, err := st.participantIDsOf(meetingID, caller.UserID)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, ErrForbidden.WithMessage("only participants may read the chat")
	}
	msgs, err := st.messages(meetingID, ids, afterSeq, limit, false)
	if err != nil {
		return nil, err
	}
	return chatViews(msgs), nil
}

// MessagesFor is Messages for the signaling layer, which knows the participant: the chat
// visible to that participant's user, e.g. to replay after a resume.
func (s *Service) MessagesFor(ctx context.Context, meetingID, participantID string, afterSeq int64, limit int) ([]ChatView, error) {
	p, err := s.store.with(ctx).participant(meetingID, participantID)
	if err != nil {
		return nil, err
	}
	return s.Messages(ctx, authn.Identity{UserID: p.UserID}, meetingID, afterSeq, limit)
}

// ChatSeq returns the seq of the meeting's last chat message (0 when there is none).
func (s *Service) ChatSeq(ctx context.Context, meetingID string) (int64, error) {
	m, err := s.store.with(ctx).meeting(meetingID)
	if err != nil {
		return 0, err
	}
	return m.ChatSeq, nil
}
