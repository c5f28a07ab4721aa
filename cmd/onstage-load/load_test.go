package main

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

type capture struct{ pkts []rtp.Packet }

func (c *capture) WriteRTP(p *rtp.Packet) error {
	q := *p
	q.Payload = append([]byte(nil), p.Payload...)
	c.pkts = append(c.pkts, q)
	return nil
}

func TestStampRoundTrip(t *testing.T) {
	s := stamp{Kind: kindVideo, Tag: 0xdeadbeef, Counter: math.MaxUint32, SentUnix: time.Now().UnixNano()}
	b := make([]byte, stampLen)
	putStamp(b, s)
	got, err := parseStamp(b)
	if err != nil || got != s {
		t.Fatalf("parseStamp = %+v, %v; want %+v", got, err, s)
	}
	if _, err := parseStamp(b[:stampLen-1]); err == nil {
		t.Fatal("short stamp accepted")
	}
	b[0] = 'x'
	if _, err := parseStamp(b); err == nil {
		t.Fatal("bad magic accepted")
	}
}

func TestGeneratorPacketsCarryStamps(t *testing.T) {
	for _, c := range []codec{codecOpus, codecVP8, codecH264} {
		t.Run(c.String(), func(t *testing.T) {
			out := &capture{}
			g := newGenerator(c, 1_000_000, out)
			now := time.Now()
			g.frame(now) // the first video frame is a keyframe
			g.frame(now.Add(33 * time.Millisecond))
			g.requestKeyframe()
			g.frame(now.Add(time.Second)) // a PLI-driven keyframe
			var want uint32 = 1
			stamped, unstamped := 0, 0
			for i, p := range out.pkts {
				st, err := readStamp(c, p.Payload)
				if err != nil {
					unstamped++
					if c != codecH264 || p.Payload[0]&0x1f != 24 {
						t.Fatalf("packet %d (% x…): %v", i, p.Payload[:4], err)
					}
					continue
				}
				stamped++
				if st.Tag != g.tag || st.Counter != want {
					t.Fatalf("packet %d: stamp %+v, want tag %x counter %d", i, st, g.tag, want)
				}
				want++
				if c == codecOpus && st.Kind != kindAudio || c != codecOpus && st.Kind != kindVideo {
					t.Fatalf("packet %d: kind %d", i, st.Kind)
				}
				if d := time.Since(time.Unix(0, st.SentUnix)); d < 0 || d > time.Minute {
					t.Fatalf("packet %d: send time %v ago", i, d)
				}
			}
			if c == codecH264 && unstamped != 2 {
				t.Fatalf("%d unstamped packets, want 2 STAP-A", unstamped)
			}
			if c != codecOpus && stamped < 6 {
				t.Fatalf("only %d stamped packets for three frames", stamped)
			}
			if g.keyframes.Load() != map[codec]uint64{codecOpus: 0, codecVP8: 2, codecH264: 2}[c] {
				t.Fatalf("%d keyframes", g.keyframes.Load())
			}
			if c == codecVP8 {
				first := out.pkts[0].Payload
				if first[0]&0x10 == 0 || first[1]&1 != 0 || string(first[4:7]) != "\x9d\x01\x2a" {
					t.Fatalf("first VP8 packet is not a keyframe start: % x", first[:10])
				}
			}
		})
	}
}

