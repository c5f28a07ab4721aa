// Command onstage-load is the load generator and benchmark client of onstage. It runs real
// pion/webrtc peers in one process; each joins over /ws exactly as a browser would and sends or
// receives synthetic, stamped media, so that subscribers measure one-way latency, loss and
// join time, while the server's CPU and memory are sampled.
//
//	onstage-load livestream --subscribers 50          1 publisher → N subscribers
//	onstage-load meeting --participants 4 --meetings 4 P participants, all publish and subscribe
//	onstage-load audio --publishers 5 --subscribers 200
//	onstage-load chat --clients 50 --messages 20
//	onstage-load chat --clients 100 --messages 10 --burst 2s   1000 chats within 2 s
//	onstage-load churn --rate 5 --lifetime 10s
//	onstage-load baseline livestream --subscribers 50 the same, through a bare Pion forwarder
//	onstage-load livestream --subscribers 50 --baseline  both, and the cost ratio
//	onstage-load chart results/*.json > bench.svg
//	onstage-load baseline-server --listen ADDR         the bare forwarder (started by the tool)
//	onstage-load free-port; onstage-load wait --url URL  helpers for bench.sh
//
// The exit status is 1 when subscribers were expected to receive media and none arrived.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: onstage-load <scenario> [flags]
       onstage-load baseline <scenario> [flags]
       onstage-load chart FILE.json... > chart.svg
       onstage-load summary FILE.json...   (medians of repeated runs, memory slope)
       onstage-load free-port | wait --url URL [--timeout 60s]   (helpers for scripts)
