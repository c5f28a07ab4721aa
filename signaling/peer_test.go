package signaling

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/onstagehq/onstage/internal/testpeer"
)

// newPeer makes a client's two pion peer connections and routes the server's signals on c
// to them.
func newPeer(t testing.TB, c *client) *testpeer.Peer {
	t.Helper()
	p := testpeer.New(t, c, testpeer.Options{})
	c.mu.Lock()
	c.onSignal = p.HandleSignal
	c.mu.Unlock()
	return p
}

// SendSignal and RequestSignal make a client the peer's testpeer.Conn.
func (c *client) SendSignal(d testpeer.Signal) error {
	b, err := json.Marshal(OutEnvelope{Type: TypeWebRTCSignal, Data: d})
	if err != nil {
		return err
	}
	return c.sendRaw(b)
}

func (c *client) RequestSignal(d testpeer.Signal) error {
	if m := c.request(TypeWebRTCSignal, d); m.Type != TypeAck {
		return fmt.Errorf("%s: got %s", TypeWebRTCSignal, m)
	}
	return nil
}
