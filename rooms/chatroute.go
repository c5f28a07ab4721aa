package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
)

// Chats of a meeting are written by the node that owns its room.
//
// The chat writer (chatwriter.go) publishes one node's chats in seq order; two nodes writing
// the same meeting's chat would each publish in order, but their events could interleave out
// of order on the way to the room. So a chat posted on a node that does not own the meeting's
// room (a REST post that reached another node) is sent to the owner over the bus, and the
// owner's writer stores and publishes it with its own. WebSocket chats are relayed to the
// owner already (signaling's relay) and are written there directly. A meeting with no owner
// (no live room anywhere) is written where it was posted: no socket waits for its events in
// order. If the owner does not answer (it died), the chat is written locally too.

// ChatOwners tells the Service which node owns a meeting's room; *Placer implements it.
type ChatOwners interface {
	// Holder returns the node that owns the meeting's room now, or "" when none does. It
	// never places the room.
	Holder(ctx context.Context, meetingID string) (string, error)
}

// Holder returns the node that holds meetingID's lease, or "" when none does. Unlike Owner it
// never places the room. A single node (no Redis) holds everything.
func (p *Placer) Holder(ctx context.Context, meetingID string) (string, error) {
	if p.rdb == nil || p.Owns(meetingID) {
		return p.nodeID, nil
	}
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	owner, err := p.rdb.Get(rctx, p.leaseKey(meetingID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return owner, err
}

// chatSubject is the request subject of the chats sent to a node: onstage.chat.<node>.post.
func chatSubject(node string) string { return "onstage.chat." + node + ".post" }

// Forwarding limits.
const (
	chatForwardTimeout = 10 * time.Second
	// maxChatForwards bounds the forwarded chats a node handles at once.
	maxChatForwards = 1024
)

// chatForward is a chat sent to the meeting's owner, with the identity the sending node
// verified.
type chatForward struct {
	MeetingID string `json:"meeting_id"`
	UserID    string `json:"user_id"`
	Role      string `json:"role"`
	Name      string `json:"name"`
	Text      string `json:"text"`
	To        string `json:"to,omitempty"`
}

type chatForwardReply struct {
	Chat  *ChatView     `json:"chat,omitempty"`
	Error *forwardError `json:"error,omitempty"`
}

// forwardError carries a domain error across the bus.
type forwardError struct {
	Kind       apperr.Kind       `json:"kind"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Fields     map[string]string `json:"fields,omitempty"`
	RetryAfter time.Duration     `json:"retry_after,omitempty"`
}

func toForwardError(err error) *forwardError {
	if e, ok := apperr.As(err); ok {
		return &forwardError{Kind: e.Kind, Code: e.Code, Message: e.Message, Fields: e.Fields, RetryAfter: e.RetryAfter}
	}
	i := apperr.ErrInternal
	return &forwardError{Kind: i.Kind, Code: i.Code, Message: i.Message}
}

func (f *forwardError) err() error {
	return &apperr.Error{Kind: f.Kind, Code: f.Code, Message: f.Message, Fields: f.Fields, RetryAfter: f.RetryAfter}
}

// chatRouter is the Service's side of forwarding.
type chatRouter struct {
	owners ChatOwners
	nc     *nats.Conn
	sub    *nats.Subscription
	slots  chan struct{} // one per forwarded chat being handled
	wg     sync.WaitGroup

	mu     sync.Mutex // guards closed, and wg.Add against Wait
	closed bool
}

// startChatRoute listens for chats other nodes send here. Called by NewService when the
// Service has a bus and ChatOwners.
func (s *Service) startChatRoute(owners ChatOwners, nc *nats.Conn) {
	rt := &chatRouter{owners: owners, nc: nc, slots: make(chan struct{}, maxChatForwards)}
	sub, err := nc.Subscribe(chatSubject(s.nodeID), s.onChatForward)
	if err != nil {
		s.log.Error("chat: subscribe to forwarded chats", "err", err)
		return
	}
	rt.sub = sub
	s.route = rt
}

// stopChatRoute stops taking forwarded chats and waits for those in hand. Called by Close
// before the writers stop.
func (s *Service) stopChatRoute() {
	rt := s.route
	if rt == nil {
		return
	}
	if rt.sub != nil {
		_ = rt.sub.Unsubscribe()
	}
	rt.mu.Lock()
	rt.closed = true
	rt.mu.Unlock()
	rt.wg.Wait()
}

// chatOwner returns the node a chat of meetingID must be written on, or "" for this one.
func (s *Service) chatOwner(ctx context.Context, meetingID string) string {
	rt := s.route
	if rt == nil {
		return ""
	}
	owner, err := rt.owners.Holder(ctx, meetingID)
	if err != nil {
		s.log.WarnContext(ctx, "chat: cannot look up the meeting's owner; writing here", "meeting_id", meetingID, "err", err)
		return ""
	}
	if owner == s.nodeID {
		return ""
	}
	return owner
}

// forwardChat sends a chat to the owner's writer and returns its answer. handled is false
// when nobody answers for the owner: the caller writes the chat itself.
func (s *Service) forwardChat(ctx context.Context, owner string, caller authn.Identity, meetingID, text, to string) (cv ChatView, handled bool, err error) {
	req, err := json.Marshal(chatForward{MeetingID: meetingID, UserID: caller.UserID, Role: string(caller.Role),
		Name: caller.Name, Text: text, To: to})
	if err != nil {
		return ChatView{}, true, err
	}
	fctx, cancel := context.WithTimeout(ctx, chatForwardTimeout)
	defer cancel()
	msg, err := s.route.nc.RequestWithContext(fctx, chatSubject(owner), req)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		s.log.WarnContext(ctx, "chat: the meeting's owner does not answer; writing here", "meeting_id", meetingID, "owner", owner)
		return ChatView{}, false, nil
	case err != nil:
		if ctx.Err() != nil {
			return ChatView{}, true, ctx.Err()
		}
		return ChatView{}, true, apperr.ErrUnavailable.WithMessage("the meeting's server did not answer; try again")
	}
	var rep chatForwardReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return ChatView{}, true, fmt.Errorf("chat: decode the owner's reply: %w", err)
	}
	if rep.Error != nil {
		return ChatView{}, true, rep.Error.err()
	}
	if rep.Chat == nil {
		return ChatView{}, true, errors.New("chat: the owner's reply holds no chat")
	}
	return *rep.Chat, true, nil
}

// onChatForward writes a chat another node sent here, on a goroutine of its own (the
// writer batches them), and answers it.
func (s *Service) onChatForward(msg *nats.Msg) {
	rt := s.route
	reply := func(r chatForwardReply) {
		b, _ := json.Marshal(r)
		_ = msg.Respond(b)
	}
	var f chatForward
	if err := json.Unmarshal(msg.Data, &f); err != nil || f.MeetingID == "" || f.UserID == "" {
		reply(chatForwardReply{Error: toForwardError(apperr.ErrBadRequest)})
		return
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		reply(chatForwardReply{Error: toForwardError(errChatClosed)})
		return
	}
	select {
	case rt.slots <- struct{}{}:
	default:
		rt.mu.Unlock()
		reply(chatForwardReply{Error: toForwardError(ErrChatBusy)})
		return
	}
	rt.wg.Add(1)
	rt.mu.Unlock()
	go func() {
		defer rt.wg.Done()
		defer func() { <-rt.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), chatForwardTimeout)
		defer cancel()
		who := authn.Identity{UserID: f.UserID, Role: authn.Role(f.Role), Name: f.Name}
		cv, err := s.submitChat(ctx, who, f.MeetingID, f.Text, f.To)
		if err != nil {
			reply(chatForwardReply{Error: toForwardError(err)})
			return
		}
		reply(chatForwardReply{Chat: &cv})
	}()
}
