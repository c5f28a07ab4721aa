package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type latencyResult struct {
	Samples uint64  `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P95Ms   float64 `json:"p95_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
	MeanMs  float64 `json:"mean_ms"`
}

func newLatency(h *histogram) latencyResult {
	if h.n == 0 {
		return latencyResult{}
	}
	return latencyResult{Samples: h.n, P50Ms: round(h.quantile(0.5)/1000, 2), P95Ms: round(h.quantile(0.95)/1000, 2),
		P99Ms: round(h.quantile(0.99)/1000, 2), MaxMs: round(float64(h.max)/1000, 2), MeanMs: round(h.mean()/1000, 2)}
}

type streamResult struct {
	ExpectedPackets uint64        `json:"expected_packets"`
	ReceivedPackets uint64        `json:"received_packets"`
	LostPackets     uint64        `json:"lost_packets"`
	LossPct         float64       `json:"loss_pct"`
	Duplicates      uint64        `json:"duplicates"`
	Reordered       uint64        `json:"reordered"`
	Stale           uint64        `json:"stale"`
	Mbps            float64       `json:"received_mbps"`
	Latency         latencyResult `json:"latency"`
}

func newStream(c seqCounts, bytes uint64, h *histogram, window time.Duration) streamResult {
	s := streamResult{ExpectedPackets: c.Expected, ReceivedPackets: c.Received, LostPackets: c.Lost(),
		Duplicates: c.Dups, Reordered: c.Reordered, Stale: c.Stale,
		Mbps: round(float64(bytes)*8/window.Seconds()/1e6, 3), Latency: newLatency(h)}
	if c.Expected > 0 {
		s.LossPct = round(100*float64(c.Lost())/float64(c.Expected), 3)
	}
	return s
}

type joinResult struct {
	JoinedP50Ms      float64 `json:"ws_to_joined_p50_ms"`
	JoinedP99Ms      float64 `json:"ws_to_joined_p99_ms"`
	FirstMediaP50Ms  float64 `json:"ws_to_first_media_p50_ms"`
	FirstMediaP99Ms  float64 `json:"ws_to_first_media_p99_ms"`
	FirstMediaMaxMs  float64 `json:"ws_to_first_media_max_ms"`
	JoinsPerSecond   float64 `json:"joins_per_second"`
	WithMedia        int     `json:"subscribers_with_media"`
	SubscribersTotal int     `json:"subscribers_total"`
}

type serverResult struct {
	Source                string  `json:"source"` // proc or metrics
	Error                 string  `json:"error,omitempty"`
	CPUSeconds            float64 `json:"cpu_seconds"`
	CPUCores              float64 `json:"cpu_cores"`
	USPerPacket           float64 `json:"cpu_us_per_forwarded_packet"`
	USPerSubscriberSecond float64 `json:"cpu_us_per_subscriber_second"`
	PacketsPerCoreSecond  float64 `json:"forwarded_packets_per_core_second"`
	RSSIdleMB             float64 `json:"rss_idle_mb"`
	RSSMB                 float64 `json:"rss_mb"`
	RSSPerParticipantKB   float64 `json:"rss_per_participant_kb"` // (rss - idle) / participants
	// System calls over the window (perf stat, with --server-pid), per forwarded packet:
	// all of them, and those sending UDP datagrams (sendto + sendmsg + sendmmsg).
	Syscalls              uint64  `json:"syscalls,omitempty"`
	SendSyscalls          uint64  `json:"send_syscalls,omitempty"`
	SyscallsPerPacket     float64 `json:"syscalls_per_forwarded_packet,omitempty"`
	SendSyscallsPerPacket float64 `json:"send_syscalls_per_forwarded_packet,omitempty"`
	// The forwarder's own counters over the window, from its /metrics when it has them
	// (onstage does, the bare forwarder does not).
	SFU *sfuResult `json:"sfu,omitempty"`
}

// sfuResult is what the forwarder did about loss and overload during the window: packets it
// resent in answer to subscribers' NACKs, and packets it dropped rather than send late (a full
// fan-out shard queue, or one that waited there too long).
type sfuResult struct {
	Retransmitted uint64 `json:"retransmitted_packets"`
	QueueDropped  uint64 `json:"fanout_queue_dropped"`
	StaleDropped  uint64 `json:"fanout_stale_dropped"`
}

