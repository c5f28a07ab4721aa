// Package check polls a condition until a deadline, for tests that wait on something another
// goroutine, process or node does. It holds no test of its own and production code does not
// import it.
package check

import (
	"errors"
	"testing"
	"time"
)

// For polls cond every 5 ms until it holds, and fails the test naming what it waited for
// once wait has passed.
func For(t testing.TB, wait time.Duration, what string, cond func() bool) {
	t.Helper()
	ForErr(t, wait, 5*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return errors.New("waiting for " + what)
	})
}

// ForErr polls f every `every` until it returns nil, and fails the test with f's last error once
// wait has passed: the error says what was still missing, which a bool cannot.
func ForErr(t testing.TB, wait, every time.Duration, f func() error) {
	t.Helper()
	if err := Poll(wait, every, f); err != nil {
		t.Fatalf("not satisfied after %v: %v", wait, err)
	}
}

// Poll is ForErr that returns f's last error instead of failing, for helpers that report to
// their caller or run off the test's goroutine.
func Poll(wait, every time.Duration, f func() error) error {
	deadline := time.Now().Add(wait)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(every)
	}
}
