package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

// target is a media server the scenario is driven against.
type target interface {
	name() string
	prepare(ctx context.Context, p *plan) error
	runPeer(ctx context.Context, spec *peerSpec, st *peerStats) error
	probe() *costProbe
	close()
}

type runner struct {
	o    *options
	tgt  target
	plan *plan
	g    *counters
	log  io.Writer

	mu    sync.Mutex
	peers []*peerStats
	wg    sync.WaitGroup
	start time.Time
}

func (r *runner) all() []*peerStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*peerStats(nil), r.peers...)
}

func (r *runner) launch(ctx context.Context, spec *peerSpec) {
	st := newPeerStats(spec.name, spec.meeting)
	st.publishes = spec.media.audio || spec.media.video
	st.subscribe = spec.subscribe
	r.mu.Lock()
	r.peers = append(r.peers, st)
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		pctx := ctx
		if spec.lifetime > 0 {
			var cancel context.CancelFunc
			pctx, cancel = context.WithTimeout(ctx, spec.lifetime)
			defer cancel()
		}
		if err := r.tgt.runPeer(pctx, spec, st); err != nil && ctx.Err() == nil {
			st.fail(err)
		}
	}()
}

// ready reports whether every participant has joined and every subscriber has media (or failed).
func (r *runner) ready() bool {
	for _, st := range r.all() {
		if st.failed.Load() {
			continue
		}
		if st.joined.Load() == 0 {
			return false
		}
		if st.subscribe && st.firstMedia.Load() == 0 {
			return false
		}
	}
	return true
}

// waitPublishers waits until every launched publisher is sending (or failed).
func (r *runner) waitPublishers(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		waiting := false
		for _, st := range r.all() {
			if st.publishes && !st.failed.Load() && st.published.Load() == 0 {
				waiting = true
			}
		}
		if !waiting || !sleepCtx(ctx, 20*time.Millisecond) {
			return
		}
	}
}

