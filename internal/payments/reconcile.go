package payments

import (
	"context"
	"time"

	"github.com/onstagehq/onstage/internal/db"
)

// reconcileBatch bounds one pass, so a backlog is worked off over several passes.
const reconcileBatch = 100

// DefaultEventRetention is how long a provider event stays in the inbox when the service is
// given no retention.
const DefaultEventRetention = 90 * 24 * time.Hour

// pruneEvery is how often the reconciler's loop also deletes inbox events past the retention,
// and pruneTimeout how long one such run may take.
const (
	pruneEvery   = time.Hour
	pruneTimeout = time.Minute
)

// Start runs the reconciler until Close; about once an hour it also prunes the inbox.
func (s *Service) Start() {
	s.startOnce.Do(func() {
		go func() {
			defer close(s.done)
			t := time.NewTicker(s.interval)
			defer t.Stop()
			var pruned time.Time
			for {
				select {
				case <-s.stop:
					return
				case <-t.C:
				}
				ctx, cancel := context.WithTimeout(context.Background(), s.interval)
				if _, err := s.Reconcile(ctx); err != nil {
					s.log.Warn("payments: reconcile", "err", err)
				}
				cancel()
				if now := s.now(); now.Sub(pruned) >= pruneEvery {
					// Its own time budget: a slow reconcile must not starve it. A failed run
					// is tried again at the next tick.
					ctx, cancel := context.WithTimeout(context.Background(), pruneTimeout)
					if n, err := s.PruneEvents(ctx); err != nil {
						s.log.Warn("payments: prune event inbox", "err", err)
					} else {
						pruned = now
						if n > 0 {
							s.log.Info("payments: event inbox pruned", "rows", n)
						}
					}
					cancel()
				}
			}
		}()
	})
}

// PruneEvents deletes the inbox's events received longer ago than the retention and returns
// how many it deleted (bounded per call, see db.DeleteOlder). A payment's state lives in the
// payments table; an event only has to outlast its provider's redeliveries, which the inbox
// turns into no-ops.
func (s *Service) PruneEvents(ctx context.Context) (int64, error) {
	return db.DeleteOlder(ctx, s.store.db, &inboxEvent{}, "received_at", s.now().Add(-s.eventRetention))
}

// Close stops the reconciler and waits for it.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		started := true
		s.startOnce.Do(func() { started = false })
		if started {
			<-s.done
		}
	})
}

// Reconcile asks the providers about payments that have stayed open longer than the
// reconcile delay (a webhook was lost, or never sent), cancels intents nobody paid within the
// intent TTL, and retries owed refunds. It returns how many payments changed.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	now := s.now().UTC()
	list, err := s.store.stale(ctx, now.Add(-s.reconcileAfter), reconcileBatch)
	if err != nil {
		return 0, err
	}
	changed := 0
	for i := range list {
		if ctx.Err() != nil {
			return changed, ctx.Err()
		}
		p := &list[i]
		moved, err := s.reconcileOne(ctx, p, now)
		if err != nil {
			s.log.WarnContext(ctx, "payments: reconcile payment", "payment", p.ID, "err", err)
			continue
		}
		if moved {
			changed++
		}
	}
	return changed, nil
}

func (s *Service) reconcileOne(ctx context.Context, p *Payment, now time.Time) (bool, error) {
	if p.Status == StatusSucceeded {
		return true, s.refund(ctx, p)
	}
	pr, ok := s.providers[p.Provider]
	if !ok || p.ProviderRef == nil {
		// The intent was never created (a crash between the insert and the provider's answer).
		return s.settle(ctx, p.ID, StatusFailed)
	}
	st, err := pr.Fetch(ctx, *p.ProviderRef)
	if err != nil {
		return false, err
	}
	if st.Open() && now.Sub(p.CreatedAt) >= s.intentTTL {
		if err := pr.Cancel(ctx, *p.ProviderRef); err != nil {
			return false, err
		}
		// The buyer may have paid just before the cancel; the provider's word decides.
		if st, err = pr.Fetch(ctx, *p.ProviderRef); err != nil {
			return false, err
		}
		if st.Open() {
			st = StatusCanceled
		}
	}
	if !p.Status.CanMoveTo(st) {
		return false, nil
	}
	// The answer goes through the inbox like a webhook, so a webhook that arrives later (or
	// a concurrent pass on another node) is recognized and changes nothing.
	res, err := s.Apply(ctx, p.Provider, Event{ID: "reconcile:" + p.ID + ":" + string(st), Type: "reconcile",
		Ref: *p.ProviderRef, Status: st}, nil)
	return res == ResultApplied || res == ResultRefunded, err
}
