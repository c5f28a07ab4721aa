package api

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/onstagehq/onstage/internal/httpx"
)

// Check reports whether one dependency works.
type Check func(ctx context.Context) error

// readyz runs every check in parallel with a short timeout and answers 503 while any fails.
func readyz(checks map[string]Check) http.HandlerFunc {
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		results := make(map[string]string, len(names))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status := "ok"
				if err := checks[n](ctx); err != nil {
					status = "down: " + err.Error()
				}
				mu.Lock()
				results[n] = status
				mu.Unlock()
			}()
		}
		wg.Wait()
		code, overall := http.StatusOK, "ok"
		for _, s := range results {
			if s != "ok" {
				code, overall = http.StatusServiceUnavailable, "degraded"
			}
		}
		httpx.JSON(w, code, map[string]any{"status": overall, "checks": results})
	}
}
