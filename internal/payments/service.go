package payments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/db"
)

// Service owns payments: creating intents, applying provider events, refunds and the
// reconciler. Lock order: a payment row (SELECT … FOR UPDATE) before anything a purpose locks
// in Fulfill or Release; the service holds no Go lock across a database call.
type Service struct {
	store     *Store
	providers map[string]Provider
	provider  Provider // the one new intents go to
	log       *slog.Logger
	now       func() time.Time

	mu       sync.RWMutex
	purposes map[string]Purpose // by kind
	fields   map[string]string  // request field → kind

	reconcileAfter time.Duration
	intentTTL      time.Duration
	interval       time.Duration
	eventRetention time.Duration
	stop           chan struct{}
	done           chan struct{}
	startOnce      sync.Once
	closeOnce      sync.Once
}

// ServiceParams configure a Service.
type ServiceParams struct {
	Store *Store
	// Providers are every provider webhooks are accepted from; Default takes new intents.
	Providers []Provider
	Default   string
	// ReconcileAfter is how long a payment may stay open before the reconciler asks its
	// provider; IntentTTL is when an intent nobody paid is canceled; Interval is how often
	// the reconciler runs.
	ReconcileAfter, IntentTTL, Interval time.Duration
	// EventRetention is how long a received provider event stays in the inbox; zero means
	// DefaultEventRetention.
	EventRetention time.Duration
	Log            *slog.Logger
	Now            func() time.Time
}

// NewService returns a Service; Start runs its reconciler.
func NewService(p ServiceParams) (*Service, error) {
	s := &Service{
		store: p.Store, providers: map[string]Provider{}, log: p.Log, now: p.Now,
		purposes: map[string]Purpose{}, fields: map[string]string{},
		reconcileAfter: p.ReconcileAfter, intentTTL: p.IntentTTL, interval: p.Interval, eventRetention: p.EventRetention,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.reconcileAfter <= 0 {
		s.reconcileAfter = 10 * time.Minute
	}
	if s.intentTTL < s.reconcileAfter {
		s.intentTTL = s.reconcileAfter
	}
	if s.interval <= 0 {
		s.interval = time.Minute
	}
	if s.eventRetention <= 0 {
		s.eventRetention = DefaultEventRetention
	}
	for _, pr := range p.Providers {
		s.providers[pr.Name()] = pr
	}
	s.provider = s.providers[p.Default]
	if s.provider == nil {
		return nil, fmt.Errorf("payments: default provider %q is not configured", p.Default)
	}
	return s, nil
}

var kindRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Register adds a purpose. Registering a kind or a field twice is a programming error.
func (s *Service) Register(p Purpose) error {
	if !kindRe.MatchString(p.Kind) || !kindRe.MatchString(p.Field) || p.Quote == nil || p.Fulfill == nil {
		return fmt.Errorf("payments: purpose %q needs a kind, a field, Quote and Fulfill", p.Kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.purposes[p.Kind]; dup {
		return fmt.Errorf("payments: purpose %q registered twice", p.Kind)
	}
	if _, dup := s.fields[p.Field]; dup {
		return fmt.Errorf("payments: field %q registered twice", p.Field)
	}
	s.purposes[p.Kind] = p
	s.fields[p.Field] = p.Kind
	return nil
}

func (s *Service) purpose(kind string) (Purpose, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.purposes[kind]
	return p, ok
}

// KindOfField returns the purpose kind whose request field is field.
func (s *Service) KindOfField(field string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.fields[field]
	return k, ok
}

// Fields lists the request fields of the registered purposes.
func (s *Service) Fields() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.fields))
	for f := range s.fields {
		out = append(out, f)
	}
	return out
}

// Provider returns the provider named name.
func (s *Service) Provider(name string) (Provider, bool) {
	p, ok := s.providers[name]
	return p, ok
}

var currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