func TestVP8ExtendedDescriptor(t *testing.T) {
	// X=1, S=1; I (15-bit picture id), L, T: 1 + 1 + 2 + 1 + 1 = 6 bytes, then a delta frame tag.
	p := []byte{0x90, 0xe0, 0x80, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00}
	s := stamp{Kind: kindVideo, Tag: 7, Counter: 9, SentUnix: 42}
	b := make([]byte, stampLen)
	putStamp(b, s)
	got, err := readStamp(codecVP8, append(p, b...))
	if err != nil || got != s {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestSeqTracker(t *testing.T) {
	var tr seqTracker
	for _, c := range []uint32{10, 11, 12, 14, 15} { // 13 lost
		tr.push(c)
	}
	if c := tr.counts(); c.Expected != 6 || c.Received != 5 || c.Lost() != 1 {
		t.Fatalf("loss: %+v", c)
	}
	tr.push(13) // late: no longer lost
	if !tr.push(13) || !tr.push(15) {
		t.Fatal("duplicates not detected")
	}
	if c := tr.counts(); c.Lost() != 0 || c.Dups != 2 || c.Reordered != 1 {
		t.Fatalf("reorder/dups: %+v", c)
	}
	tr.push(15 + 2*seqWindow) // a big jump: everything in between lost
	tr.push(16)               // far too old now
	if c := tr.counts(); c.Stale != 1 || c.Lost() != 2*seqWindow-1 {
		t.Fatalf("jump: %+v", c)
	}
}

func TestSeqTrackerWrap(t *testing.T) {
	var tr seqTracker
	start := uint32(math.MaxUint32 - 5)
	n := 0
	for i := uint32(0); i < 20; i++ {
		c := start + i // wraps after 5
		if i == 8 {
			continue // lost, after the wrap
		}
		tr.push(c)
		n++
	}
	tr.push(start + 3) // duplicate from before the wrap
	tr.push(start + 8) // the lost one, late, after the wrap
	if c := tr.counts(); c.Expected != 20 || c.Received != 20 || c.Lost() != 0 || c.Dups != 1 || c.Reordered != 1 {
		t.Fatalf("wrap: %+v", c)
	}
	// A stream whose first packet arrives just after the wrap, followed by one from before.
	var tr2 seqTracker
	tr2.push(1)
	tr2.push(math.MaxUint32)
	tr2.push(2)
	if c := tr2.counts(); c.Expected != 4 || c.Received != 3 || c.Lost() != 1 {
		t.Fatalf("wrap at start: %+v", c)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}, {0, 1}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("empty percentile is not NaN")
	}
}

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	var vals []float64
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		v := int64(r.ExpFloat64() * 3000) // µs, long tail
		h.record(v)
		vals = append(vals, float64(v))
	}
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		exact := percentile(vals, q*100)
		got := h.quantile(q)
		if math.Abs(got-exact) > 0.02*exact+1 {
			t.Errorf("q%.3f = %.1f, exact %.1f", q, got, exact)
		}
	}
	small := newHistogram()
	for v := int64(1); v <= 100; v++ {
		small.record(v)
	}
	if small.quantile(0.5) != 50 || small.quantile(0.99) != 99 || small.quantile(1) != 100 {
		t.Errorf("exact range: %v %v %v", small.quantile(0.5), small.quantile(0.99), small.quantile(1))
	}
	for _, v := range []int64{127, 128, 1000, 123456, 1 << 35} {
		if got := histValue(histIndex(v)); math.Abs(got-float64(v)) > 0.016*float64(v)+0.5 {
			t.Errorf("bucket of %d = %v", v, got)
		}
	}
}

