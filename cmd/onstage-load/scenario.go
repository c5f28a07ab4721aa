package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// options are the command line.
type options struct {
	scenario     string
	url          string
	urls         []string // every node given to --url; url is the first
	duration     time.Duration
	ramp         float64 // joins per second
	videoBitrate int
	simulcast    bool
	codec        codec
	meetings     int
	subscribers  int
	participants int
	publishers   int // audio scenario
	clients      int // chat
	messages     int // chat: per client
	chatRate     float64
	chatBurst    time.Duration // chat: send within this window, not waiting for acks
	churnRate    float64
	lifetime     time.Duration
	jsonFile     string
	serverPID    int
	baseline     bool // run onstage then the bare forwarder and compare
	bareOnly     bool // run the bare forwarder only
	loopbackOnly bool
	quiet        bool
	settle       time.Duration
	joinTimeout  time.Duration
	// The limits an overload run checks (0: none): video p99 and loss after NACK recovery.
	boundVideoP99 time.Duration
	boundLoss     float64 // percent
}

// peerSpec is one simulated participant.
type peerSpec struct {
	index     int
	name      string
	meeting   int
	host      bool
	media     mediaOptions
	subscribe bool
	lifetime  time.Duration // churn: leave after this long
	chat      *chatLoad
}

// plan is a scenario expanded into participants.
type plan struct {
	scenario         string
	meetings         int
	media            mediaOptions
	peers            []*peerSpec
	perMeeting       []int // participants per meeting
	tracksPerMeeting []int // published tracks per meeting
	churn            bool
	chat             *chatLoad
}

func buildPlan(o *options) (*plan, error) {
	if o.meetings < 1 {
		o.meetings = 1
	}
	av := mediaOptions{audio: true, video: true, codec: o.codec, videoBitrate: o.videoBitrate, simulcast: o.simulcast}
	p := &plan{scenario: o.scenario, meetings: o.meetings, media: av,
		perMeeting: make([]int, o.meetings), tracksPerMeeting: make([]int, o.meetings)}
	add := func(meeting int, host bool, media mediaOptions, subscribe bool, role string) *peerSpec {
		s := &peerSpec{index: len(p.peers), meeting: meeting, host: host, media: media, subscribe: subscribe}
		s.name = fmt.Sprintf("%s-%d-%d", role, meeting+1, len(p.peers)+1)
		p.peers = append(p.peers, s)
		p.perMeeting[meeting]++
		if media.audio {
			p.tracksPerMeeting[meeting]++
		}
		if media.video {
			p.tracksPerMeeting[meeting]++
		}
		return s
	}
	none := mediaOptions{}
	switch o.scenario {
	case "livestream":
		if o.subscribers < 1 {
			return nil, fmt.Errorf("livestream: --subscribers must be at least 1")
		}
		for m := 0; m < o.meetings; m++ {
			add(m, true, av, false, "pub")
		}
		for i := 0; i < o.subscribers; i++ {
			add(i%o.meetings, false, none, true, "sub")
		}
	case "meeting":
		if o.participants < 2 {
			return nil, fmt.Errorf("meeting: --participants must be at least 2")
		}
		for m := 0; m < o.meetings; m++ {
			for i := 0; i < o.participants; i++ {
				add(m, i == 0, av, true, "member")
			}
		}
	case "audio":
		if o.publishers < 1 || o.subscribers < 1 {
			return nil, fmt.Errorf("audio: --publishers and --subscribers must be at least 1")
		}
		audio := mediaOptions{audio: true}
		p.media = audio
		for m := 0; m < o.meetings; m++ {
			for i := 0; i < o.publishers; i++ {
				add(m, i == 0, audio, false, "speaker")
			}
		}
		for i := 0; i < o.subscribers; i++ {
			add(i%o.meetings, false, none, true, "listener")
		}
	case "chat":
		if o.clients < 2 || o.messages < 1 {
			return nil, fmt.Errorf("chat: --clients must be at least 2 and --messages at least 1")
		}
		p.media = none
		p.chat = &chatLoad{messages: o.messages, rate: o.chatRate, burst: o.chatBurst, ack: newHistogram(), delivery: newHistogram(),
			start: make(chan struct{}), lastSeq: map[*peerStats]int64{}}
		for i := 0; i < o.clients; i++ {
			s := add(i%o.meetings, i < o.meetings, none, false, "chatter")
			s.chat = p.chat
		}
		p.chat.perMeeting = p.perMeeting
	case "churn":
		if o.churnRate <= 0 {
			return nil, fmt.Errorf("churn: --rate must be positive")
		}
		p.churn = true
		for m := 0; m < o.meetings; m++ {
			add(m, true, av, false, "pub")
		}
		// Churners are added while running; reserve room for the ones alive at once.
		alive := int(o.churnRate*o.lifetime.Seconds()) + 2
		for m := 0; m < o.meetings; m++ {
			p.perMeeting[m] += alive/o.meetings + 1
		}
	default:
		return nil, fmt.Errorf("unknown scenario %q", o.scenario)
	}
	return p, nil
}

