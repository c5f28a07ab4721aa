package api

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/httpx"
)

// WriteLimit bounds write requests (POST, PUT, PATCH, DELETE) per client address and per
// signed-in user, each per minute. The counters live in the cache, so in a cluster (Redis)
// every node enforces the same limit. Over a limit the answer is 429 with Retry-After. When
// the cache fails the request is let through: a cache outage must not stop every write.
func WriteLimit(c cache.Cache, perIP, perUser int, log *slog.Logger) func(http.Handler) http.Handler {
	ip := cache.NewLimiter(c, "rl:write:ip:", perIP, time.Minute)
	user := cache.NewLimiter(c, "rl:write:user:", perUser, time.Minute)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				next.ServeHTTP(w, r)
				return
			}
			addr := r.RemoteAddr
			if host, _, err := net.SplitHostPort(addr); err == nil {
				addr = host
			}
			checks := []struct {
				l   *cache.Limiter
				key string
			}{{ip, addr}}
			if id, ok := authn.FromContext(r.Context()); ok {
				checks = append(checks, struct {
					l   *cache.Limiter
					key string
				}{user, id.UserID})
			}
			for _, ck := range checks {
				ok, retry, err := ck.l.Allow(r.Context(), ck.key)
				if err != nil {
					log.WarnContext(r.Context(), "write rate limiter unavailable; allowing", "err", err)
					continue
				}
				if !ok {
					httpx.Error(w, r, apperr.ErrRateLimited.WithRetry(retry))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