func newSFUResult(a, b map[string]float64) *sfuResult {
	if a == nil || b == nil {
		return nil
	}
	d := func(name string) uint64 {
		if b[name] < a[name] {
			return 0
		}
		return uint64(b[name] - a[name])
	}
	return &sfuResult{Retransmitted: d(sfuCounterNames[0]), QueueDropped: d(sfuCounterNames[1]),
		StaleDropped: d(sfuCounterNames[2])}
}

// boundResult says whether a run stayed within the limits given by --bound-video-p99 and
// --bound-loss: what an overload run is meant to show.
type boundResult struct {
	VideoP99Ms float64  `json:"max_video_p99_ms,omitempty"`
	LossPct    float64  `json:"max_loss_pct,omitempty"`
	Held       bool     `json:"held"`
	Missed     []string `json:"missed,omitempty"` // each limit not met, with the figure
}

// checkBound compares the run's video p99 and its loss (all media, after NACK recovery: a
// retransmitted packet counts as received) with the limits; nil when no limit was given.
func checkBound(o *options, r *result) *boundResult {
	if o.boundVideoP99 <= 0 && o.boundLoss <= 0 {
		return nil
	}
	b := &boundResult{VideoP99Ms: float64(o.boundVideoP99) / 1e6, LossPct: o.boundLoss}
	if b.VideoP99Ms > 0 {
		switch {
		case r.Video.Latency.Samples == 0:
			b.Missed = append(b.Missed, "no video received")
		case r.Video.Latency.P99Ms >= b.VideoP99Ms:
			b.Missed = append(b.Missed, fmt.Sprintf("video p99 %.0f ms ≥ %.0f ms", r.Video.Latency.P99Ms, b.VideoP99Ms))
		}
	}
	if b.LossPct > 0 && r.Media.LossPct >= b.LossPct {
		b.Missed = append(b.Missed, fmt.Sprintf("loss %.3f%% ≥ %g%%", r.Media.LossPct, b.LossPct))
	}
	b.Held = len(b.Missed) == 0
	return b
}

// String is the bound as a condition, for tables: "video p99 < 400 ms, loss < 1%".
func (b *boundResult) String() string {
	var parts []string
	if b.VideoP99Ms > 0 {
		parts = append(parts, fmt.Sprintf("video p99 < %g ms", b.VideoP99Ms))
	}
	if b.LossPct > 0 {
		parts = append(parts, fmt.Sprintf("loss < %g%%", b.LossPct))
	}
	return strings.Join(parts, ", ")
}

// verdict is "held" or "not held: <what was missed>".
func (b *boundResult) verdict() string {
	if b.Held {
		return "held"
	}
	return "not held: " + strings.Join(b.Missed, "; ")
}

func (s *serverResult) fillSyscalls(c syscallCount, res *result) {
	s.Syscalls = c.All
	s.SendSyscalls = c.Sendto + c.Sendmsg + c.Sendmmsg
	if pk := res.Media.ReceivedPackets + res.Media.Duplicates; pk > 0 {
		s.SyscallsPerPacket = round(float64(s.Syscalls)/float64(pk), 3)
		s.SendSyscallsPerPacket = round(float64(s.SendSyscalls)/float64(pk), 3)
	}
}

func (s *serverResult) fill(idle, a, b procSample, haveIdle bool, res *result) {
	cpu := (b.CPU - a.CPU).Seconds()
	wall := b.At.Sub(a.At).Seconds()
	s.CPUSeconds = round(cpu, 3)
	if wall > 0 {
		s.CPUCores = round(cpu/wall, 3)
	}
	pk := res.Media.ReceivedPackets + res.Media.Duplicates
	if pk > 0 {
		s.USPerPacket = round(cpu*1e6/float64(pk), 3)
		if cpu > 0 {
			s.PacketsPerCoreSecond = round(float64(pk)/cpu, 0)
		}
	}
	if res.Subscribers > 0 && wall > 0 {
		s.USPerSubscriberSecond = round(cpu*1e6/(float64(res.Subscribers)*wall), 1)
	}
	s.RSSMB = round(float64(b.RSSBytes)/(1<<20), 1)
	if haveIdle {
		s.RSSIdleMB = round(float64(idle.RSSBytes)/(1<<20), 1)
		if res.Participants > 0 {
			s.RSSPerParticipantKB = round(float64(b.RSSBytes-idle.RSSBytes)/1024/float64(res.Participants), 1)
		}
	}
}