// chatLoad is the chat scenario's shared state: every client sends `messages` chats and
// measures ack time; every receiver measures delivery time from the sender's stamp.
type chatLoad struct {
	messages   int
	rate       float64
	burst      time.Duration
	perMeeting []int
	start      chan struct{} // closed when everyone has joined
	startOnce  sync.Once

	mu        sync.Mutex
	ack       *histogram
	delivery  *histogram
	sent      atomic.Uint64
	acked     atomic.Uint64
	failed    atomic.Uint64
	delivered atomic.Uint64
	finished  atomic.Int64
	// lastSeq is the highest seq each receiver saw; outOfOrder counts chats that arrived
	// after one with a higher seq (the protocol promises strictly increasing seq).
	lastSeq    map[*peerStats]int64
	outOfOrder atomic.Uint64
}

func (c *chatLoad) run(ctx context.Context, ws *wsConn, st *peerStats) {
	select {
	case <-c.start:
	case <-ctx.Done():
		return
	}
	if c.burst > 0 {
		c.runBurst(ctx, ws, st)
		c.finished.Add(1)
		return
	}
	var tick <-chan time.Time
	if c.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / c.rate))
		defer t.Stop()
		tick = t.C
	}
	for i := 0; i < c.messages; i++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
		}
		c.send(ctx, ws, st, i)
	}
	c.finished.Add(1)
}

// runBurst sends the client's messages at random moments within the burst window, each
// without waiting for the previous one's ack, and returns when every ack (or error) is in.
func (c *chatLoad) runBurst(ctx context.Context, ws *wsConn, st *peerStats) {
	at := make([]time.Duration, c.messages)
	for i := range at {
		at[i] = time.Duration(rand.Int64N(int64(c.burst)))
	}
	slices.Sort(at)
	start := time.Now()
	var wg sync.WaitGroup
	for i, d := range at {
		if !sleepCtx(ctx, d-time.Since(start)) {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(ctx, ws, st, i)
		}()
	}
	wg.Wait()
}

// send sends one stamped chat and records its ack time.
func (c *chatLoad) send(ctx context.Context, ws *wsConn, st *peerStats, i int) {
	sent := time.Now()
	text := fmt.Sprintf("load %d %s #%d", sent.UnixNano(), st.name, i)
	c.sent.Add(1)
	if _, err := ws.request(ctx, "chat_message", chatSendMsg{Text: text}, 10*time.Second); err != nil {
		c.failed.Add(1)
		return
	}
	c.acked.Add(1)
	c.mu.Lock()
	c.ack.record(time.Since(sent).Microseconds())
	c.mu.Unlock()
}

func (c *chatLoad) onChat(m chatMsg, st *peerStats) {
	f := strings.Fields(m.Text)
	if len(f) < 2 || f[0] != "load" {
		return
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return
	}
	c.delivered.Add(1)
	c.mu.Lock()
	c.delivery.record((time.Now().UnixNano() - ns) / 1000)
	if m.Seq <= c.lastSeq[st] {
		c.outOfOrder.Add(1)
	} else {
		c.lastSeq[st] = m.Seq
	}
	c.mu.Unlock()
}

// expectedDeliveries is how many chats every receiver should see in total.
func (c *chatLoad) expectedDeliveries() uint64 {
	var n uint64
	for _, k := range c.perMeeting {
		n += uint64(k) * uint64(k) * uint64(c.messages)
	}
	return n
}
