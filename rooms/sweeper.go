package rooms

import (
	"context"
	"fmt"
	"time"
)

// sweepBatch bounds the meetings one sweep looks at; the next sweep takes the rest.
const sweepBatch = 200

// Start runs the expiry sweeper every Config.SweepInterval, and the giveaways' closer and
// statistics projector (giveaway_closer.go), until Close. Calling it twice
// does nothing more.
func (s *Service) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.sweepLoop(s.stop, s.stopped)
	s.startGiveaways(s.stop)
}

// Close stops the sweeper and the chat writers (chats already queued are written first) and
// waits for them. No chat is accepted afterwards.
func (s *Service) Close() {
	s.closeChat()
	s.mu.Lock()
	stop, stopped := s.stop, s.stopped
	s.stop, s.stopped = nil, nil
	s.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-stopped
	s.stopGiveaways()
}

func (s *Service) sweepLoop(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sweep expired meetings", "err", err)
		} else if n > 0 {
			s.log.Info("ended expired meetings", "count", n)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// Sweep ends every live meeting past start_time + duration + Config.ExpiryGrace with reason
// "expired" and returns how many it ended. Start runs it periodically; it is exported for
// operations and tests.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	// A meeting lasts at least a minute, so one past its end and grace started before now-grace.
	cands, err := s.store.with(ctx).expiredCandidates(now.Add(-s.cfg.ExpiryGrace), sweepBatch)
	if err != nil {
		return 0, fmt.Errorf("find expired meetings: %w", err)
	}
	ended := 0
	for i := range cands {
		if !now.After(cands[i].ends().Add(s.cfg.ExpiryGrace)) {
			continue
		}
		ok, err := s.expire(ctx, cands[i].ID, now)
		if err != nil {
			return ended, err
		}
		if ok {
			ended++
		}
	}
	return ended, nil
}

// expire ends one meeting if it is still live and past its time.
func (s *Service) expire(ctx context.Context, meetingID string, now time.Time) (bool, error) {
	var (
		evs events
		m   *Meeting
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		var err error
		evs = nil
		if m, err = tx.lockMeeting(meetingID); err != nil {
			return err
		}
		if m.Status != StatusLive || !now.After(m.ends().Add(s.cfg.ExpiryGrace)) {
			m = nil
			return nil
		}
		evs, err = s.endLocked(tx, m, ReasonExpired)
		return err
	})
	if err != nil || m == nil {
		return false, err
	}
	s.publish(ctx, evs)
	s.uncacheMeeting(ctx, m)
	return true, nil
}
