package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// writeSummary reads --json result files of repeated runs and prints, per target, scenario
// and subscriber count, the median of the figures that decide the goals; then each target's
// memory slope (RSS growth per added subscriber between the smallest and the largest
// livestream run of the same invocation series), and the median cost ratio. Runs made with a
// bound (--bound-video-p99, --bound-loss: the overload run) are left out of both and listed
// on their own, each with whether onstage stayed within the bound.
func writeSummary(files []string, w io.Writer) error {
	if len(files) == 0 {
		return fmt.Errorf("no JSON result files given")
	}
	type key struct {
		target, scenario string
		subs             int
	}
	type figures struct {
		us, rss, loss, vp99, ap99, join, sys, send []float64
	}
	rows := map[key]*figures{}
	ratios := map[key][]float64{}
	var overload []overloadRun
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var rep report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if len(rep.Results) > 0 && rep.Results[0].Bound != nil {
			overload = append(overload, overloadRun{rep.Results, rep.CostRatio})
			continue
		}
		for _, r := range rep.Results {
			if r.Subscribers == 0 || r.Chat != nil {
				continue
			}
			k := key{r.Target, r.Scenario, r.Subscribers}
			fg := rows[k]
			if fg == nil {
				fg = &figures{}
				rows[k] = fg
			}
			fg.us = append(fg.us, r.Server.USPerPacket)
			fg.rss = append(fg.rss, r.Server.RSSMB)
			fg.loss = append(fg.loss, r.Media.LossPct)
			fg.vp99 = append(fg.vp99, r.Video.Latency.P99Ms)
			fg.ap99 = append(fg.ap99, r.Audio.Latency.P99Ms)
			fg.join = append(fg.join, r.Join.FirstMediaP99Ms)
			fg.sys = append(fg.sys, r.Server.SyscallsPerPacket)
			fg.send = append(fg.send, r.Server.SendSyscallsPerPacket)
		}
		if rep.CostRatio > 0 && len(rep.Results) > 0 {
			r := rep.Results[0]
			k := key{"", r.Scenario, r.Subscribers}
			ratios[k] = append(ratios[k], rep.CostRatio)
		}
	}
	keys := make([]key, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.scenario != b.scenario {
			return a.scenario < b.scenario
		}
		if a.subs != b.subs {
			return a.subs < b.subs
		}
		return a.target > b.target
	})
	if len(keys) == 0 {
		writeOverload(w, overload)
		return nil
	}
	fmt.Fprintln(w, "medians over repeated runs")
	fmt.Fprintln(w, "| run | target | runs | µs/pkt | cost ratio | RSS MB | loss % | video p99 ms | audio p99 ms | join→media p99 ms | syscalls/pkt (send) |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, k := range keys {
		fg := rows[k]
		ratio := "–"
		if rs := ratios[key{"", k.scenario, k.subs}]; len(rs) > 0 && k.target == "onstage" {
			ratio = fmt.Sprintf("%.2f (%d)", median(rs), len(rs))
		}
		fmt.Fprintf(w, "| %s →%d | %s | %d | %.1f | %s | %.1f | %.3f | %.1f | %.1f | %.0f | %.2f (%.2f) |\n",
			k.scenario, k.subs, k.target, len(fg.us), median(fg.us), ratio, median(fg.rss), median(fg.loss),
			median(fg.vp99), median(fg.ap99), median(fg.join), median(fg.sys), median(fg.send))
	}
	// Memory slope per target and scenario: between the smallest and largest run sizes.
	type series struct{ target, scenario string }
	sizes := map[series][]int{}
	for _, k := range keys {
		s := series{k.target, k.scenario}
		sizes[s] = append(sizes[s], k.subs)
	}
	fmt.Fprintln(w)
	for _, k := range keys {
		s := series{k.target, k.scenario}
		ns := sizes[s]
		if len(ns) < 2 || k.subs != ns[0] {
			continue
		}
		lo, hi := ns[0], ns[len(ns)-1]
		a, b := median(rows[key{s.target, s.scenario, lo}].rss), median(rows[key{s.target, s.scenario, hi}].rss)
		fmt.Fprintf(w, "memory slope %s %s: (RSS at →%d − RSS at →%d) ÷ %d = %.0f KB per subscriber\n",
			s.target, s.scenario, hi, lo, hi-lo, (b-a)*1024/float64(hi-lo))
	}
	writeOverload(w, overload)
	return nil
}

// overloadRun is one invocation made with a bound: onstage and, with --baseline, bare Pion.
type overloadRun struct {
	results []*result
	ratio   float64
}

// writeOverload lists the overload runs one row per target (they are not repeated), then
// says for each onstage run whether the bound held.
func writeOverload(w io.Writer, runs []overloadRun) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "overload runs")
	fmt.Fprintln(w, "| run | target | µs/pkt | cost ratio | RSS MB | loss % (video) | video p50 / p95 / p99 ms | audio p99 ms | retransmitted / queue / stale drops | load generator cores | load avg |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, run := range runs {
		for i, r := range run.results {
			ratio := "–"
			if i == 0 && run.ratio > 0 {
				ratio = fmt.Sprintf("%.2f", run.ratio)
			}
			sfu := "–"
			if r.Server.SFU != nil {
				sfu = fmt.Sprintf("%d / %d / %d", r.Server.SFU.Retransmitted, r.Server.SFU.QueueDropped, r.Server.SFU.StaleDropped)
			}
			v := r.Video.Latency
			fmt.Fprintf(w, "| %s 1→%d | %s | %.1f | %s | %.1f | %.3f (%.3f) | %.1f / %.1f / %.1f | %.1f | %s | %.2f | %.1f |\n",
				r.Scenario, r.Subscribers, r.Target, r.Server.USPerPacket, ratio, r.Server.RSSMB, r.Media.LossPct,
				r.Video.LossPct, v.P50Ms, v.P95Ms, v.P99Ms, r.Audio.Latency.P99Ms, sfu, r.Client.CPUCores, r.Machine.LoadAvg1)
		}
	}
	for _, run := range runs {
		for _, r := range run.results {
			if r.Bound == nil || r.Target != "onstage" {
				continue
			}
			fmt.Fprintf(w, "overload %s 1→%d, onstage: bound (%s) %s\n", r.Scenario, r.Subscribers, r.Bound, r.Bound.verdict())
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
