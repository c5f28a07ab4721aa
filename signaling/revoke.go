package signaling

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/authn"
)

// Sessions tells the hub whether the login behind a socket's access token still stands;
// *auth.Service satisfies it. An access token outlives the revocation of its login by up to
// its lifetime, and a socket outlives its token: without this check a logged-out or
// password-reset user would keep listening to meetings.
type Sessions interface {
	SessionValid(ctx context.Context, userID string, s authn.Session) (bool, error)
}

// StatusSessionRevoked closes a socket whose login was revoked (logout, a reused refresh
// token, a password change or reset). Reconnecting with the same access token is refused
// with HTTP 401; the client has to log in again.
const StatusSessionRevoked = websocket.StatusCode(4401)

// DefaultSessionCheckInterval is how often open sockets' logins are re-checked.
const DefaultSessionCheckInterval = 5 * time.Second

// sessionWatch is the state of the periodic re-check. Its fields other than the channels are
// guarded by Hub.mu.
type sessionWatch struct {
	conns map[*conn]watchedSession
	stop  context.CancelFunc
	done  chan struct{}
}

type watchedSession struct {
	userID string
	authn.Session
}

// sessionValid checks a login at the upgrade. Without Sessions, or for a token that names no
// login, there is nothing to check. A lookup that fails lets the socket in: a dead cache
// degrades revocation, not every meeting.
func (h *Hub) sessionValid(ctx context.Context, userID string, s authn.Session) bool {
	if h.p.Sessions == nil || s.Family == "" {
		return true
	}
	ok, err := h.p.Sessions.SessionValid(ctx, userID, s)
	if err != nil {
		h.log.Warn("session check", "err", err)
		return true
	}
	return ok
}

// watchSession adds c to the periodic re-check; the caller holds h.mu.
func (h *Hub) watchSession(c *conn, userID string, s authn.Session) {
	if h.p.Sessions == nil || s.Family == "" {
		return
	}
	if h.sessions.conns == nil {
		h.sessions.conns = map[*conn]watchedSession{}
	}
	h.sessions.conns[c] = watchedSession{userID: userID, Session: s}
}

// startSessionChecks starts the re-check loop when the hub has Sessions.
func (h *Hub) startSessionChecks() {
	if h.p.Sessions == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.sessions.stop, h.sessions.done = cancel, make(chan struct{})
	go func() {
		defer close(h.sessions.done)
		t := time.NewTicker(h.p.SessionCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.checkSessions(ctx)
			}
		}
	}()
}

// stopSessionChecks stops the loop and waits for it.
func (h *Hub) stopSessionChecks() {
	if h.sessions.stop != nil {
		h.sessions.stop()
		<-h.sessions.done
	}
}

// checkSessions asks once per distinct login of the open sockets and closes the sockets of
// the revoked ones. One round never takes longer than the interval; logins not reached in
// time are checked in the next round.
func (h *Hub) checkSessions(ctx context.Context) {
	h.mu.Lock()
	byLogin := make(map[watchedSession][]*conn, len(h.sessions.conns))
	for c, s := range h.sessions.conns {
		byLogin[s] = append(byLogin[s], c)
	}
	h.mu.Unlock()
	if len(byLogin) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.p.SessionCheckInterval)
	defer cancel()
	var warnOnce sync.Once
	for s, conns := range byLogin {
		ok, err := h.p.Sessions.SessionValid(ctx, s.userID, s.Session)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			warnOnce.Do(func() { h.log.Warn("session re-check", "err", err) })
			continue
		}
		if ok {
			continue
		}
		h.log.Info("closing sockets of a revoked session", "user", s.userID, "sockets", len(conns))
		for _, c := range conns {
			c.fail(StatusSessionRevoked, "session revoked")
		}
	}
}