scenarios: livestream, meeting, audio, chat, churn
run "onstage-load <scenario> -h" for the flags`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

var errNoMedia = errors.New("no media arrived at any subscriber")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	bare := false
	switch cmd {
	case "baseline-server":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(stderr)
		listen := fs.String("listen", "127.0.0.1:0", "address to serve the forwarder's signaling on")
		if err := fs.Parse(args); err != nil {
			return 2
		}
		// Stop when the parent closes stdin (or goes away).
		cctx, cancel := context.WithCancel(ctx)
		go func() { _, _ = io.Copy(io.Discard, stdin); cancel() }()
		if err := serveBaseline(cctx, *listen, stdout); err != nil {
			fmt.Fprintln(stderr, "onstage-load baseline-server:", err)
			return 1
		}
		return 0
	case "free-port": // for scripts: print a free TCP port on 127.0.0.1
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "onstage-load free-port:", err)
			return 1
		}
		fmt.Fprintln(stdout, ln.Addr().(*net.TCPAddr).Port)
		_ = ln.Close()
		return 0
	case "wait": // for scripts: wait until URL/healthz answers 200
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(stderr)
		u := fs.String("url", "http://127.0.0.1:8080", "the onstage node's base URL")
		timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if err := waitHealthy(ctx, strings.TrimRight(*u, "/"), *timeout); err != nil {
			fmt.Fprintln(stderr, "onstage-load wait:", err)
			return 1
		}
		return 0
	case "summary":
		if err := writeSummary(args, stdout); err != nil {
			fmt.Fprintln(stderr, "onstage-load summary:", err)
			return 1
		}
		return 0
	case "chart":
		if err := writeChart(args, stdout); err != nil {
			fmt.Fprintln(stderr, "onstage-load chart:", err)
			return 1
		}
		return 0
	case "baseline":
		if len(args) == 0 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		bare = true
		cmd, args = args[0], args[1:]
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	o, err := parseFlags(cmd, args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "onstage-load:", err)
		return 2
	}
	o.bareOnly = bare
	if err := runMain(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "onstage-load:", err)
		return 1
	}
	return 0
}

func parseFlags(scenario string, args []string, stderr io.Writer) (*options, error) {
	switch scenario {
	case "livestream", "meeting", "audio", "chat", "churn":
	default:
		return nil, fmt.Errorf("unknown scenario %q\n%s", scenario, usage)
	}
	o := &options{scenario: scenario}
	fs := flag.NewFlagSet("onstage-load "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the onstage node's base URL; several, comma-separated, "+
		"spread the participants over the nodes of a cluster (participant i uses URL i mod n; the first creates the meetings)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measurement window, after everyone has joined")
	fs.Float64Var(&o.ramp, "ramp", 20, "joins per second")
	fs.IntVar(&o.videoBitrate, "video-bitrate", 1_000_000, "video bitrate in bit/s (the top layer with --simulcast)")
	fs.BoolVar(&o.simulcast, "simulcast", false, "publish video as three simulcast layers (q, h, f)")
	codecName := fs.String("codec", "vp8", "video codec: vp8 or h264")
	fs.IntVar(&o.meetings, "meetings", 1, "spread the participants over this many meetings")
	fs.StringVar(&o.jsonFile, "json", "", "write every figure as JSON to this file (\"-\": standard output); "+
		"without it, the figures except the per-participant detail are printed as JSON after the table")
	fs.IntVar(&o.serverPID, "server-pid", 0, "read the server's CPU and RSS from /proc/<pid> (otherwise from /metrics)")
	fs.BoolVar(&o.baseline, "baseline", false, "also run the same scenario through a bare Pion forwarder and print the cost ratio")
	fs.BoolVar(&o.baseline, "compare", false, "same as --baseline")
	fs.BoolVar(&o.loopbackOnly, "loopback-only", false, "gather ICE candidates on the loopback interface only")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "wait after everyone has joined before measuring")
	fs.DurationVar(&o.boundVideoP99, "bound-video-p99", 0, "report whether video p99 latency stayed below this (an overload run; 0: no check)")
	fs.Float64Var(&o.boundLoss, "bound-loss", 0, "report whether loss after NACK recovery stayed below this percentage (0: no check)")
	fs.DurationVar(&o.joinTimeout, "join-timeout", 0, "give up waiting for joins after this long (default 30 s + participants/ramp)")
	switch scenario {
	case "livestream":
		fs.IntVar(&o.subscribers, "subscribers", 10, "subscribers (in total, over all meetings)")
	case "meeting":
		fs.IntVar(&o.participants, "participants", 4, "participants per meeting, each publishing audio+video and subscribing to all")
	case "audio":
		fs.IntVar(&o.publishers, "publishers", 5, "audio publishers per meeting")
		fs.IntVar(&o.subscribers, "subscribers", 50, "subscribers (in total, over all meetings)")
	case "chat":
		fs.IntVar(&o.clients, "clients", 20, "chat clients (in total, over all meetings)")
		fs.IntVar(&o.messages, "messages", 20, "messages each client sends")
		fs.Float64Var(&o.chatRate, "rate", 2, "messages per second per client (0: as fast as acks come)")
		fs.DurationVar(&o.chatBurst, "burst", 0, "send every client's messages at random moments within this window, "+
			"without waiting for acks (a busy live stream); overrides --rate")
	case "churn":
		fs.Float64Var(&o.churnRate, "rate", 2, "joins (and leaves) per second")
		fs.DurationVar(&o.lifetime, "lifetime", 10*time.Second, "how long each churning subscriber stays")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch strings.ToLower(*codecName) {
	case "vp8":
		o.codec = codecVP8
	case "h264":
		o.codec = codecH264
	default:
		return nil, fmt.Errorf("--codec must be vp8 or h264")
	}
	for _, u := range strings.Split(o.url, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			o.urls = append(o.urls, u)
		}
	}
	if len(o.urls) == 0 {
		return nil, fmt.Errorf("--url is required")
	}
	o.url = o.urls[0]
	if o.duration <= 0 {
		return nil, fmt.Errorf("--duration must be positive")
	}
	return o, nil
}

func runMain(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if o.bareOnly || o.baseline {
		if o.scenario == "chat" {
			return errors.New("the baseline forwarder carries media only: no chat scenario")
		}
		if o.simulcast {
			return errors.New("the baseline forwarder does not do simulcast")
		}
	}
	var results []*result
	runOne := func(bare bool) (*result, error) {
		g := &counters{}
		api, err := newAPI(o.loopbackOnly || bare)
		if err != nil {
			return nil, err
		}
		subAPI, err := newSubscriberAPI(o.loopbackOnly || bare, o.simulcast)
		if err != nil {
			return nil, err
		}
		var tgt target
		if bare {
			bt, err := startBareChild(ctx)
			if err != nil {
				return nil, err
			}
			bt.api, bt.subAPI, bt.g = api, subAPI, g
			tgt = bt
		} else {
			tgt = &onstageTarget{base: o.url, nodes: o.urls, api: api, subAPI: subAPI, pid: o.serverPID, g: g}
		}
		defer tgt.close()
		fmt.Fprintf(stderr, "running %s against %s\n", o.scenario, tgt.name())
		return runScenario(ctx, o, tgt, g, stderr)
	}
	if !o.bareOnly {
		r, err := runOne(false)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if o.bareOnly || o.baseline {
		r, err := runOne(true)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	ratio := 0.0
	if len(results) == 2 && results[1].Server.USPerPacket > 0 {
		ratio = round(results[0].Server.USPerPacket/results[1].Server.USPerPacket, 3)
	}
	fmt.Fprintln(stdout)
	printTable(stdout, results, ratio)
	switch o.jsonFile {
	case "":
		summary := make([]*result, len(results))
		for i, r := range results {
			c := *r
			c.Peers = nil
			summary[i] = &c
		}
		if err := printJSON(stdout, report{Results: summary, CostRatio: ratio}); err != nil {
			return err
		}
	case "-":
		if err := printJSON(stdout, report{Results: results, CostRatio: ratio}); err != nil {
			return err
		}
	default:
		if err := writeJSON(o.jsonFile, report{Results: results, CostRatio: ratio}); err != nil {
			return err
		}
	}
	for _, r := range results {
		if r.Subscribers > 0 && r.Media.ReceivedPackets == 0 {
			return fmt.Errorf("%s: %w (loss 100%%)", r.Target, errNoMedia)
		}
		if r.Chat != nil && r.Chat.Delivered == 0 {
			return fmt.Errorf("%s: no chat message was delivered", r.Target)
		}
	}
	return nil
}

func waitHealthy(ctx context.Context, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/healthz not ready after %s", base, timeout)
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}
