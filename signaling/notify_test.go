package signaling

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/check"
)

// TestNotifyUser: a notification reaches every open socket of its user, in a room or not, and
// no one else's.
func TestNotifyUser(t *testing.T) {
	e := newEnv(t, envOpts{})
	ann, bob := user("ann"), user("bob")
	a1, a2, b := e.dial(ann), e.dial(ann), e.dial(bob)
	m := e.meeting(ann, "")
	a2.join(m.ID, nil)
	var n int
	check.ForErr(t, 2*time.Second, 10*time.Millisecond, func() error {
		if n = e.hub.NotifyUser(ann.UserID, map[string]string{"kind": "order_paid", "text": "hello"}); n != 2 {
			return fmt.Errorf("reached %d sockets", n)
		}
		return nil
	})
	for _, c := range []*client{a1, a2} {
		got := c.waitType(TypeNotification)
		if !strings.Contains(got.String(), "order_paid") {
			t.Fatalf("notification %s", got)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if len(b.all(TypeNotification)) != 0 {
		t.Fatal("bob got ann's notification")
	}
	if e.hub.NotifyUser("", nil) != 0 {
		t.Fatal("notified the empty user")
	}
}
