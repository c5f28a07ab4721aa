package cards

import (
	"context"
	"sync"
	"time"

	"github.com/onstagehq/onstage/internal/db"
)

// The verification log (cards_verifications) gets a row for every signed verify and query, so
// it grows with client traffic, not with keys. Rows older than Config.VerificationRetention are
// deleted by a background job in bounded batches (db.DeleteOlder). Every node runs the job;
// two deleting the same rows only find them gone.
const (
	pruneEvery   = time.Hour
	pruneTimeout = time.Minute
)

// pruneVerifications deletes log rows older than the retention and returns how many it
// deleted (at most db.PruneBatch × db.PruneMaxBatches a call).
func (s *Service) pruneVerifications(ctx context.Context) (int64, error) {
	return db.DeleteOlder(ctx, s.db, &verificationRow{}, "created_at", s.clock().Add(-s.cfg.VerificationRetention))
}

// pruner runs pruneVerifications every pruneEvery from Start until Close. Its zero value is
// ready; Close without Start does nothing, and Close cancels a run in progress.
type pruner struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	closed bool
	done   sync.WaitGroup
}

func (p *pruner) start(s *Service) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil || p.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(pruneEvery)
		defer t.Stop()
		for {
			run, stop := context.WithTimeout(ctx, pruneTimeout)
			n, err := s.pruneVerifications(run)
			stop()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("cards: prune verification log", "err", err)
			} else if n > 0 {
				s.log.Info("cards: verification log pruned", "rows", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (p *pruner) close() {
	p.mu.Lock()
	p.closed = true
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	p.done.Wait()
}
