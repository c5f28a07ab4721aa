package signaling

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/check"
)

func TestNoGoroutineLeak(t *testing.T) {
	e := newEnv(t, envOpts{})
	host := user("h")
	mv := e.meeting(host, "")
	// Warm up: the first room, subscription and connection set up lazily-created state.
	warm := e.dial(host)
	warm.join(mv.ID, nil)
	warm.mustAck(TypeLeaveRoom, nil)
	mv = e.meeting(host, "")
	keeper := e.dial(user("keeper"))
	keeper.join(mv.ID, nil)
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error { return nil })
	runtime.GC()
	base := runtime.NumGoroutine()

	for i := 0; i < 100; i++ {
		c := e.dial(user(fmt.Sprintf("u%d", i)))
		c.join(mv.ID, nil)
		c.mustAck(TypeChatMessage, map[string]any{"text": "hi"})
		c.mustAck(TypeLeaveRoom, nil)
		_ = c.ws.CloseNow()
		<-c.done
	}
	check.ForErr(t, 15*time.Second, 50*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > base+2 {
			return fmt.Errorf("%d goroutines, baseline %d", n, base)
		}
		if s := e.hub.Stats(); s.Connections != 2 || s.Members != 1 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
}