func (r *runner) progress(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastPkts, lastBytes uint64
	var last seqCounts
	interval := newHistogram()
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		dt := now.Sub(lastAt).Seconds()
		lastAt = now
		var joined, media, failed int
		var c seqCounts
		interval.reset()
		peers := r.all()
		for _, st := range peers {
			if st.joined.Load() != 0 {
				joined++
			}
			if st.firstMedia.Load() != 0 {
				media++
			}
			if st.failed.Load() {
				failed++
			}
			c.add(st.liveCounts())
			st.takeInterval(interval)
		}
		pk, by := r.g.packets.Load(), r.g.bytes.Load()
		d := c.sub(last)
		last = c
		loss := 0.0
		if d.Expected > 0 {
			loss = 100 * float64(d.Lost()) / float64(d.Expected)
		}
		if !r.o.quiet {
			fmt.Fprintf(r.log, "[%4.0fs] %s: %d/%d joined, %d with media, %d failed | %.0f pkt/s %.1f Mbit/s | loss %.2f%% | p99 %.1f ms\n",
				now.Sub(r.start).Seconds(), r.tgt.name(), joined, len(peers), media, failed,
				float64(pk-lastPkts)/dt, float64(by-lastBytes)*8/dt/1e6, loss, interval.quantile(0.99)/1000)
		}
		lastPkts, lastBytes = pk, by
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// runScenario runs one scenario against one target and returns every figure.
func runScenario(ctx context.Context, o *options, tgt target, g *counters, log io.Writer) (*result, error) {
	p, err := buildPlan(o)
	if err != nil {
		return nil, err
	}
	if err := tgt.prepare(ctx, p); err != nil {
		return nil, err
	}
	r := &runner{o: o, tgt: tgt, plan: p, g: g, log: log, start: time.Now()}
	probe := tgt.probe()
	res := newResult(o, tgt.name(), p)
	res.Server.Source = probe.source()
	idle, idleErr := probe.sample(ctx)
	if idleErr != nil {
		res.Server.Error = idleErr.Error()
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	progCtx, stopProg := context.WithCancel(ctx)
	defer stopProg()
	go r.progress(progCtx)

	ramp := o.ramp
	if ramp <= 0 {
		ramp = 1000
	}
	gap := time.Duration(float64(time.Second) / ramp)
	launched := make(chan struct{})
	go func() {
		defer close(launched)
		gated := false
		for i, spec := range p.peers {
			// Subscribers that do not publish join once every publisher is sending, so that their
			// join time is the server's, not the publishers'.
			if !gated && spec.subscribe && !(spec.media.audio || spec.media.video) {
				gated = true
				r.waitPublishers(runCtx, 30*time.Second)
			}
			if i > 0 && !sleepCtx(runCtx, gap) {
				return
			}
			r.launch(runCtx, spec)
		}
	}()
	select {
	case <-launched:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	joinTimeout := o.joinTimeout
	if joinTimeout <= 0 {
		joinTimeout = 30*time.Second + time.Duration(float64(len(p.peers))/ramp*float64(time.Second))
	}
	deadline := time.Now().Add(joinTimeout)
	for !r.ready() && time.Now().Before(deadline) {
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
	res.AllReady = r.ready()
	res.JoinPhaseSeconds = time.Since(r.start).Seconds()

	if p.churn {
		churnCtx, stopChurn := context.WithCancel(runCtx)
		defer stopChurn()
		go func() {
			t := time.NewTicker(time.Duration(float64(time.Second) / o.churnRate))
			defer t.Stop()
			for i := 0; ; i++ {
				select {
				case <-churnCtx.Done():
					return
				case <-t.C:
				}
				s := &peerSpec{index: len(p.peers) + i, meeting: i % p.meetings, subscribe: true, lifetime: o.lifetime}
				s.name = fmt.Sprintf("churn-%d-%d", s.meeting+1, i+1)
				r.launch(runCtx, s)
			}
		}()
	} else {
		sleepCtx(ctx, o.settle)
	}

	// The measurement window.
	for _, st := range r.all() {
		st.startWindow()
	}
	if p.chat != nil {
		p.chat.startOnce.Do(func() { close(p.chat.start) })
	}
	cpu0, cpuErr := probe.sample(ctx)
	sfu0 := probe.sfuCounters(ctx)
	self0, _ := readProc(os.Getpid())
	winStart := time.Now()
	type sysResult struct {
		c   syscallCount
		err error
	}
	var sysc chan sysResult
	if probe.pid > 0 && p.chat == nil {
		sysc = make(chan sysResult, 1)
		go func() {
			c, err := countSyscalls(ctx, probe.pid, o.duration)
			sysc <- sysResult{c, err}
		}()
	}
	if p.chat != nil {
		end := time.Now().Add(o.duration)
		for time.Now().Before(end) && int(p.chat.finished.Load()) < len(p.peers) {
			if !sleepCtx(ctx, 100*time.Millisecond) {
				break
			}
		}
		sleepCtx(ctx, time.Second) // let the last deliveries land
	} else {
		sleepCtx(ctx, o.duration)
	}
	cpu1, cpuErr1 := probe.sample(ctx)
	sfu1 := probe.sfuCounters(ctx)
	self1, _ := readProc(os.Getpid())
	goroutines := runtime.NumGoroutine()
	window := time.Since(winStart)
	stopProg()
	res.Machine.readContention()

	peers := r.all()
	res.fill(peers, window, r.start)
	if cpuErr == nil && cpuErr1 == nil {
		res.Server.fill(idle, cpu0, cpu1, idleErr == nil, res)
	} else if cpuErr != nil {
		res.Server.Error = cpuErr.Error()
	} else {
		res.Server.Error = cpuErr1.Error()
	}
	res.Server.SFU = newSFUResult(sfu0, sfu1)
	res.Bound = checkBound(o, res)
	if sysc != nil {
		if sr := <-sysc; sr.err == nil {
			res.Server.fillSyscalls(sr.c, res)
		} else {
			fmt.Fprintln(log, "syscall count:", sr.err)
		}
	}
	if self1.CPU > 0 {
		res.Client.CPUCores = round((self1.CPU-self0.CPU).Seconds()/window.Seconds(), 3)
		res.Client.RSSMB = round(float64(self1.RSSBytes)/(1<<20), 1)
		res.Client.Goroutines = goroutines
	}
	if p.chat != nil {
		res.Chat = newChatResult(p.chat, window)
	}

	// Leave, and give everyone a bounded time to do so.
	cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		fmt.Fprintln(log, "warning: some participants did not leave within 20 s")
	}
	return res, nil
}

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func quantilesMs(vals []float64) (p50, p99 float64) {
	sort.Float64s(vals)
	return round(percentile(vals, 50), 1), round(percentile(vals, 99), 1)
}
