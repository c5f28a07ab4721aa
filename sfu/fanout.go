package sfu

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Fan-out tuning. Up to inlineFanout subscribers are written by the reader
// goroutine itself. Above that the subscriber list is split into shards of at
// least minShardSize, the first written inline and the others by shard
// workers, because a single writer stops scaling near 100 subscribers. There
// are never more shards than GOMAXPROCS: a shard beyond the number of CPUs
// adds no parallelism, only a channel send and a goroutine wake-up per packet.
const (
	inlineFanout   = 16
	minShardSize   = 16
	maxShards      = 32
	shardQueueSize = 256
)

// maxQueueDelay is how long a packet may wait in a shard queue. Older packets
// are dropped rather than sent late: under overload latency stays bounded,
// and the subscriber recovers the loss by NACK from the track's packet cache
// or, failing that, a keyframe.
const maxQueueDelay = 200 * time.Millisecond

// shardCount is how many shards n down-tracks are split into.
func shardCount(n int) int {
	if n <= inlineFanout {
		return 1
	}
	shards := min(n/minShardSize, int(math.Ceil(math.Sqrt(float64(n)))), runtime.GOMAXPROCS(0), maxShards)
	return max(shards, 1)
}

// fanState is an immutable snapshot of who receives a track's packets.
// Writers replace it whole (copy-on-write); the forward path loads it with
// one atomic read and takes no lock. shards[0] is written by the reader,
// shards[i] by workers[i-1]; a shard may be empty.
type fanState struct {
	shards  [][]*DownTrack
	workers []*shardWorker
	n       int
}

type shardJob struct {
	p     *packet
	downs []*DownTrack
}

type shardWorker struct {
	jobs chan shardJob
}

// fanout distributes packets of one published track to its DownTracks.
//
// A down-track stays on the shard it was added to for as long as it is
// subscribed, whatever joins or leaves: moving it would let its new shard
// write newer packets while its old shard still holds older ones for it.
// New down-tracks go to the smallest shard, which keeps shards balanced as
// a room grows; the number of shards only grows.
type fanout struct {
	state atomic.Pointer[fanState]
	conn  *socketGroup // batches each pass's datagrams; nil writes them one by one

	mu      sync.Mutex // guards changes to state and workers
	workers []*shardWorker

	quit chan struct{}
	wg   sync.WaitGroup // shard workers

	// dropped counts packets a full shard queue did not take, summed over
	// shards (one per shard and packet); stale counts packets a worker
	// dropped because they waited longer than maxQueueDelay.
	dropped atomic.Uint64
	stale   atomic.Uint64
}

func newFanout(conn *socketGroup) *fanout {
	f := &fanout{quit: make(chan struct{}), conn: conn}
	f.state.Store(&fanState{shards: [][]*DownTrack{nil}})
	return f
}

// add subscribes d; it is idempotent.
func (f *fanout) add(d *DownTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.state.Load()
	for _, s := range cur.shards {
		for _, x := range s {
			if x == d {
				return
			}
		}
	}
	want := shardCount(cur.n + 1)
	select {
	case <-f.quit:
		want = 1 // closed: no new workers
	default:
	}
	for len(f.workers) < want-1 {
		w := &shardWorker{jobs: make(chan shardJob, shardQueueSize)}
		f.workers = append(f.workers, w)
		f.wg.Add(1)
		go f.runWorker(w)
	}
	shards := make([][]*DownTrack, max(len(cur.shards), want))
	copy(shards, cur.shards)
	best := 0
	for i := 1; i < want; i++ {
		if len(shards[i]) < len(shards[best]) {
			best = i
		}
	}
	next := make([]*DownTrack, 0, len(shards[best])+1)
	shards[best] = append(append(next, shards[best]...), d)
	f.state.Store(&fanState{shards: shards, workers: f.workers, n: cur.n + 1})
}

// remove unsubscribes d. After it returns, only packets already handed to a
// shard worker may still reach d; DownTrack tolerates that after unbinding.
func (f *fanout) remove(d *DownTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.state.Load()
	for i, s := range cur.shards {
		for j, x := range s {
			if x != d {
				continue
			}
			shards := make([][]*DownTrack, len(cur.shards))
			copy(shards, cur.shards)
			next := make([]*DownTrack, 0, len(s)-1)
			shards[i] = append(append(next, s[:j]...), s[j+1:]...)
			f.state.Store(&fanState{shards: shards, workers: cur.workers, n: cur.n - 1})
			return
		}
	}
}

func (f *fanout) runWorker(w *shardWorker) {
	defer f.wg.Done()
	for {
		select {
		case j := <-w.jobs:
			if time.Now().UnixNano()-j.p.arrival > int64(maxQueueDelay) {
				f.stale.Add(1)
			} else {
				f.writeAll(j.downs, j.p)
			}
			j.p.release()
		case <-f.quit:
			// Drain what was queued so pooled packets are recycled.
			for {
				select {
				case j := <-w.jobs:
					j.p.release()
				default:
					return
				}
			}
		}
	}
}

// forward hands p to every DownTrack and consumes the caller's reference.
//
// A shard whose queue is full loses the packet (counted in dropped) instead
// of blocking the reader: blocking would delay every subscriber of the track,
// and the publisher's socket behind it, for the sake of one slow shard. The
// subscribers of that shard see an ordinary loss, which their NACKs recover
// from the track's packet cache (the rewriter keeps the gap in the
// numbering) or a keyframe request repairs.
func (f *fanout) forward(p *packet) {
	st := f.state.Load()
	for i := 1; i < len(st.shards); i++ {
		downs := st.shards[i]
		if len(downs) == 0 {
			continue
		}
		p.refs.Add(1)
		select {
		case st.workers[i-1].jobs <- shardJob{p: p, downs: downs}:
		case <-f.quit:
			p.release()
		default:
			f.dropped.Add(1)
			p.release()
		}
	}
	f.writeAll(st.shards[0], p)
	p.release()
}

// writeAll is one fan-out pass: p to every down-track of a shard, the
// datagrams sent together at its end.
func (f *fanout) writeAll(downs []*DownTrack, p *packet) {
	if len(downs) == 0 {
		return
	}
	if f.conn != nil {
		f.conn.beginPass()
		defer f.conn.endPass()
	}
	for _, d := range downs {
		d.writePacket(p)
	}
}

// close stops the shard workers and waits for them.
func (f *fanout) close() {
	f.mu.Lock()
	select {
	case <-f.quit:
		f.mu.Unlock()
		return
	default:
	}
	close(f.quit)
	f.mu.Unlock()
	f.wg.Wait()
}
