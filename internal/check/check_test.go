package check

import (
	"errors"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	n := 0
	if err := Poll(time.Second, time.Millisecond, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("Poll: %v after %d calls", err, n)
	}
	// Past the deadline it returns the last error, having tried at least once more.
	err := Poll(20*time.Millisecond, time.Millisecond, func() error { return errors.New("never") })
	if err == nil || err.Error() != "never" {
		t.Fatalf("Poll of a condition that never holds: %v", err)
	}
}
