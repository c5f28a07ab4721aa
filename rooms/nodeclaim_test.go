package rooms

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Two live processes never hold one node id; a dead holder's id is free once its claim lapses,
// and a cleanly closed one's at once.
func TestRegistryClaimNodeID(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	mk := func(addr string) *Registry {
		return NewRegistry(RegistryParams{Redis: rdb, Prefix: prefix, NodeID: "twin", Interval: 50 * time.Millisecond,
			TTL: 300 * time.Millisecond, HTTPAddr: addr})
	}
	first := mk("http://10.0.0.1:8081")
	if err := first.Claim(ctx); err != nil {
		t.Fatal(err)
	}
	first.Start()

	// A second instance with the same id is refused, naming the first one's address.
	second := mk("http://10.0.0.2:8081")
	err := second.Claim(ctx)
	if !errors.Is(err, ErrNodeIDTaken) || !strings.Contains(err.Error(), "http://10.0.0.1:8081") {
		t.Fatalf("second claim: %v; want ErrNodeIDTaken naming the first node", err)
	}

	// The first one dies without a word: its claim lapses and a new instance takes the id.
	close(first.stop)
	<-first.done
	third := mk("http://10.0.0.3:8081")
	if err := third.Claim(ctx); err != nil {
		t.Fatalf("claim after the holder died: %v", err)
	}
	third.Start()
	if err := third.Publish(ctx); err != nil {
		t.Fatal(err)
	}

	// A clean Close frees the id at once.
	third.Close()
	if n, err := rdb.Exists(ctx, third.claimKey()).Result(); err != nil || n != 0 {
		t.Fatalf("claim key after a clean close: exists=%d, %v", n, err)
	}
	fourth := mk("http://10.0.0.4:8081")
	if err := fourth.Claim(ctx); err != nil {
		t.Fatalf("claim after a clean close: %v", err)
	}
	fourth.Close()
}
