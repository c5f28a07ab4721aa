package rooms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
)

// The chat writer.
//
// Every chat of a meeting posted on this node goes through that meeting's one writer
// goroutine. It takes whatever chats are waiting (up to maxChatBatch), and in one transaction
// locks the meeting row, checks each sender and recipient against the active participants,
// gives the accepted chats the next seqs after the meeting's stored chat_seq, inserts them and
// stores the new chat_seq. Only after the commit does it publish them, as one chat event in
// seq order (Event.Chats; Event.Chat when the batch holds one), and answer their senders. So:
//
//   - a chat is durable before anyone sees it or its sender gets the ack;
//   - the events of a meeting leave this node in strictly increasing seq: one goroutine
//     commits and then publishes, batch after batch, and the bus keeps one publisher's order;
//   - seq stays unique and gap-free across nodes and restarts: it is read and advanced under
//     the meeting's row lock, from what the database holds, once per batch;
//   - the cost of a transaction (and of the row lock) is shared by every chat of a batch, so a
//     burst is written in a handful of commits instead of one per chat.
//
// A writer exits after chatWriterIdle without work; the next chat starts a new one. Its queue
// is bounded (maxChatQueue): a meeting flooded beyond it answers ErrChatBusy.

const (
	maxChatQueue = 2048
	// maxChatWriters bounds the meetings with a writer at once on this node.
	maxChatWriters = 10000
	maxChatBatch   = 256
	chatWriterIdle = 5 * time.Second
	// chatCommitTimeout bounds one batch's transaction.
	chatCommitTimeout = 10 * time.Second
)

// ErrChatBusy is a chat refused because its meeting's writer has too many chats waiting.
var ErrChatBusy = apperr.ErrRateLimited.WithMessage("too many chat messages in this meeting; retry shortly").WithRetry(time.Second)

// errChatClosed is a chat posted after Close.
var errChatClosed = apperr.ErrUnavailable.WithMessage("the server is shutting down")

// chatReq is one chat waiting for its meeting's writer.
type chatReq struct {
	caller   authn.Identity
	text, to string
	done     chan chatResult // buffered: the writer never blocks on it
}

type chatResult struct {
	chat ChatView
	err  error
}

// chatWriter is the one goroutine that writes a meeting's chat on this node.
type chatWriter struct {
	s         *Service
	meetingID string
	reqs      chan *chatReq
}

// writers is the Service's set of running chat writers. Its lock is held only for map
// updates and non-blocking sends.
type writers struct {
	byMeeting map[string]*chatWriter
	closed    bool
	stop      chan struct{} // closed by Close: writers finish their queue and exit
}

// submitChat queues a chat for its meeting's writer and waits for the outcome.
func (s *Service) submitChat(ctx context.Context, caller authn.Identity, meetingID, text, to string) (ChatView, error) {
	req := &chatReq{caller: caller, text: text, to: to, done: make(chan chatResult, 1)}
	if err := s.enqueueChat(meetingID, req); err != nil {
		return ChatView{}, err
	}
	select {
	case res := <-req.done:
		return res.chat, res.err
	case <-ctx.Done():
		// The chat may still be stored and published; the caller has stopped waiting.
		return ChatView{}, ctx.Err()
	}
}

func (s *Service) enqueueChat(meetingID string, req *chatReq) error {
	s.chatMu.Lock()
	defer s.chatMu.Unlock()
	ws := &s.chatWriters
	if ws.closed {
		return errChatClosed
	}
	if ws.byMeeting == nil {
		ws.byMeeting = map[string]*chatWriter{}
		ws.stop = make(chan struct{})
	}
	w := ws.byMeeting[meetingID]
	if w == nil {
		if len(ws.byMeeting) >= maxChatWriters {
			return ErrChatBusy
		}
		w = &chatWriter{s: s, meetingID: meetingID, reqs: make(chan *chatReq, maxChatQueue)}
		ws.byMeeting[meetingID] = w
		s.chatWG.Add(1)
		go w.run(ws.stop)
	}
	select {
	case w.reqs <- req:
		return nil
	default:
		return ErrChatBusy
	}
}

// retire removes w from the set if nothing is waiting for it; a chat queued after this
// starts a new writer. Sends happen under the same lock, so none can be stranded.
func (s *Service) retire(w *chatWriter) bool {
	s.chatMu.Lock()
	defer s.chatMu.Unlock()
	if len(w.reqs) > 0 {
		return false
	}
	if s.chatWriters.byMeeting[w.meetingID] == w {
		delete(s.chatWriters.byMeeting, w.meetingID)
	}
	return true
}

