package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsOnSeparateAddress: with http.metrics_addr set, /metrics is served there and no
// longer on the public listener.
func TestMetricsOnSeparateAddress(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.HTTP.MetricsAddr = "127.0.0.1:0"
	n := startNode(t, cfg)
	if n.app.Metrics == nil {
		t.Fatal("http.metrics_addr is set but the app has no metrics server")
	}
	expect(t, n.do("GET", "/metrics", "", nil), 404, "not_found")
	expect(t, n.do("GET", "/healthz", "", nil), 200, "")

	ln, err := net.Listen("tcp", n.app.Metrics.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.app.Metrics.Serve(ln) }()
	t.Cleanup(func() { _ = n.app.Metrics.Close() })
	res, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), "onstage_ws_connections") || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics listener: %d %.200s", res.StatusCode, body)
	}
	if res, err := http.Get("http://" + ln.Addr().String() + "/api/v1/users/me"); err != nil || res.StatusCode != 404 {
		t.Fatalf("the metrics listener serves more than /metrics: %v %v", res, err)
	}
}
