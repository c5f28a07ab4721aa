package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// procSample is a process's cumulative CPU time and its resident memory at one instant.
type procSample struct {
	At       time.Time
	CPU      time.Duration // utime + stime
	RSSBytes int64
}

// parseProcStat extracts utime+stime from the contents of /proc/<pid>/stat.
func parseProcStat(b []byte) (time.Duration, error) {
	s := string(b)
	// The command name is in parentheses and may itself contain spaces and parentheses.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command field")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14 and stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command", len(f))
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// parseProcStatusRSS extracts VmRSS from the contents of /proc/<pid>/status, in bytes.
func parseProcStatusRSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		f := strings.Fields(line[len("VmRSS:"):])
		if len(f) < 1 {
			break
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status VmRSS: %w", err)
		}
		mult := int64(1024)
		if len(f) > 1 {
			switch strings.ToLower(f[1]) {
			case "kb":
			case "mb":
				mult = 1 << 20
			case "b":
				mult = 1
			}
		}
		return n * mult, nil
	}
	return 0, fmt.Errorf("status: no VmRSS line")
}

func readProc(pid int) (procSample, error) {
	at := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseProcStat(stat)
	if err != nil {
		return procSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	rss, err := parseProcStatusRSS(status)
	if err != nil {
		return procSample{}, err
	}
	return procSample{At: at, CPU: cpu, RSSBytes: rss}, nil
}

// parseMetrics reads process_cpu_seconds_total and process_resident_memory_bytes from a
// Prometheus text exposition.
func parseMetrics(r io.Reader) (procSample, error) {
	var s procSample
	var haveCPU, haveRSS bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
			if k := strings.LastIndexByte(line, '}'); k >= 0 {
				rest = line[k+1:]
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		switch name {
		case "process_cpu_seconds_total":
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return s, fmt.Errorf("metrics %s: %w", name, err)
			}
			s.CPU, haveCPU = time.Duration(v*float64(time.Second)), true
		case "process_resident_memory_bytes":
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return s, fmt.Errorf("metrics %s: %w", name, err)
			}
			s.RSSBytes, haveRSS = int64(v), true
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if !haveCPU || !haveRSS {
		return s, fmt.Errorf("metrics: process collectors missing")
	}
	return s, nil
}

// sfuCounterNames are the onstage forwarder's counters read over the measurement window:
// retransmissions in answer to NACKs, and the two kinds of fan-out drop that bound latency
// under overload.
var sfuCounterNames = []string{
	"onstage_sfu_retransmitted_packets_total",
	"onstage_sfu_fanout_queue_dropped_total",
	"onstage_sfu_fanout_stale_dropped_total",
}

// parseCounters reads the named unlabelled samples from a Prometheus text exposition; names
// that are missing are absent from the map.
func parseCounters(r io.Reader, names []string) (map[string]float64, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics %s: %w", name, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}

// costProbe samples a server's CPU and memory, from /proc when the pid is known and otherwise
// from its /metrics endpoint.
type costProbe struct {
	pid        int
	metricsURL string
	client     *http.Client
}

func (p *costProbe) source() string {
	if p.pid > 0 {
		return "proc"
	}
	if p.metricsURL != "" {
		return "metrics"
	}
	return ""
}

func (p *costProbe) sample(ctx context.Context) (procSample, error) {
	if p.pid > 0 {
		return readProc(p.pid)
	}
	if p.metricsURL == "" {
		return procSample{}, fmt.Errorf("no server pid and no metrics URL")
	}
	var s procSample
	at := time.Now()
	err := p.scrape(ctx, func(r io.Reader) (err error) { s, err = parseMetrics(r); return err })
	s.At = at
	return s, err
}

// sfuCounters reads the forwarder's counters (sfuCounterNames) from /metrics; nil when the
// server has no metrics URL (the bare forwarder) or exposes none of them.
func (p *costProbe) sfuCounters(ctx context.Context) map[string]float64 {
	if p.metricsURL == "" {
		return nil
	}
	var m map[string]float64
	if err := p.scrape(ctx, func(r io.Reader) (err error) { m, err = parseCounters(r, sfuCounterNames); return err }); err != nil || len(m) == 0 {
		return nil
	}
	return m
}

func (p *costProbe) scrape(ctx context.Context, parse func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", p.metricsURL, resp.Status)
	}
	return parse(resp.Body)
}