type chatResult struct {
	Sent                uint64        `json:"sent"`
	Acked               uint64        `json:"acked"`
	Failed              uint64        `json:"failed"`
	Delivered           uint64        `json:"delivered"`
	OutOfOrder          uint64        `json:"out_of_order"`
	ExpectedDeliveries  uint64        `json:"expected_deliveries"`
	DeliveryPct         float64       `json:"delivery_pct"`
	MessagesPerSecond   float64       `json:"messages_per_second"`
	DeliveriesPerSecond float64       `json:"deliveries_per_second"`
	Ack                 latencyResult `json:"ack_latency"`
	Delivery            latencyResult `json:"delivery_latency"`
}

func newChatResult(c *chatLoad, window time.Duration) *chatResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &chatResult{Sent: c.sent.Load(), Acked: c.acked.Load(), Failed: c.failed.Load(), Delivered: c.delivered.Load(),
		OutOfOrder:         c.outOfOrder.Load(),
		ExpectedDeliveries: c.expectedDeliveries(), Ack: newLatency(c.ack), Delivery: newLatency(c.delivery)}
	if r.ExpectedDeliveries > 0 {
		r.DeliveryPct = round(100*float64(r.Delivered)/float64(r.ExpectedDeliveries), 2)
	}
	r.MessagesPerSecond = round(float64(r.Acked)/window.Seconds(), 1)
	r.DeliveriesPerSecond = round(float64(r.Delivered)/window.Seconds(), 1)
	return r
}

type machineInfo struct {
	Cores    int    `json:"cores"`
	CPUModel string `json:"cpu_model"`
	GoOS     string `json:"goos"`
	GoArch   string `json:"goarch"`
	// Contention at the end of the window: the 1-minute load average and the share of time
	// (%) some runnable task waited for a CPU over the last 60 s (/proc/pressure/cpu).
	LoadAvg1      float64 `json:"load_avg_1m"`
	CPUPressure60 float64 `json:"cpu_pressure_some_avg60"`
}

func (m *machineInfo) readContention() {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.LoadAvg1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for _, f := range strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) {
			if v, ok := strings.CutPrefix(f, "avg60="); ok {
				m.CPUPressure60, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
}

func readMachine() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), GoOS: runtime.GOOS, GoArch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

type result struct {
	Target           string         `json:"target"` // onstage or bare-pion
	Scenario         string         `json:"scenario"`
	StartedAt        time.Time      `json:"started_at"`
	Config           map[string]any `json:"config"`
	Machine          machineInfo    `json:"machine"`
	Meetings         int            `json:"meetings"`
	Participants     int            `json:"participants"`
	Publishers       int            `json:"publishers"`
	Subscribers      int            `json:"subscribers"`
	Joined           int            `json:"joined"`
	Failed           int            `json:"failed"`
	Errors           []string       `json:"errors,omitempty"`
	AllReady         bool           `json:"all_ready"`
	JoinPhaseSeconds float64        `json:"join_phase_seconds"`
	WindowSeconds    float64        `json:"window_seconds"`
	Join             joinResult     `json:"join"`
	Media            streamResult   `json:"media"`
	Audio            streamResult   `json:"audio"`
	Video            streamResult   `json:"video"`
	PerSubscriberKbs float64        `json:"per_subscriber_kbps"`
	Server           serverResult   `json:"server"`
	Client           struct {
		CPUCores   float64 `json:"cpu_cores"`
		RSSMB      float64 `json:"rss_mb"`
		Goroutines int     `json:"goroutines"` // at the end of the window: mostly Pion's, per connection
	} `json:"client"`
	Bound *boundResult        `json:"bound,omitempty"`
	Chat  *chatResult         `json:"chat,omitempty"`
	Peers []participantResult `json:"participants_detail,omitempty"`
}

