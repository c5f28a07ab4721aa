package payments

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SandboxName is the sandbox provider's name.
const SandboxName = "sandbox"

// SandboxSignatureHeader carries the sandbox's webhook signature ("t=…,v1=…", Stripe's scheme).
const SandboxSignatureHeader = "Onstage-Signature"

// sandboxIntent is a row of payment_sandbox_intents: the sandbox's own book of intents, kept
// apart from the payments table as a real provider's would be.
type sandboxIntent struct {
	Ref       string `gorm:"primaryKey"`
	PaymentID string
	Amount    int64
	Currency  string
	Status    Status
	Refunded  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (sandboxIntent) TableName() string { return "payment_sandbox_intents" }

// Sandbox is a payment provider that runs inside onstage: its checkout page at /pay/{ref} has
// Pay, Decline and Never answer buttons, and it calls onstage's webhook over real HTTP, signed
// and asynchronously, sometimes twice, as a real provider does. "Never answer" marks the intent
// paid without a webhook, which only the reconciler finds out about.
type Sandbox struct {
	db         *gorm.DB
	secrets    []string // secrets[0] signs; all verify
	publicURL  string
	webhookURL string
	client     *http.Client
	dupRate    float64
	log        *slog.Logger
	now        func() time.Time

	queue chan delivery
	stop  chan struct{}
	// ctx ends with Close, cutting short a delivery in flight.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	rmu    sync.Mutex
	rnd    *mrand.Rand
}

// SandboxParams configure the sandbox.
type SandboxParams struct {
	DB *gorm.DB
	// Secrets sign (the first) and verify (all) the sandbox's webhooks.
	Secrets []string
	// PublicURL is where buyers reach onstage (checkout pages are PublicURL/pay/{ref}).
	PublicURL string
	// WebhookURL is where the sandbox delivers its webhooks; empty means
	// PublicURL/api/v1/payments/webhook/sandbox.
	WebhookURL string
	// DuplicateRate is the share of webhooks delivered twice (0 to 1).
	DuplicateRate float64
	Client        *http.Client
	Log           *slog.Logger
	Now           func() time.Time
	// Seed makes duplicates and ordering reproducible in tests; 0 picks a random seed.
	Seed uint64
}

// sandboxQueue bounds the webhooks waiting for delivery; a full queue drops (a provider's
// webhook can always be lost, and the reconciler recovers the state).
const sandboxQueue = 256

// sandboxAttempts is how many times one webhook is tried before it is given up.
const sandboxAttempts = 5

type delivery struct {
	body []byte
	// after is the earliest time to send; order between deliveries is deliberately loose.
	after time.Time
}

// NewSandbox returns the sandbox; Start runs its delivery workers.
func NewSandbox(p SandboxParams) (*Sandbox, error) {
	if len(p.Secrets) == 0 || len(p.Secrets[0]) < 16 {
		return nil, errors.New("payments: the sandbox needs a signing secret of at least 16 characters")
	}
	s := &Sandbox{
		db: p.DB, secrets: p.Secrets, publicURL: strings.TrimRight(p.PublicURL, "/"), webhookURL: p.WebhookURL,
		client: p.Client, dupRate: p.DuplicateRate, log: p.Log, now: p.Now,
		queue: make(chan delivery, sandboxQueue), stop: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.webhookURL == "" {
		s.webhookURL = s.publicURL + "/api/v1/payments/webhook/" + SandboxName
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	seed := p.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	s.rnd = mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return s, nil
}

// Name implements Provider.
func (s *Sandbox) Name() string { return SandboxName }

// Start runs two delivery workers until Close.
func (s *Sandbox) Start() {
	for range 2 {
		s.wg.Add(1)
		go s.deliverLoop()
	}
}

// Close stops the workers; undelivered webhooks are dropped.
func (s *Sandbox) Close() {
	s.once.Do(func() { close(s.stop); s.cancel() })
	s.wg.Wait()
}

func randomRef(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// CreateIntent implements Provider.
func (s *Sandbox) CreateIntent(ctx context.Context, req IntentRequest) (Intent, error) {
	now := s.now().UTC()
	in := sandboxIntent{Ref: randomRef("sbx_"), PaymentID: req.PaymentID, Amount: req.Amount, Currency: req.Currency,
		Status: StatusPending, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(&in).Error; err != nil {
		return Intent{}, err
	}
	return Intent{Ref: in.Ref, CheckoutURL: s.publicURL + "/pay/" + in.Ref, Status: StatusPending}, nil
}

func (s *Sandbox) intent(ctx context.Context, ref string) (*sandboxIntent, error) {
	var in sandboxIntent
	err := s.db.WithContext(ctx).Where("ref = ?", ref).Take(&in).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &in, err
}

// Fetch implements Provider.
func (s *Sandbox) Fetch(ctx context.Context, ref string) (Status, error) {
	in, err := s.intent(ctx, ref)
	if err != nil {
		return "", err
	}
	return in.Status, nil
}

// Cancel implements Provider: an intent not yet answered is canceled; others keep their answer.
func (s *Sandbox) Cancel(ctx context.Context, ref string) error {
	_, err := s.update(ctx, ref, func(in *sandboxIntent) (bool, error) {
		if !in.Status.Open() {
			return false, nil
		}
		in.Status = StatusCanceled
		return true, nil
	})
	return err
}

// Refund implements Provider; refunding twice is a no-op, as with an idempotency key.
func (s *Sandbox) Refund(ctx context.Context, ref string) error {
	in, err := s.update(ctx, ref, func(in *sandboxIntent) (bool, error) {
		if in.Refunded {
			return false, nil
		}
		if in.Status != StatusSucceeded {
			return false, fmt.Errorf("payments: sandbox intent %s is %s, not succeeded", ref, in.Status)
		}
		in.Refunded, in.Status = true, StatusRefunded
		return true, nil
	})
	if err == nil && in != nil {
		s.emit(in, "payment.refunded", StatusRefunded, false)
	}
	return err
}

// update changes one intent under its row lock; it returns the intent when fn changed it.
func (s *Sandbox) update(ctx context.Context, ref string, fn func(*sandboxIntent) (bool, error)) (*sandboxIntent, error) {
	var changed *sandboxIntent
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var in sandboxIntent
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("ref = ?", ref).Take(&in).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		ok, err := fn(&in)
		if err != nil || !ok {
			return err
		}
		in.UpdatedAt = s.now().UTC()
		changed = &in
		return tx.Model(&sandboxIntent{}).Where("ref = ?", ref).
			Updates(map[string]any{"status": in.Status, "refunded": in.Refunded, "updated_at": in.UpdatedAt}).Error
	})
	return changed, err
}

// SandboxAction is a button of the sandbox's checkout page.
type SandboxAction string

// The buttons.
const (
	ActionSucceed SandboxAction = "succeed" // pay: webhooks processing then succeeded
	ActionDecline SandboxAction = "decline" // decline: webhook failed
	ActionNever   SandboxAction = "never"   // paid, but no webhook ever comes
)

// Act presses a button on the intent ref. Only an unanswered intent takes one.
func (s *Sandbox) Act(ctx context.Context, ref string, action SandboxAction) (Status, error) {
	var to Status
	switch action {
	case ActionSucceed, ActionNever:
		to = StatusSucceeded
	case ActionDecline:
		to = StatusFailed
	default:
		return "", ErrNotFound
	}
	in, err := s.update(ctx, ref, func(in *sandboxIntent) (bool, error) {
		if !in.Status.Open() {
			return false, ErrSandboxFinished
		}
		in.Status = to
		return true, nil
	})
	if err != nil {
		return "", err
	}
	switch action {
	case ActionSucceed:
		// Two events whose delivery order is left to chance: handlers must cope with an old
		// "processing" arriving after "succeeded".
		s.emit(in, "payment.processing", StatusProcessing, true)
		s.emit(in, "payment.succeeded", StatusSucceeded, true)
	case ActionDecline:
		s.emit(in, "payment.failed", StatusFailed, true)
	}
	return to, nil
}

// sandboxEvent is the body of a sandbox webhook.
type sandboxEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Ref       string `json:"ref"`
		PaymentID string `json:"payment_id"`
		Status    Status `json:"status"`
		Amount    int64  `json:"amount"`
		Currency  string `json:"currency"`
	} `json:"data"`
}

// emit queues a webhook for in; jitter spreads deliveries so they may overtake each other.
func (s *Sandbox) emit(in *sandboxIntent, typ string, st Status, jitter bool) {
	var ev sandboxEvent
	ev.ID, ev.Type, ev.Created = randomRef("evt_"), typ, s.now().Unix()
	ev.Data.Ref, ev.Data.PaymentID, ev.Data.Status = in.Ref, in.PaymentID, st
	ev.Data.Amount, ev.Data.Currency = in.Amount, in.Currency
	body, _ := json.Marshal(ev)
	s.rmu.Lock()
	copies := 1
	if s.rnd.Float64() < s.dupRate {
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		if jitter {
			delays[i] = time.Duration(s.rnd.Int64N(int64(50 * time.Millisecond)))
		}
	}
	s.rmu.Unlock()
	for _, d := range delays {
		select {
		case s.queue <- delivery{body: body, after: time.Now().Add(d)}:
		default:
			s.log.Warn("payments: sandbox webhook queue full; dropping", "event", ev.ID)
		}
	}
}

func (s *Sandbox) deliverLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case d := <-s.queue:
			if !s.sleep(time.Until(d.after)) {
				return
			}
			s.deliver(d.body)
		}
	}
}

