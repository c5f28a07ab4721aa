package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// writeChart draws server CPU per forwarded packet and p99 latency against subscriber count,
// one line per target and scenario, from the JSON files --json wrote.
func writeChart(files []string, w io.Writer) error {
	if len(files) == 0 {
		return fmt.Errorf("no JSON result files given")
	}
	type point struct{ x, cpu, p99 float64 }
	series := map[string][]point{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var rep report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, r := range rep.Results {
			if r.Subscribers == 0 || r.Chat != nil {
				continue
			}
			p99 := r.Video.Latency.P99Ms
			if r.Video.Latency.Samples == 0 {
				p99 = r.Media.Latency.P99Ms
			}
			key := r.Target + " " + r.Scenario
			series[key] = append(series[key], point{float64(r.Subscribers), r.Server.USPerPacket, p99})
		}
	}
	if len(series) == 0 {
		return fmt.Errorf("no media results in the given files")
	}
	keys := make([]string, 0, len(series))
	for k, pts := range series {
		keys = append(keys, k)
		sort.Slice(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
	}
	sort.Strings(keys)

	const (
		W, H              = 960, 420
		panelW, panelH    = 380, 300
		left1, left2, top = 70, 550, 50
	)
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"}
	var maxX, maxCPU, maxP99 float64
	for _, pts := range series {
		for _, p := range pts {
			maxX = math.Max(maxX, p.x)
			maxCPU = math.Max(maxCPU, p.cpu)
			maxP99 = math.Max(maxP99, p.p99)
		}
	}
	maxX, maxCPU = niceCeil(maxX), niceCeil(maxCPU*1.1)
	maxP99 = math.Pow(10, math.Ceil(math.Log10(math.Max(maxP99, 1))))

	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&sb, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	panel := func(x0 float64, title string, maxY float64, logY bool, pick func(point) float64) {
		// yPos maps a value to a fraction of the panel's height; a log axis spans 0.1 to maxY.
		lo := 0.1
		yPos := func(v float64) float64 {
			if !logY {
				return v / maxY
			}
			v = math.Max(v, lo)
			return math.Log10(v/lo) / math.Log10(maxY/lo)
		}
		// Linear axes get 4 intervals; log axes one tick per decade.
		var ticks []float64
		if logY {
			for v := lo; v <= maxY*1.001; v *= 10 {
				ticks = append(ticks, v)
			}
		} else {
			for i := 0; i <= 4; i++ {
				ticks = append(ticks, maxY*float64(i)/4)
			}
		}
		fmt.Fprintf(&sb, `<text x="%.0f" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", x0, top-20, html.EscapeString(title))
		fmt.Fprintf(&sb, `<rect x="%.0f" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", x0, top, panelW, panelH)
		for _, v := range ticks {
			y := float64(top+panelH) - yPos(v)*panelH
			fmt.Fprintf(&sb, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/>`+"\n", x0, y, x0+panelW, y)
			fmt.Fprintf(&sb, `<text x="%.0f" y="%.1f" text-anchor="end">%g</text>`+"\n", x0-6, y+4, round(v, 2))
		}
		for i := 0; i <= 4; i++ {
			x := x0 + float64(i)*panelW/4
			fmt.Fprintf(&sb, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", x, top+panelH+16, round(maxX*float64(i)/4, 1))
		}
		fmt.Fprintf(&sb, `<text x="%.0f" y="%d" text-anchor="middle">subscribers</text>`+"\n", x0+panelW/2, top+panelH+34)
		for i, k := range keys {
			c := colors[i%len(colors)]
			var path []string
			for _, p := range series[k] {
				x := x0 + p.x/maxX*panelW
				y := float64(top+panelH) - yPos(pick(p))*panelH
				path = append(path, fmt.Sprintf("%.1f,%.1f", x, y))
				fmt.Fprintf(&sb, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x, y, c)
			}
			fmt.Fprintf(&sb, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(path, " "), c)
		}
	}
	panel(left1, "server CPU per forwarded packet (µs)", maxCPU, false, func(p point) float64 { return p.cpu })
	panel(left2, "p99 one-way latency (ms, log scale)", maxP99, true, func(p point) float64 { return p.p99 })
	for i, k := range keys {
		x := left1 + (i%4)*220
		y := H - 24 + (i/4)*14
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, y-4, colors[i%len(colors)], x+18, y+1, html.EscapeString(k))
	}
	sb.WriteString("</svg>\n")
	_, err := io.WriteString(w, sb.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}
