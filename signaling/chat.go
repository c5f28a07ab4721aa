package signaling

import "context"

// chatSeqReader is implemented by a Rooms that reads a meeting's last chat seq
// (*rooms.Service does).
type chatSeqReader interface {
	ChatSeq(ctx context.Context, meetingID string) (int64, error)
}

// clampLastSeq bounds a resuming client's last_seq by the meeting's last chat seq. A socket
// skips chats at or below the last seq it has (member.chatSeq), so a client claiming chats
// that do not exist yet would otherwise miss them when they come.
func (h *Hub) clampLastSeq(ctx context.Context, meetingID string, lastSeq int64) int64 {
	cr, ok := h.p.Rooms.(chatSeqReader)
	if !ok || lastSeq == 0 {
		return lastSeq
	}
	n, err := cr.ChatSeq(ctx, meetingID)
	if err != nil || lastSeq <= n {
		return lastSeq
	}
	return n
}
