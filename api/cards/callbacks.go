package cards

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
)

// The delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// callbackLease is how long a node owns a delivery it is sending; another node retries it
// only after that, so a delivery is normally sent by one node at a time.
const callbackLease = time.Minute

// callbacks delivers activation notifications: rows in cards_deliveries, sent by one owned
// worker goroutine per node with exponential backoff. The wake channel has room for one
// signal, so enqueuers never block.
type callbacks struct {
	s      *Service
	client *http.Client
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// Tick is how often the worker looks for due deliveries without a wake-up.
	tick time.Duration
}

func newCallbacks(s *Service, client *http.Client) callbacks {
	ctx, cancel := context.WithCancel(context.Background())
	return callbacks{s: s, client: client, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, tick: time.Second}
}

func (c *callbacks) start() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.tick)
		defer t.Stop()
		for {
			c.runDue()
			select {
			case <-c.ctx.Done():
				return
			case <-t.C:
			case <-c.wake:
			}
		}
	}()
}

func (c *callbacks) close() {
	c.cancel()
	c.wg.Wait()
}

func (c *callbacks) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// activated records the notification of k's first activation for p's callback URL.
func (c *callbacks) activated(ctx context.Context, p *Project, k *Key) {
	if p.CallbackURL == "" {
		return
	}
	now := c.s.clock()
	payload, _ := json.Marshal(map[string]any{"event": "key.activated", "project_id": p.ID, "key": k.Key,
		"device_id": k.DeviceID, "activated_at": k.ActivatedAt, "expires_at": k.ExpiresAt})
	d := Delivery{ID: newID(), ProjectID: p.ID, Event: "key.activated", Payload: string(payload), Status: DeliveryPending,
		NextAt: now, CreatedAt: now, UpdatedAt: now}
	if err := c.s.db.WithContext(ctx).Create(&d).Error; err != nil {
		c.s.log.ErrorContext(ctx, "cards: record callback", "err", err)
		return
	}
	c.poke()
}

func (c *callbacks) runDue() {
	var due []Delivery
	now := c.s.clock()
	if err := c.s.db.WithContext(c.ctx).Where("status = ? AND next_at <= ?", DeliveryPending, now).
		Order("next_at").Limit(20).Find(&due).Error; err != nil {
		return
	}
	for _, d := range due {
		if c.ctx.Err() != nil {
			return
		}
		// Claim: move next_at out by the lease, conditional on nobody else having done so.
		res := c.s.db.WithContext(c.ctx).Model(&Delivery{}).Where("id = ? AND status = ? AND next_at = ?", d.ID, DeliveryPending, d.NextAt).
			Update("next_at", now.Add(callbackLease))
		if res.Error != nil || res.RowsAffected != 1 {
			continue
		}
		c.send(d)
	}
}

// backoff is the wait after the n-th failed attempt: 2^n seconds, at most an hour.
func backoff(n int) time.Duration {
	if n > 12 {
		return time.Hour
	}
	return min(time.Duration(1<<n)*time.Second, time.Hour)
}

func (c *callbacks) send(d Delivery) {
	var p Project
	if err := c.s.db.WithContext(c.ctx).Where("id = ?", d.ProjectID).Take(&p).Error; err != nil {
		return
	}
	status, err := c.post(&p, d)
	now := c.s.clock()
	cols := map[string]any{"attempts": d.Attempts + 1, "last_status": status, "updated_at": now, "last_error": ""}
	switch {
	case err == nil && status >= 200 && status < 300:
		cols["status"], cols["delivered_at"] = DeliveryDelivered, now
	case d.Attempts+1 >= c.s.cfg.CallbackAttempts:
		cols["status"] = DeliveryFailed
	default:
		cols["next_at"] = now.Add(backoff(d.Attempts))
	}
	if err != nil {
		msg := err.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		cols["last_error"] = msg
	} else if status < 200 || status >= 300 {
		cols["last_error"] = "HTTP " + strconv.Itoa(status)
	}
	if err := c.s.db.WithContext(context.Background()).Model(&Delivery{}).Where("id = ?", d.ID).Updates(cols).Error; err != nil {
		c.s.log.Error("cards: callback result", "err", err)
	}
}

// CallbackSignature is the X-Onstage-Signature of a callback: lowercase hex
// HMAC-SHA256(secret, TIMESTAMP + "\n" + body).
func CallbackSignature(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "\n"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (c *callbacks) post(p *Project, d Delivery) (int, error) {
	secret, err := c.s.seal.open(p.SecretEnc, p.ID)
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(c.s.clock().Unix(), 10)
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.CallbackURL, bytes.NewReader([]byte(d.Payload)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Onstage-Delivery", d.ID)
	req.Header.Set("X-Onstage-Event", d.Event)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, CallbackSignature(string(secret), ts, []byte(d.Payload)))
	res, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("deliver: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	return res.StatusCode, nil
}

// Deliveries lists a project's callback deliveries, newest first (cards:projects).
func (s *Service) Deliveries(ctx context.Context, actor authn.Identity, projectID string, page, size int) ([]Delivery, int64, error) {
	if err := s.az.Can(ctx, actor, authz.CardsProjects, nil); err != nil {
		return nil, 0, err
	}
	if _, err := s.project(ctx, s.db, projectID); err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Model(&Delivery{}).Where("project_id = ?", projectID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	out := []Delivery{}
	return out, total, q.Order("created_at DESC, id").Limit(size).Offset((page - 1) * size).Find(&out).Error
}

// Resend queues a delivery again, now, with a fresh attempt budget.
func (s *Service) Resend(ctx context.Context, actor authn.Identity, projectID, id string) (*Delivery, error) {
	if err := s.az.Can(ctx, actor, authz.CardsProjects, nil); err != nil {
		return nil, err
	}
	var d Delivery
	err := s.db.WithContext(ctx).Where("id = ? AND project_id = ?", id, projectID).Take(&d).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	now := s.clock()
	cols := map[string]any{"status": DeliveryPending, "attempts": 0, "next_at": now, "updated_at": now}
	if err := s.db.WithContext(ctx).Model(&Delivery{}).Where("id = ?", id).Updates(cols).Error; err != nil {
		return nil, err
	}
	s.hooks.poke()
	d.Status, d.Attempts, d.NextAt, d.UpdatedAt = DeliveryPending, 0, now, now
	return &d, nil
}