// participantResult is one participant's join timeline, in ms since its WebSocket opened.
type participantResult struct {
	Name                  string  `json:"name"`
	Meeting               int     `json:"meeting"`
	JoinedMs              float64 `json:"joined_ms,omitempty"`
	PublishedMs           float64 `json:"published_ms,omitempty"`
	SubscriberOfferMs     float64 `json:"subscriber_offer_ms,omitempty"`
	SubscriberConnectedMs float64 `json:"subscriber_connected_ms,omitempty"`
	FirstMediaMs          float64 `json:"first_media_ms,omitempty"`
	LossPct               float64 `json:"loss_pct"`
	Error                 string  `json:"error,omitempty"`
}

func newResult(o *options, tgt string, p *plan) *result {
	cfg := map[string]any{
		"duration": o.duration.String(), "ramp": o.ramp, "video_bitrate": o.videoBitrate, "simulcast": o.simulcast,
		"codec": o.codec.String(), "meetings": o.meetings,
	}
	switch o.scenario {
	case "livestream":
		cfg["subscribers"] = o.subscribers
	case "meeting":
		cfg["participants"] = o.participants
	case "audio":
		cfg["publishers"], cfg["subscribers"] = o.publishers, o.subscribers
	case "chat":
		cfg["clients"], cfg["messages"], cfg["chat_rate"] = o.clients, o.messages, o.chatRate
		if o.chatBurst > 0 {
			cfg["chat_burst_s"] = o.chatBurst.Seconds()
		}
	case "churn":
		cfg["rate"], cfg["lifetime"] = o.churnRate, o.lifetime.String()
	}
	return &result{Target: tgt, Scenario: o.scenario, StartedAt: time.Now().UTC(), Config: cfg,
		Machine: readMachine(), Meetings: p.meetings}
}

// fill computes the participant and media figures from the peers' stats.
func (res *result) fill(peers []*peerStats, window time.Duration, start time.Time) {
	res.WindowSeconds = round(window.Seconds(), 3)
	res.Participants = len(peers)
	lat := [2]*histogram{newHistogram(), newHistogram()}
	var counts [2]seqCounts
	var bytes [2]uint64
	var joined, media []float64
	var firstOpen, lastJoin int64
	for _, st := range peers {
		if st.publishes {
			res.Publishers++
		}
		if st.subscribe {
			res.Subscribers++
		}
		if st.failed.Load() {
			res.Failed++
			if len(res.Errors) < 10 {
				res.Errors = append(res.Errors, st.name+": "+st.errString())
			}
		}
		open, j, fm := st.wsOpen.Load(), st.joined.Load(), st.firstMedia.Load()
		if open != 0 && (firstOpen == 0 || open < firstOpen) {
			firstOpen = open
		}
		if j != 0 {
			res.Joined++
			joined = append(joined, float64(j-open)/1e6)
			if j > lastJoin {
				lastJoin = j
			}
		}
		if st.subscribe {
			res.Join.SubscribersTotal++
			if fm != 0 {
				res.Join.WithMedia++
				media = append(media, float64(fm-open)/1e6)
			}
		}
		c, b := st.windowCounts()
		pr := participantResult{Name: st.name, Meeting: st.meeting + 1, Error: st.errString()}
		since := func(t int64) float64 {
			if t == 0 || open == 0 {
				return 0
			}
			return round(float64(t-open)/1e6, 1)
		}
		pr.JoinedMs, pr.PublishedMs, pr.FirstMediaMs = since(j), since(st.published.Load()), since(fm)
		pr.SubscriberOfferMs, pr.SubscriberConnectedMs = since(st.subOffer.Load()), since(st.subConn.Load())
		var pc seqCounts
		pc.add(c[0])
		pc.add(c[1])
		if pc.Expected > 0 {
			pr.LossPct = round(100*float64(pc.Lost())/float64(pc.Expected), 3)
		}
		res.Peers = append(res.Peers, pr)
		for k := 0; k < 2; k++ {
			counts[k].add(c[k])
			bytes[k] += b[k]
		}
		st.mergeLatency(&lat)
	}
	res.Join.JoinedP50Ms, res.Join.JoinedP99Ms = quantilesMs(joined)
	res.Join.FirstMediaP50Ms, res.Join.FirstMediaP99Ms = quantilesMs(media)
	res.Join.FirstMediaMaxMs = round(percentile(media, 100), 1)
	if lastJoin > firstOpen && res.Joined > 1 {
		res.Join.JoinsPerSecond = round(float64(res.Joined)/(float64(lastJoin-firstOpen)/1e9), 1)
	}
	res.Audio = newStream(counts[kindAudio], bytes[kindAudio], lat[kindAudio], window)
	res.Video = newStream(counts[kindVideo], bytes[kindVideo], lat[kindVideo], window)
	var all seqCounts
	all.add(counts[0])
	all.add(counts[1])
	both := newHistogram()
	both.merge(lat[0])
	both.merge(lat[1])
	res.Media = newStream(all, bytes[0]+bytes[1], both, window)
	if res.Subscribers > 0 {
		res.PerSubscriberKbs = round(res.Media.Mbps*1000/float64(res.Subscribers), 1)
	}
}