// Create starts a payment by buyerID for the subject of kind. If the subject already has an
// open payment by the same buyer, that one is returned with created false.
func (s *Service) Create(ctx context.Context, buyerID, kind, subjectID string) (p *Payment, created bool, err error) {
	pur, ok := s.purpose(kind)
	if !ok {
		return nil, false, apperr.ErrValidation.WithFields(map[string]string{kind: "unknown purpose"})
	}
	if subjectID == "" || len(subjectID) > 64 {
		return nil, false, apperr.ErrValidation.WithFields(map[string]string{pur.Field: "must be 1 to 64 characters"})
	}
	q, err := pur.Quote(ctx, buyerID, subjectID)
	if err != nil {
		return nil, false, err
	}
	if q.Amount <= 0 || !currencyRe.MatchString(q.Currency) {
		return nil, false, fmt.Errorf("payments: purpose %s quoted %d %q", kind, q.Amount, q.Currency)
	}
	key := kind + ":" + subjectID
	now := s.now().UTC()
	p = &Payment{
		ID: uuid.NewString(), Kind: kind, SubjectID: subjectID, BuyerID: buyerID, Amount: q.Amount,
		Currency: q.Currency, Provider: s.provider.Name(), Status: StatusPending, ActiveKey: &key,
		CreatedAt: now, UpdatedAt: now,
	}
	gdb := s.store.db.WithContext(ctx)
	err = gdb.Create(p).Error
	if db.IsUniqueViolation(err) {
		// The subject already has a live payment: the unique index on active_key decided.
		cur, err := s.store.byActiveKey(gdb, key)
		switch {
		case err != nil:
			return nil, false, err
		case cur == nil:
			// It settled between the insert and the read; the client may simply retry.
			return nil, false, apperr.ErrConflict
		case cur.Status == StatusSucceeded:
			return nil, false, ErrAlreadyPaid
		case cur.BuyerID != buyerID:
			return nil, false, apperr.ErrConflict.WithMessage("someone else is paying for this")
		}
		return cur, false, nil
	}
	if err != nil {
		return nil, false, err
	}

	// The provider is called outside any transaction: a slow provider must not hold a row lock.
	intent, err := s.provider.CreateIntent(ctx, IntentRequest{PaymentID: p.ID, Amount: p.Amount,
		Currency: p.Currency, Description: q.Description})
	if err != nil {
		s.log.WarnContext(ctx, "payments: create intent failed", "payment", p.ID, "provider", p.Provider, "err", err)
		if _, aerr := s.settle(context.WithoutCancel(ctx), p.ID, StatusFailed); aerr != nil {
			s.log.ErrorContext(ctx, "payments: fail payment", "payment", p.ID, "err", aerr)
		}
		return nil, false, ErrProviderUnavailable
	}
	p.ProviderRef, p.CheckoutURL, p.UpdatedAt = &intent.Ref, intent.CheckoutURL, s.now().UTC()
	p.ClientSecret = intent.ClientSecret
	err = gdb.Model(&Payment{}).Where("id = ?", p.ID).
		Updates(map[string]any{"provider_ref": intent.Ref, "checkout_url": intent.CheckoutURL, "updated_at": p.UpdatedAt}).Error
	if err != nil {
		return nil, false, err
	}
	return p, true, nil
}

// Get returns the payment id if buyerID made it; anyone else's is not found.
func (s *Service) Get(ctx context.Context, buyerID, id string) (*Payment, error) {
	p, err := s.store.byID(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.BuyerID != buyerID {
		return nil, ErrNotFound
	}
	return p, nil
}

// Result is what applying an event did.
type Result string

// The results.
const (
	ResultApplied   Result = "applied"   // the payment moved
	ResultDuplicate Result = "duplicate" // the event was seen before
	ResultUnchanged Result = "unchanged" // recorded, but it moves nothing (old or out of order)
	ResultIgnored   Result = "ignored"   // about no payment of ours
	ResultRefunded  Result = "refunded"  // a success that could not be fulfilled, given back
)

// HandleWebhook verifies a webhook for provider and applies its event.
func (s *Service) HandleWebhook(ctx context.Context, provider string, body []byte, header http.Header) (Result, error) {
	pr, ok := s.providers[provider]
	if !ok {
		return "", ErrUnknownProvider
	}
	ev, err := pr.VerifyWebhook(body, header)
	if err != nil {
		return "", err
	}
	return s.Apply(ctx, provider, ev, body)
}

// errRefused carries a purpose's refusal out of the transaction it rolls back.
type errRefused struct{ err error }

func (e errRefused) Error() string { return "fulfilment refused: " + e.err.Error() }

// Apply records ev once and moves its payment forward. A success is fulfilled in the same
// transaction; a refused fulfilment leaves the payment owing a refund, which is then asked of
// the provider (and retried by the reconciler until it goes through).
func (s *Service) Apply(ctx context.Context, provider string, ev Event, payload []byte) (Result, error) {
	if ev.ID == "" || ev.Ref == "" {
		return "", ErrBadEvent
	}
	row := func(p *Payment, applied bool) *inboxEvent {
		r := &inboxEvent{Provider: provider, EventID: ev.ID, Type: ev.Type, Status: ev.Status, Applied: applied,
			ReceivedAt: s.now().UTC(), Payload: payload}
		if p != nil {
			r.PaymentID = p.ID
		}
		return r
	}
	var (
		result Result
		moved  *Payment
	)
	err := s.store.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		p, err := lockByRef(tx, provider, ev.Ref)
		if err != nil {
			return err
		}
		if p == nil || !s.matches(p, ev) {
			result = ResultIgnored
			if p != nil {
				s.log.WarnContext(ctx, "payments: event amount differs from the payment", "payment", p.ID,
					"event", ev.ID, "amount", ev.Amount, "currency", ev.Currency)
			}
			return s.recordOnce(tx, row(p, false), &result)
		}
		if ev.Status == "" || !p.Status.CanMoveTo(ev.Status) {
			result = ResultUnchanged
			return s.recordOnce(tx, row(p, false), &result)
		}
		result = ResultApplied
		if err := s.recordOnce(tx, row(p, true), &result); err != nil || result == ResultDuplicate {
			return err
		}
		if err := s.move(ctx, tx, p, ev.Status, ""); err != nil {
			return err
		}
		moved = p
		return nil
	})
	var refused errRefused
	if errors.As(err, &refused) {
		return s.owe(ctx, provider, ev, row, refused.err)
	}
	if err != nil {
		return "", err
	}
	if moved != nil {
		s.log.InfoContext(ctx, "payments: payment moved", "payment", moved.ID, "status", moved.Status, "event", ev.ID)
	}
	return result, nil
}

