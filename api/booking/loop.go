package booking

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
)

// Start registers the "order" payment purpose and runs the background loop: the outbox of
// notifications, the batched view counts, hold expiry and meeting completion.
func (s *Service) Start() error {
	var err error
	s.start.Do(func() {
		if s.p.Payments != nil {
			if err = s.p.Payments.Register(s.Purpose()); err != nil {
				return
			}
		}
		s.started.Store(true)
		go s.loop()
	})
	return err
}

// Close stops the loop after it flushes the view counts it holds.
func (s *Service) Close() {
	s.closed.Do(func() {
		close(s.stop)
		if !s.started.Load() {
			return
		}
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	})
}

// wake asks the loop to look at the outbox soon.
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) loop() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	views := map[string]int64{}
	lastSweep, lastFlush := time.Time{}, time.Now()
	for {
		select {
		case <-s.stop:
			s.flushViews(context.Background(), views)
			return
		case id := <-s.views:
			views[id]++
		case id := <-s.ended:
			if err := s.complete(ctx, []string{id}); err != nil {
				s.log.Warn("booking: complete order", "meeting_id", id, "err", err)
			}
		case <-s.kick:
			// The transaction that woke us may still be committing.
			time.Sleep(20 * time.Millisecond)
			s.dispatch(ctx)
		case <-tick.C:
			s.dispatch(ctx)
			if time.Since(lastFlush) >= 2*time.Second {
				s.flushViews(ctx, views)
				views, lastFlush = map[string]int64{}, time.Now()
			}
			if time.Since(lastSweep) >= s.p.SweepInterval {
				lastSweep = time.Now()
				if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("booking: sweep", "err", err)
				}
			}
		}
	}
}

func (s *Service) flushViews(ctx context.Context, views map[string]int64) {
	for id, n := range views {
		if err := s.db.WithContext(ctx).Model(&Profile{}).Where("user_id = ?", id).
			UpdateColumn("views", gorm.Expr("views + ?", n)).Error; err != nil {
			s.log.Warn("booking: flush views", "streamer", id, "err", err)
		}
	}
}

// dispatch sends the outbox's pending notifications. Each row is claimed by a conditional
// update before it is sent, so two nodes never both send one.
func (s *Service) dispatch(ctx context.Context) {
	var rows []outboxRow
	if err := s.db.WithContext(ctx).Where("sent_at IS NULL").Order("id").Limit(100).Find(&rows).Error; err != nil {
		if ctx.Err() == nil {
			s.log.Warn("booking: read outbox", "err", err)
		}
		return
	}
	for _, r := range rows {
		now := s.clock()
		res := s.db.WithContext(ctx).Model(&outboxRow{}).Where("id = ? AND sent_at IS NULL", r.ID).Update("sent_at", now)
		if res.Error != nil || res.RowsAffected == 0 {
			continue
		}
		var n Notification
		if err := json.Unmarshal([]byte(r.Payload), &n); err != nil {
			continue
		}
		if s.p.Notifier != nil {
			s.p.Notifier.Notify(r.UserID, n)
		}
		s.mailUser(ctx, r.UserID, n.Title, n.Text)
	}
}