// sleep waits d unless the sandbox stops first.
func (s *Sandbox) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}

func (s *Sandbox) deliver(body []byte) {
	backoff := 200 * time.Millisecond
	for attempt := 1; attempt <= sandboxAttempts; attempt++ {
		ok, err := s.post(body)
		if ok {
			return
		}
		s.log.Warn("payments: sandbox webhook not accepted", "attempt", attempt, "err", err)
		if !s.sleep(backoff) {
			return
		}
		backoff *= 2
	}
}

func (s *Sandbox) post(body []byte) (bool, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.webhookURL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	// Signed at send time, as a provider does on each attempt.
	req.Header.Set(SandboxSignatureHeader, Sign(body, s.now(), s.secrets[0]))
	res, err := s.client.Do(req)
	if err != nil {
		return false, err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return false, fmt.Errorf("status %d", res.StatusCode)
	}
	return true, nil
}

// VerifyWebhook implements Provider.
func (s *Sandbox) VerifyWebhook(body []byte, header http.Header) (Event, error) {
	if err := VerifySignature(header.Get(SandboxSignatureHeader), body, s.secrets, s.now(), SignatureTolerance); err != nil {
		return Event{}, err
	}
	var ev sandboxEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.Data.Ref == "" || !ev.Data.Status.Valid() {
		return Event{}, ErrBadEvent
	}
	return Event{ID: ev.ID, Type: ev.Type, Ref: ev.Data.Ref, Status: ev.Data.Status, Amount: ev.Data.Amount,
		Currency: ev.Data.Currency}, nil
}