func (s *Service) recordOnce(tx *gorm.DB, r *inboxEvent, result *Result) error {
	fresh, err := recordEvent(tx, r)
	if err == nil && !fresh {
		*result = ResultDuplicate
	}
	return err
}

// matches reports whether an event's amount and currency, when it carries them, are the payment's.
func (s *Service) matches(p *Payment, ev Event) bool {
	return (ev.Amount == 0 || ev.Amount == p.Amount) && (ev.Currency == "" || ev.Currency == p.Currency)
}

// move sets p's status inside tx and runs its purpose's hook. A purpose's refusal to fulfil
// comes back as errRefused, which rolls the transaction back.
func (s *Service) move(ctx context.Context, tx *gorm.DB, p *Payment, to Status, refundReason string) error {
	from := p.Status
	now := s.now().UTC()
	p.Status, p.UpdatedAt = to, now
	if !to.Open() {
		p.SettledAt = &now
	}
	if to != StatusSucceeded || refundReason != "" {
		// A failed, canceled or refunded payment no longer holds its subject, and neither does
		// a success that is owed back: the subject may be paid for again.
		p.ActiveKey = nil
	}
	p.RefundReason = refundReason
	pur, ok := s.purpose(p.Kind)
	switch {
	case to == StatusSucceeded && refundReason == "":
		if !ok {
			return errRefused{fmt.Errorf("no purpose %q is registered", p.Kind)}
		}
		if err := pur.Fulfill(ctx, tx, p); err != nil {
			return errRefused{err}
		}
	case to != StatusSucceeded && !to.Open() && from.Open() && ok && pur.Release != nil:
		if err := pur.Release(ctx, tx, p); err != nil {
			return fmt.Errorf("release %s %s: %w", p.Kind, p.SubjectID, err)
		}
	}
	return tx.Model(&Payment{}).Where("id = ?", p.ID).Updates(map[string]any{
		"status": p.Status, "updated_at": p.UpdatedAt, "settled_at": p.SettledAt, "active_key": p.ActiveKey,
		"refund_reason": p.RefundReason,
	}).Error
}

// owe records a success whose fulfilment was refused, then refunds it.
func (s *Service) owe(ctx context.Context, provider string, ev Event, row func(*Payment, bool) *inboxEvent, why error) (Result, error) {
	result := ResultRefunded
	var owed *Payment
	err := s.store.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		p, err := lockByRef(tx, provider, ev.Ref)
		if err != nil || p == nil {
			return err
		}
		if !p.Status.CanMoveTo(StatusSucceeded) {
			// Another delivery of a concurrent event got there first.
			result = ResultUnchanged
			return s.recordOnce(tx, row(p, false), &result)
		}
		if err := s.recordOnce(tx, row(p, true), &result); err != nil || result == ResultDuplicate {
			return err
		}
		reason := why.Error()
		if len(reason) > 250 {
			reason = reason[:250]
		}
		owed = p
		return s.move(ctx, tx, p, StatusSucceeded, reason)
	})
	if err != nil {
		return "", err
	}
	if owed != nil {
		s.log.WarnContext(ctx, "payments: success could not be fulfilled; refunding", "payment", owed.ID, "reason", why)
		if err := s.refund(ctx, owed); err != nil {
			// The reconciler retries; the webhook itself was handled.
			s.log.ErrorContext(ctx, "payments: refund failed; will retry", "payment", owed.ID, "err", err)
		}
	}
	return result, nil
}

// refund asks the provider to give an owed payment back and records it.
func (s *Service) refund(ctx context.Context, p *Payment) error {
	pr, ok := s.providers[p.Provider]
	if !ok || p.ProviderRef == nil {
		return fmt.Errorf("payments: cannot refund %s through %q", p.ID, p.Provider)
	}
	if err := pr.Refund(ctx, *p.ProviderRef); err != nil {
		return err
	}
	_, err := s.settle(ctx, p.ID, StatusRefunded)
	return err
}

// settle moves payment id to status outside any event (provider failures, reconciliation).
func (s *Service) settle(ctx context.Context, id string, to Status) (bool, error) {
	moved := false
	err := s.store.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		p, err := lockByID(tx, id)
		if err != nil {
			return err
		}
		if !p.Status.CanMoveTo(to) {
			return nil
		}
		moved = true
		reason := ""
		if to == StatusRefunded {
			reason = p.RefundReason
		}
		return s.move(ctx, tx, p, to, reason)
	})
	return moved, err
}
