package signaling

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/check"
)

// revocations is a Sessions whose answers the test sets.
type revocations struct {
	mu      sync.Mutex
	revoked map[string]bool // family → revoked
	err     error
	calls   int
}

func (r *revocations) SessionValid(_ context.Context, _ string, s authn.Session) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.err != nil {
		return false, r.err
	}
	return !r.revoked[s.Family], nil
}

func (r *revocations) set(family string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if family != "" {
		r.revoked[family] = true
	}
	r.err = err
}

func (r *revocations) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func TestRevokedSessionSocketClosed(t *testing.T) {
	iss, err := authn.NewIssuer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rev := &revocations{revoked: map[string]bool{}}
	h := NewHub(HubParams{Issuer: iss, Sessions: rev, SessionCheckInterval: 20 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	type sock struct {
		ws     *websocket.Conn
		closed chan error
	}
	dial := func(family string) (*sock, error) {
		tok, _, err := iss.MintSession(user("u1"), authn.Session{Family: family, Epoch: 1}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, url+"?token="+tok, nil)
		if err != nil {
			return nil, err
		}
		s := &sock{ws: ws, closed: make(chan error, 1)}
		go func() {
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					s.closed <- err
					return
				}
			}
		}()
		return s, nil
	}
	open := func(name string, s *sock) {
		t.Helper()
		select {
		case err := <-s.closed:
			t.Fatalf("%s closed: %v", name, err)
		default:
		}
	}

	a, err := dial("fa")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dial("fb")
	if err != nil {
		t.Fatal(err)
	}
	guest, err := dial("") // a token without a session is never re-checked
	if err != nil {
		t.Fatal(err)
	}

	// A failing lookup keeps every socket: a dead cache must not close meetings.
	rev.set("", errors.New("cache down"))
	n := rev.callCount()
	check.ForErr(t, 5*time.Second, 5*time.Millisecond, func() error {
		if rev.callCount() < n+4 {
			return fmt.Errorf("%d re-checks", rev.callCount()-n)
		}
		return nil
	})
	open("a", a)
	open("b", b)

	rev.set("fa", nil)
	select {
	case err := <-a.closed:
		if got := websocket.CloseStatus(err); got != StatusSessionRevoked {
			t.Fatalf("revoked socket closed with %v (%v), want %d", got, err, StatusSessionRevoked)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("revoked socket still open")
	}
	// Several more rounds: the other login and the guest stay.
	n = rev.callCount()
	check.ForErr(t, 5*time.Second, 5*time.Millisecond, func() error {
		if rev.callCount() < n+4 {
			return fmt.Errorf("%d re-checks", rev.callCount()-n)
		}
		return nil
	})
	open("b", b)
	open("guest", guest)

	// The revoked login cannot open a new socket.
	if _, err := dial("fa"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("revoked login dialed: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.sessions.done:
	default:
		t.Fatal("the re-check loop outlived Shutdown")
	}
}
