package sfu

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
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
// one atomic read and takes no lock.
type fanState struct {
	downs   []*DownTrack
	shards  int // number of chunks, 1 = all inline
	chunk   int // down-tracks per chunk
	workers []*shardWorker
}

type shardJob struct {
	p     *packet
	downs []*DownTrack
}

type shardWorker struct {
	jobs chan shardJob
}

// fanout distributes packets of one published track to its DownTracks.
type fanout struct {
	state atomic.Pointer[fanState]

	mu      sync.Mutex // guards changes to state and workers
	workers []*shardWorker

	quit chan struct{}
	wg   sync.WaitGroup // shard workers

	// dropped counts packets a full shard queue did not take, summed over
	// shards (one per shard and packet).
	dropped atomic.Uint64
}

func newFanout() *fanout {
	f := &fanout{quit: make(chan struct{})}
	f.state.Store(&fanState{shards: 1})
	return f
}

// add subscribes d; it is idempotent.
func (f *fanout) add(d *DownTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.state.Load().downs
	for _, x := range cur {
		if x == d {
			return
		}
	}
	next := make([]*DownTrack, 0, len(cur)+1)
	next = append(next, cur...)
	f.publishLocked(append(next, d))
}

// remove unsubscribes d. After it returns, only packets already handed to a
// shard worker may still reach d; DownTrack tolerates that after unbinding.
func (f *fanout) remove(d *DownTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.state.Load().downs
	next := make([]*DownTrack, 0, len(cur))
	for _, x := range cur {
		if x != d {
			next = append(next, x)
		}
	}
	if len(next) != len(cur) {
		f.publishLocked(next)
	}
}

func (f *fanout) downTracks() []*DownTrack { return f.state.Load().downs }

// publishLocked computes sharding for downs, starts any missing workers and
// swaps the snapshot in. Workers live until close; their number only grows.
func (f *fanout) publishLocked(downs []*DownTrack) {
	st := &fanState{downs: downs, shards: 1, chunk: len(downs)}
	if n := len(downs); shardCount(n) > 1 {
		shards := shardCount(n)
		st.chunk = (n + shards - 1) / shards
		st.shards = (n + st.chunk - 1) / st.chunk
		select {
		case <-f.quit:
			// Closed: no new workers, write everything inline.
			st.shards, st.chunk = 1, n
		default:
			for len(f.workers) < st.shards-1 {
				w := &shardWorker{jobs: make(chan shardJob, shardQueueSize)}
				f.workers = append(f.workers, w)
				f.wg.Add(1)
				go f.runWorker(w)
			}
		}
	}
	st.workers = f.workers
	f.state.Store(st)
}

func (f *fanout) runWorker(w *shardWorker) {
	defer f.wg.Done()
	for {
		select {
		case j := <-w.jobs:
			writeAll(j.downs, j.p)
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
// from Pion's responder buffer (the rewriter keeps the gap in the numbering)
// or a keyframe request repairs.
func (f *fanout) forward(p *packet) {
	st := f.state.Load()
	if st.shards <= 1 {
		writeAll(st.downs, p)
		p.release()
		return
	}
	p.refs.Add(int32(st.shards - 1))
	for i := 1; i < st.shards; i++ {
		lo := i * st.chunk
		hi := min(lo+st.chunk, len(st.downs))
		select {
		case st.workers[i-1].jobs <- shardJob{p: p, downs: st.downs[lo:hi]}:
		case <-f.quit:
			p.release()
		default:
			f.dropped.Add(1)
			p.release()
		}
	}
	writeAll(st.downs[:st.chunk], p)
	p.release()
}

func writeAll(downs []*DownTrack, p *packet) {
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
