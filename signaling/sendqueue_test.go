package signaling

import (
	"fmt"
	"testing"
)

// The queue is FIFO, refuses a batch past its limit, keeps a ready token exactly while it
// holds batches, and returns to its inline slots once drained.
func TestSendQueue(t *testing.T) {
	for _, n := range []int{1, sendQueueInline, sendQueueInline + 1, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			q := newSendQueue(n)
			for i := range n {
				if !q.push([][]byte{{byte(i)}}) {
					t.Fatalf("batch %d of %d refused", i, n)
				}
			}
			if q.push([][]byte{{0xff}}) {
				t.Fatal("batch past the limit queued")
			}
			if q.len() != n {
				t.Fatalf("len %d, want %d", q.len(), n)
			}
			for i := range n {
				select {
				case <-q.ready:
				default:
					t.Fatalf("no ready token with %d batches queued", n-i)
				}
				fs, ok := q.pop()
				if !ok || len(fs) != 1 || fs[0][0] != byte(i) {
					t.Fatalf("pop %d: %v %v", i, fs, ok)
				}
			}
			select {
			case <-q.ready:
				t.Fatal("ready token on an empty queue")
			default:
			}
			if _, ok := q.pop(); ok {
				t.Fatal("pop from an empty queue")
			}
			if cap(q.batches) != sendQueueInline {
				t.Fatalf("drained queue holds %d slots, want the %d inline", cap(q.batches), sendQueueInline)
			}
		})
	}
}

// A queue that never holds more than its inline slots never allocates.
func TestSendQueueInlineAllocFree(t *testing.T) {
	q := newSendQueue(sendQueueSize)
	batch := [][]byte{[]byte("x")}
	allocs := testing.AllocsPerRun(100, func() {
		q.push(batch)
		q.push(batch)
		<-q.ready
		q.pop()
		<-q.ready
		q.pop()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per push and pop", allocs)
	}
}