// closeChat stops accepting chats and waits for the writers to finish what they hold.
func (s *Service) closeChat() {
	s.stopChatRoute()
	s.chatMu.Lock()
	if !s.chatWriters.closed {
		s.chatWriters.closed = true
		if s.chatWriters.stop != nil {
			close(s.chatWriters.stop)
		}
	}
	s.chatMu.Unlock()
	s.chatWG.Wait()
}

func (w *chatWriter) run(stop <-chan struct{}) {
	defer w.s.chatWG.Done()
	idle := time.NewTimer(chatWriterIdle)
	defer idle.Stop()
	batch := make([]*chatReq, 0, maxChatBatch)
	for {
		select {
		case r := <-w.reqs:
			batch = append(batch[:0], r)
		case <-idle.C:
			if w.s.retire(w) {
				return
			}
			idle.Reset(chatWriterIdle)
			continue
		case <-stop:
			// No chat is accepted any more (closed is set before stop closes): write
			// what is queued, then exit.
			for {
				batch = batch[:0]
				w.fill(&batch)
				if len(batch) == 0 {
					return
				}
				w.commit(batch)
			}
		}
		w.fill(&batch)
		gone := w.commit(batch)
		clear(batch)
		if gone && w.s.retire(w) {
			return // no such meeting: do not hold a writer for it
		}
		idle.Reset(chatWriterIdle)
	}
}

// fill adds the chats already waiting to batch, without blocking.
func (w *chatWriter) fill(batch *[]*chatReq) {
	for len(*batch) < maxChatBatch {
		select {
		case r := <-w.reqs:
			*batch = append(*batch, r)
		default:
			return
		}
	}
}

// commit writes one batch in one transaction, then publishes its events in seq order and
// answers every sender. It reports whether the meeting does not exist.
func (w *chatWriter) commit(batch []*chatReq) (gone bool) {
	s := w.s
	ctx, cancel := context.WithTimeout(context.Background(), chatCommitTimeout)
	defer cancel()
	results := make([]chatResult, len(batch))
	var msgs []*ChatMessage
	err := s.store.Tx(ctx, func(tx *Store) error {
		msgs = msgs[:0]
		clear(results)
		m, err := tx.lockMeeting(w.meetingID)
		if err != nil {
			return err
		}
		// Only the senders and recipients of the batch, not the whole meeting.
		users := make([]string, 0, len(batch))
		var tos []string
		for _, r := range batch {
			users = append(users, r.caller.UserID)
			if r.to != "" {
				tos = append(tos, r.to)
			}
		}
		ps, err := tx.activeAmong(m.ID, users, tos)
		if err != nil {
			return err
		}
		byUser := make(map[string]*Participant, len(ps))
		byID := make(map[string]*Participant, len(ps))
		for i := range ps {
			byUser[ps[i].UserID] = &ps[i]
			byID[ps[i].ID] = &ps[i]
		}
		seq := m.ChatSeq
		now := s.clock()
		for i, r := range batch {
			self := byUser[r.caller.UserID]
			if self == nil {
				results[i].err = ErrNotInRoom
				continue
			}
			if r.to != "" {
				if p := byID[r.to]; p == nil || p.ID == self.ID {
					results[i].err = apperr.Invalidf(map[string]string{"to": "must be another participant in the meeting"})
					continue
				}
			}
			seq++
			msg := &ChatMessage{ID: newID(), MeetingID: m.ID, Seq: seq, FromParticipantID: self.ID,
				FromName: self.DisplayName, ToParticipantID: r.to, Text: r.text, SentAt: now}
			msgs = append(msgs, msg)
			results[i].chat = msg.View()
		}
		if len(msgs) == 0 {
			return nil
		}
		if err := tx.insertChats(msgs); err != nil {
			return fmt.Errorf("store chat: %w", err)
		}
		if err := tx.setChatSeq(m.ID, seq); err != nil {
			return fmt.Errorf("store chat seq: %w", err)
		}
		return nil
	})
	if err != nil {
		gone = errors.Is(err, ErrNotFound)
		for i := range results {
			results[i] = chatResult{err: err}
		}
	} else if len(msgs) > 0 {
		ev := s.event(EventChat, w.meetingID)
		if len(msgs) == 1 {
			cv := msgs[0].View()
			ev.Chat = &cv
		} else {
			ev.Chats = make([]ChatView, len(msgs))
			for i, m := range msgs {
				ev.Chats[i] = m.View()
			}
		}
		s.publish(ctx, events{ev})
	}
	for i, r := range batch {
		r.done <- results[i]
	}
	return gone
}
