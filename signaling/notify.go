package signaling

// TypeNotification is a server message that is about no meeting: a notice for the user of
// the socket (a booking paid, an order cancelled). See docs/protocol.md.
const TypeNotification = "notification"

// NotifyUser sends a notification message with data to every open socket of userID on this
// node and returns how many it reached. A socket whose send queue is full is closed as any
// slow client is; the notification is best effort (the mail carries it too).
func (h *Hub) NotifyUser(userID string, data any) int {
	if userID == "" {
		return 0
	}
	b, err := EncodeMessage(TypeNotification, nil, data)
	if err != nil {
		h.log.Error("encode notification", "err", err)
		return 0
	}
	h.mu.Lock()
	var to []*conn
	for c := range h.conns {
		if c.who.UserID == userID {
			to = append(to, c)
		}
	}
	h.mu.Unlock()
	n := 0
	for _, c := range to {
		if c.enqueue(b) {
			n++
		}
	}
	return n
}
