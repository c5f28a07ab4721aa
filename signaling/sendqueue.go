package signaling

import "sync"

// sendQueue is a connection's bounded queue of frame batches, filled by any goroutine without
// blocking and drained by the connection's writer. A buffered channel of the same bound would
// allocate all of its slots with the connection (6 KB for 256 batches), although a socket's
// queue is empty nearly all the time; this one holds a few slots inline and grows only while a
// burst is queued, returning to them once drained.
type sendQueue struct {
	// ready holds a token while batches is not empty; the writer selects on it.
	ready chan struct{}

	mu      sync.Mutex
	limit   int
	batches [][][]byte
	inline  [sendQueueInline][][]byte
}

// sendQueueInline is how many batches a queue holds before it allocates.
const sendQueueInline = 4

func newSendQueue(limit int) *sendQueue {
	q := &sendQueue{ready: make(chan struct{}, 1), limit: limit}
	q.batches = q.inline[:0]
	return q
}

// push queues a batch; it reports false, queueing nothing, when limit batches are queued.
func (q *sendQueue) push(frames [][]byte) bool {
	q.mu.Lock()
	if len(q.batches) >= q.limit {
		q.mu.Unlock()
		return false
	}
	q.batches = append(q.batches, frames)
	q.mu.Unlock()
	q.signal()
	return true
}

// pop takes the oldest batch, if any. After a pop that leaves batches queued, ready holds a
// token again, so a writer takes one batch per wakeup, as from a channel.
func (q *sendQueue) pop() ([][]byte, bool) {
	q.mu.Lock()
	if len(q.batches) == 0 {
		q.mu.Unlock()
		return nil, false
	}
	frames := q.batches[0]
	q.batches[0] = nil
	q.batches = q.batches[1:]
	more := len(q.batches) > 0
	if !more {
		// Back to the inline slots: a grown array is dropped with the burst.
		clear(q.inline[:])
		q.batches = q.inline[:0]
	}
	q.mu.Unlock()
	if more {
		q.signal()
	}
	return frames, true
}

// len returns how many batches are queued.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.batches)
}

func (q *sendQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
