package rooms

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onstagehq/onstage/internal/bus"
)

// giveawayPoll bounds the closer's sleep: a giveaway opened on another node (whose wake-up
// this node never sees) closes at most this late here, if that node is gone.
const giveawayPoll = 5 * time.Second

// giveawayState is the service's giveaway machinery: the closer's wake-up and the
// statistics projector's subscription. Lock order: Service.mu before giveawayState.mu.
type giveawayState struct {
	bus  *bus.Bus
	wake chan struct{} // buffered 1: a giveaway opened, look at the next close again

	wg sync.WaitGroup // the closer goroutine

	mu     sync.Mutex // guards sub and closed; held by the projector while it writes
	sub    *nats.Subscription
	closed bool
}

// wakeGiveaways makes the closer look at the next window's end again.
func (s *Service) wakeGiveaways() {
	select {
	case s.gw.wake <- struct{}{}:
	default:
	}
}

// startGiveaways starts the closer and the projector; they stop when stop closes and
// stopGiveaways returns. Called by Start with s.mu held.
func (s *Service) startGiveaways(stop <-chan struct{}) {
	s.gw.wg.Add(1)
	go s.giveawayLoop(stop)
	s.startProjector()
}

// stopGiveaways waits for the closer (its stop channel is closed already) and ends the
// projector's subscription, waiting for an event being counted.
func (s *Service) stopGiveaways() {
	s.gw.wg.Wait()
	s.stopProjector()
}

// giveawayLoop closes each giveaway when its entry window ends.
func (s *Service) giveawayLoop(stop <-chan struct{}) {
	defer s.gw.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-s.gw.wake:
		}
		wait := giveawayPoll
		if _, err := s.CloseDueGiveaways(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("close due giveaways", "err", err)
			wait = time.Second
		} else if next, ok, err := s.store.with(ctx).nextGiveawayClose(); err == nil && ok {
			// A millisecond late, so the window is over by the clock of the check.
			wait = min(wait, max(next.Sub(s.now())+time.Millisecond, time.Millisecond))
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// CloseDueGiveaways closes every open giveaway whose entry window has ended and returns how
// many it closed. The closer runs it; it is exported for operations and tests.
func (s *Service) CloseDueGiveaways(ctx context.Context) (int, error) {
	due, err := s.store.with(ctx).dueGiveaways(s.now(), sweepBatch)
	if err != nil {
		return 0, err
	}
	closed := 0
	for i := range due {
		var evs events
		err := s.store.Tx(ctx, func(tx *Store) error {
			evs = nil
			g, err := tx.lockGiveaway(due[i].MeetingID, due[i].ID)
			if err != nil {
				return err
			}
			now := s.clock()
			if g.Status != GiveawayOpen || now.Before(g.ClosesAt) {
				return nil // closed by someone else meanwhile
			}
			evs, err = s.closeLocked(tx, g, now)
			return err
		})
		if err != nil {
			return closed, err
		}
		if len(evs) > 0 {
			closed++
			s.publish(ctx, evs)
		}
	}
	return closed, nil
}