func fmtF(v float64, unit string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.4g%s", v, unit)
}

// printTable writes the summary of one or more results side by side.
func printTable(w io.Writer, results []*result, ratio float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, f func(r *result) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t", f(r))
		}
		fmt.Fprintln(tw)
	}
	row("target", func(r *result) string { return r.Target })
	row("scenario", func(r *result) string { return r.Scenario })
	row("meetings", func(r *result) string { return fmt.Sprint(r.Meetings) })
	row("participants (pub/sub)", func(r *result) string {
		return fmt.Sprintf("%d (%d/%d)", r.Participants, r.Publishers, r.Subscribers)
	})
	row("joined / failed", func(r *result) string { return fmt.Sprintf("%d / %d", r.Joined, r.Failed) })
	row("window", func(r *result) string { return fmt.Sprintf("%.1fs", r.WindowSeconds) })
	if results[0].Chat == nil {
		row("join → first media p50/p99", func(r *result) string {
			return fmt.Sprintf("%s / %s", fmtF(r.Join.FirstMediaP50Ms, " ms"), fmtF(r.Join.FirstMediaP99Ms, " ms"))
		})
	}
	row("ws → joined p50/p99", func(r *result) string {
		return fmt.Sprintf("%s / %s", fmtF(r.Join.JoinedP50Ms, " ms"), fmtF(r.Join.JoinedP99Ms, " ms"))
	})
	row("joins/s", func(r *result) string { return fmtF(r.Join.JoinsPerSecond, "") })
	if results[0].Chat == nil {
		row("received pkt/s", func(r *result) string {
			return fmt.Sprintf("%.0f", float64(r.Media.ReceivedPackets)/r.WindowSeconds)
		})
		row("received Mbit/s (per sub kbit/s)", func(r *result) string {
			return fmt.Sprintf("%.1f (%.0f)", r.Media.Mbps, r.PerSubscriberKbs)
		})
		row("loss % (lost/expected)", func(r *result) string {
			return fmt.Sprintf("%.3f%% (%d/%d)", r.Media.LossPct, r.Media.LostPackets, r.Media.ExpectedPackets)
		})
		row("duplicates / reordered", func(r *result) string {
			return fmt.Sprintf("%d / %d", r.Media.Duplicates, r.Media.Reordered)
		})
		lat := func(name string, pick func(r *result) latencyResult) {
			row(name, func(r *result) string {
				l := pick(r)
				if l.Samples == 0 {
					return "-"
				}
				return fmt.Sprintf("%.2f / %.2f / %.2f ms", l.P50Ms, l.P95Ms, l.P99Ms)
			})
		}
		lat("video latency p50/p95/p99", func(r *result) latencyResult { return r.Video.Latency })
		lat("audio latency p50/p95/p99", func(r *result) latencyResult { return r.Audio.Latency })
		row("server CPU (cores)", func(r *result) string {
			if r.Server.Error != "" && r.Server.CPUSeconds == 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.2fs (%.2f)", r.Server.CPUSeconds, r.Server.CPUCores)
		})
		row("server µs / forwarded pkt", func(r *result) string { return fmtF(r.Server.USPerPacket, " µs") })
		row("server pkt / core-second", func(r *result) string { return fmt.Sprintf("%.0f", r.Server.PacketsPerCoreSecond) })
		row("server µs / subscriber-second", func(r *result) string { return fmt.Sprintf("%.0f µs", r.Server.USPerSubscriberSecond) })
		row("server syscalls / forwarded pkt (send)", func(r *result) string {
			if r.Server.Syscalls == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f (%.2f)", r.Server.SyscallsPerPacket, r.Server.SendSyscallsPerPacket)
		})
		if anyResult(results, func(r *result) bool { return r.Server.SFU != nil }) {
			row("server retransmitted / queue-dropped / stale-dropped pkts", func(r *result) string {
				if r.Server.SFU == nil {
					return "–"
				}
				return fmt.Sprintf("%d / %d / %d", r.Server.SFU.Retransmitted, r.Server.SFU.QueueDropped, r.Server.SFU.StaleDropped)
			})
		}
	} else {
		row("chat acked / sent (failed)", func(r *result) string {
			return fmt.Sprintf("%d / %d (%d)", r.Chat.Acked, r.Chat.Sent, r.Chat.Failed)
		})
		row("chat delivered", func(r *result) string {
			return fmt.Sprintf("%d / %d (%.2f%%)", r.Chat.Delivered, r.Chat.ExpectedDeliveries, r.Chat.DeliveryPct)
		})
		row("chat out of seq order", func(r *result) string { return fmt.Sprintf("%d", r.Chat.OutOfOrder) })
		row("chat msg/s, deliveries/s", func(r *result) string {
			return fmt.Sprintf("%.0f, %.0f", r.Chat.MessagesPerSecond, r.Chat.DeliveriesPerSecond)
		})
		row("ack p50/p99", func(r *result) string {
			return fmt.Sprintf("%.2f / %.2f ms", r.Chat.Ack.P50Ms, r.Chat.Ack.P99Ms)
		})
		row("delivery p50/p99", func(r *result) string {
			return fmt.Sprintf("%.2f / %.2f ms", r.Chat.Delivery.P50Ms, r.Chat.Delivery.P99Ms)
		})
		row("server CPU (cores)", func(r *result) string {
			return fmt.Sprintf("%.2fs (%.2f)", r.Server.CPUSeconds, r.Server.CPUCores)
		})
	}
	row("server RSS (per participant)", func(r *result) string {
		return fmt.Sprintf("%.0f MB (%.0f KB)", r.Server.RSSMB, r.Server.RSSPerParticipantKB)
	})
	row("load generator CPU (cores), goroutines", func(r *result) string {
		return fmt.Sprintf("%.2f, %d", r.Client.CPUCores, r.Client.Goroutines)
	})
	row("machine load avg / CPU pressure", func(r *result) string {
		return fmt.Sprintf("%.1f / %.0f%%", r.Machine.LoadAvg1, r.Machine.CPUPressure60)
	})
	if anyResult(results, func(r *result) bool { return r.Bound != nil }) {
		row("bound", func(r *result) string {
			if r.Bound == nil {
				return "–"
			}
			return r.Bound.String() + ": " + r.Bound.verdict()
		})
	}
	tw.Flush()
	for _, r := range results {
		if r.Server.Error != "" {
			fmt.Fprintf(w, "note: %s server cost: %s\n", r.Target, r.Server.Error)
		}
		for _, e := range r.Errors {
			fmt.Fprintf(w, "error: %s: %s\n", r.Target, e)
		}
	}
	if ratio > 0 {
		fmt.Fprintf(w, "cost ratio = onstage µs/pkt ÷ bare-Pion µs/pkt = %.3f / %.3f = %.2f\n",
			results[0].Server.USPerPacket, results[1].Server.USPerPacket, ratio)
	}
}

func anyResult(results []*result, f func(*result) bool) bool {
	for _, r := range results {
		if f(r) {
			return true
		}
	}
	return false
}

// report is what --json writes.
type report struct {
	Results   []*result `json:"results"`
	CostRatio float64   `json:"cost_ratio,omitempty"`
}

// printJSON writes the report as indented JSON to w.
func printJSON(w io.Writer, rep report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\n%s\n", b)
	return err
}

func writeJSON(path string, rep report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