func TestParseProc(t *testing.T) {
	stat := "4242 (on stage) (x)) S 1 4242 4242 0 -1 4194560 1530 0 0 0 250 75 0 0 20 0 12 0 1000 123456789 5000 18446744073709551615\n"
	cpu, err := parseProcStat([]byte(stat))
	if err != nil || cpu != 3250*time.Millisecond {
		t.Fatalf("parseProcStat = %v, %v; want 3.25s", cpu, err)
	}
	if _, err := parseProcStat([]byte("12 (x) S 1 2")); err == nil {
		t.Fatal("short stat accepted")
	}
	status := "Name:\tonstage\nVmPeak:\t  200000 kB\nVmRSS:\t   51200 kB\nThreads:\t12\n"
	rss, err := parseProcStatusRSS([]byte(status))
	if err != nil || rss != 50<<20 {
		t.Fatalf("parseProcStatusRSS = %v, %v", rss, err)
	}
	// This process.
	s, err := readProc(1)
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if s.RSSBytes < 0 {
		t.Fatalf("readProc: %+v", s)
	}
	metrics := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
go_goroutines 42
process_resident_memory_bytes 5.24288e+07
onstage_x{a="b c"} 3
`
	m, err := parseMetrics(strings.NewReader(metrics))
	if err != nil || m.CPU != 12500*time.Millisecond || m.RSSBytes != 52428800 {
		t.Fatalf("parseMetrics = %+v, %v", m, err)
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines 1\n")); err == nil {
		t.Fatal("metrics without process collectors accepted")
	}
}

// TestBaselineForwarder runs the bare forwarder in-process: one publisher, three subscribers,
// about two seconds of media.
func TestBaselineForwarder(t *testing.T) {
	f, err := newBareForwarder()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	defer f.closeAll()
	api, err := newAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	subAPI, err := newSubscriberAPI(true, false)
	if err != nil {
		t.Fatal(err)
	}
	g := &counters{}
	tgt := &bareTarget{base: srv.URL, api: api, subAPI: subAPI, g: g}
	o := &options{scenario: "livestream", subscribers: 3, duration: 2 * time.Second, ramp: 50,
		videoBitrate: 300_000, codec: codecVP8, meetings: 1, quiet: true, joinTimeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := runScenario(ctx, o, tgt, g, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Subscribers != 3 || res.Join.WithMedia != 3 || res.Failed != 0 {
		t.Fatalf("subscribers %d, with media %d, failed %d: %v", res.Subscribers, res.Join.WithMedia, res.Failed, res.Errors)
	}
	// 2 s × (30 fps video + 50 pps audio) × 3 subscribers ≈ 480 packets.
	if res.Video.ReceivedPackets < 150 || res.Audio.ReceivedPackets < 150 {
		t.Fatalf("received video %d, audio %d packets", res.Video.ReceivedPackets, res.Audio.ReceivedPackets)
	}
	if res.Media.LossPct > 5 || res.Media.Latency.Samples == 0 {
		t.Fatalf("loss %.2f%%, %d latency samples", res.Media.LossPct, res.Media.Latency.Samples)
	}
}

func TestChart(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, n := range []int{25, 50} {
		r := &result{Target: "onstage", Scenario: "livestream", Subscribers: n}
		r.Server.USPerPacket = float64(10 + i)
		r.Video.Latency = latencyResult{Samples: 10, P99Ms: float64(3 + i)}
		f := dir + "/" + strings.Repeat("x", i+1) + ".json"
		if err := writeJSON(f, report{Results: []*result{r}}); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	var sb strings.Builder
	if err := writeChart(files, &sb); err != nil {
		t.Fatal(err)
	}
	svg := sb.String()
	if !strings.HasPrefix(svg, "<svg") || strings.Count(svg, "<polyline") != 2 || !strings.Contains(svg, "onstage livestream") {
		t.Fatalf("unexpected chart:\n%s", svg)
	}
}

func TestParsePerfStat(t *testing.T) {
	out := "12345,,raw_syscalls:sys_enter,2000000000,100.00,,\n" +
		"9000,,syscalls:sys_enter_sendto,2000000000,100.00,,\n" +
		"<not counted>,,syscalls:sys_enter_sendmsg,0,0.00,,\n" +
		"30,,syscalls:sys_enter_sendmmsg,2000000000,100.00,,\n"
	c, err := parsePerfStat(out)
	if err != nil {
		t.Fatal(err)
	}
	if c != (syscallCount{All: 12345, Sendto: 9000, Sendmmsg: 30}) {
		t.Fatalf("got %+v", c)
	}
	if _, err := parsePerfStat("<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n"); err == nil {
		t.Fatal("nothing counted, no error")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseCounters(t *testing.T) {
	metrics := `# HELP onstage_sfu_retransmitted_packets_total Packets resent.
# TYPE onstage_sfu_retransmitted_packets_total counter
onstage_sfu_retransmitted_packets_total 1234
onstage_sfu_fanout_queue_dropped_total 5
onstage_sfu_forwarded_packets_total 99
onstage_http_requests_total{route="/metrics"} 7
`
	m, err := parseCounters(strings.NewReader(metrics), sfuCounterNames)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["onstage_sfu_retransmitted_packets_total"] != 1234 || m["onstage_sfu_fanout_queue_dropped_total"] != 5 {
		t.Fatalf("parseCounters = %v", m)
	}
	end := map[string]float64{sfuCounterNames[0]: 1300, sfuCounterNames[1]: 5, sfuCounterNames[2]: 2}
	if got := newSFUResult(m, end); *got != (sfuResult{Retransmitted: 66, QueueDropped: 0, StaleDropped: 2}) {
		t.Fatalf("newSFUResult = %+v", got)
	}
	if newSFUResult(nil, end) != nil {
		t.Fatal("a window without a first scrape gave figures")
	}
}

func TestCheckBound(t *testing.T) {
	run := func(p99, loss float64, videoSamples uint64) *result {
		r := &result{}
		r.Video.Latency = latencyResult{Samples: videoSamples, P99Ms: p99}
		r.Media.LossPct = loss
		return r
	}
	for _, tc := range []struct {
		name     string
		p99      time.Duration
		loss     float64
		r        *result
		held     bool
		nMissed  int
		noResult bool
	}{
		{name: "no bound", r: run(900, 5, 10), noResult: true},
		{name: "within", p99: 400 * time.Millisecond, loss: 1, r: run(31, 0.2, 10), held: true},
		{name: "slow", p99: 400 * time.Millisecond, loss: 1, r: run(627, 0.26, 10), nMissed: 1},
		{name: "slow and lossy", p99: 400 * time.Millisecond, loss: 1, r: run(627, 1.5, 10), nMissed: 2},
		{name: "at the limit", p99: 400 * time.Millisecond, r: run(400, 0, 10), nMissed: 1},
		{name: "no video", p99: 400 * time.Millisecond, r: run(0, 0, 0), nMissed: 1},
		{name: "loss only", loss: 1, r: run(900, 0.5, 10), held: true},
	} {
		b := checkBound(&options{boundVideoP99: tc.p99, boundLoss: tc.loss}, tc.r)
		if tc.noResult {
			if b != nil {
				t.Errorf("%s: bound %+v without limits", tc.name, b)
			}
			continue
		}
		if b == nil || b.Held != tc.held || len(b.Missed) != tc.nMissed {
			t.Errorf("%s: checkBound = %+v, want held %v with %d missed", tc.name, b, tc.held, tc.nMissed)
		}
	}
}

// TestSummaryOverload checks that a run made with a bound is listed on its own, with its
// verdict, and stays out of the medians and the memory slope.
func TestSummaryOverload(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, subs int, rss float64, b *boundResult) string {
		on := &result{Target: "onstage", Scenario: "livestream", Subscribers: subs, Bound: b}
		on.Server.RSSMB = rss
		on.Video.Latency = latencyResult{Samples: 100, P50Ms: 18, P95Ms: 247, P99Ms: 627}
		on.Server.SFU = &sfuResult{Retransmitted: 42, QueueDropped: 1, StaleDropped: 3}
		bare := &result{Target: "bare-pion", Scenario: "livestream", Subscribers: subs, Bound: b}
		path := dir + "/" + name
		if err := writeJSON(path, report{Results: []*result{on, bare}, CostRatio: 0.8}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	files := []string{
		write("ls-10.json", 10, 60, nil),
		write("ls-50.json", 50, 80, nil),
		write("overload.json", 200, 900, &boundResult{VideoP99Ms: 400, LossPct: 1, Missed: []string{"video p99 627 ms ≥ 400 ms"}}),
	}
	var out strings.Builder
	if err := writeSummary(files, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"memory slope onstage livestream: (RSS at →50 − RSS at →10) ÷ 40 = 512 KB per subscriber",
		"overload runs",
		"| livestream 1→200 | onstage | 0.0 | 0.80 | 900.0 | 0.000 (0.000) | 18.0 / 247.0 / 627.0 | 0.0 | 42 / 1 / 3 |",
		"overload livestream 1→200, onstage: bound (video p99 < 400 ms, loss < 1%) not held: video p99 627 ms ≥ 400 ms",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "| livestream →200 |") {
		t.Errorf("the overload run is in the medians:\n%s", s)
	}
}

// TestOnPacketAllocatesNothing: at 1→200 the receive path runs 35k times a second on the
// cores the server is measured on.
func TestOnPacketAllocatesNothing(t *testing.T) {
	st := newPeerStats("s", 0)
	g := &counters{}
	payload := make([]byte, 1+stampLen+60)
	p := &rtp.Packet{Payload: payload}
	var n uint32
	next := func() {
		n++
		putStamp(payload[1:], stamp{Kind: kindAudio, Tag: 7, Counter: n, SentUnix: time.Now().UnixNano()})
		st.onPacket(codecOpus, p, time.Now(), g)
	}
	next() // the stream's first packet creates its record
	if a := testing.AllocsPerRun(1000, next); a != 0 {
		t.Fatalf("onPacket: %v allocations per packet", a)
	}
	if c := st.liveCounts(); c.Received != uint64(n) || c.Lost() != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// A subscriber answers onstage's ICE-lite offer with setup:active, as a browser
// does, and is the DTLS client. Pion's default (passive) makes the server the
// DTLS client, whose ClientHello arrives before the subscriber is connected
// and can be dropped, which delays the join by a retransmission (1 s).
func TestSubscriberAnswersDTLSActive(t *testing.T) {
	m, err := newMediaEngine()
	if err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetLite(true)
	server, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if _, err := server.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := server.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(offer.SDP, "a=ice-lite") || !strings.Contains(offer.SDP, "a=setup:actpass") {
		t.Fatalf("offer is not an ICE-lite actpass offer:\n%s", offer.SDP)
	}
	api, err := newSubscriberAPI(true, false)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := sub.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer.SDP, "a=setup:active") {
		t.Fatalf("subscriber answer does not make it the DTLS client:\n%s", answer.SDP)
	}
}
