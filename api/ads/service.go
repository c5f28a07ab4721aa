package ads

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/audit"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/payments"
)

// Authorizer answers permission checks (internal/authz.Service).
type Authorizer interface {
	Can(ctx context.Context, id authn.Identity, p authz.Permission, t *authz.Target) error
}

// Auditor appends to the admin audit log (internal/audit.Log).
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
}

// ServiceParams are the Service's dependencies.
type ServiceParams struct {
	DB       *gorm.DB
	Accounts *auth.Service
	Authz    Authorizer
	// Audit receives package changes; nil skips them.
	Audit Auditor
	Log   *slog.Logger
	Now   func() time.Time
	// ExpireInterval is how often the background job runs (default 10 s): it expires ads whose
	// paid time is over, cancels unpaid ones and compacts closed days' viewers.
	ExpireInterval time.Duration
	// PendingTTL is how long a purchased ad waits for its payment before the job cancels it
	// (default 24 h).
	PendingTTL time.Duration
}

// Service holds the ads domain's rules. Lock order: an ad's row is changed only by a
// compare-and-set on its version, so no Go lock is held across a database call.
type Service struct {
	db       *gorm.DB
	accounts *auth.Service
	authz    Authorizer
	audit    Auditor
	log      *slog.Logger
	now      func() time.Time
	every    time.Duration
	// pendingTTL is how long an ad may stay pending_payment.
	pendingTTL time.Duration

	// afterValidate, set by tests, runs between an import's validation and its transaction.
	afterValidate func()
	// beforeCommit, set by tests, runs last inside an import's transaction; an error rolls it back.
	beforeCommit func(tx *gorm.DB) error

	stop      chan struct{}
	done      chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
}

// NewService returns a Service; Start runs its background job.
func NewService(p ServiceParams) *Service {
	s := &Service{db: p.DB, accounts: p.Accounts, authz: p.Authz, audit: p.Audit, log: p.Log, now: p.Now,
		every: p.ExpireInterval, pendingTTL: p.PendingTTL, stop: make(chan struct{}), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.every <= 0 {
		s.every = 10 * time.Second
	}
	if s.pendingTTL <= 0 {
		s.pendingTTL = 24 * time.Hour
	}
	return s
}

// ---- packages ----

// PackageInput creates or (with every field) replaces a package.
type PackageInput struct {
	Name         string `json:"name"`
	Placement    string `json:"placement"`
	DurationDays int    `json:"duration_days"`
	Price        int64  `json:"price"`
	Currency     string `json:"currency"`
	Active       *bool  `json:"active"`
}

var currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

func (in *PackageInput) check() error {
	f := map[string]string{}
	in.Name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(in.Name); n < 1 || n > 100 || strings.ContainsFunc(in.Name, unicode.IsControl) {
		f["name"] = "must be 1 to 100 characters"
	}
	if !slices.Contains(Placements, in.Placement) {
		f["placement"] = "must be catalogue_top, search or lobby"
	}
	if in.DurationDays < 1 || in.DurationDays > 366 {
		f["duration_days"] = "must be 1 to 366"
	}
	if in.Price < 1 || in.Price > 100_000_000 {
		f["price"] = "must be a positive amount in minor units"
	}
	if !currencyRe.MatchString(in.Currency) {
		f["currency"] = "must be an upper-case ISO 4217 code"
	}
	if in.Active == nil {
		t := true
		in.Active = &t
	}
	if len(f) > 0 {
		return apperr.Invalidf(f)
	}
	return nil
}

// Packages lists the packages: those on sale for anyone, all of them for managers.
func (s *Service) Packages(ctx context.Context, all bool) ([]Package, error) {
	out := []Package{}
	tx := s.db.WithContext(ctx).Order("price, id")
	if !all {
		tx = tx.Where("active = ?", true)
	}
	if err := tx.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list packages: %w", err)
	}
	return out, nil
}

// CreatePackage adds a package (permission ads:packages).
func (s *Service) CreatePackage(ctx context.Context, actor authn.Identity, in PackageInput) (*Package, error) {
	if err := s.authz.Can(ctx, actor, authz.AdsPackages, nil); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	p := &Package{ID: uuid.NewString(), Name: in.Name, Placement: in.Placement, DurationDays: in.DurationDays,
		Price: in.Price, Currency: in.Currency, Active: *in.Active, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(p).Error; err != nil {
		return nil, fmt.Errorf("create package: %w", err)
	}
	s.note(ctx, actor, "package:create", p.ID)
	return p, nil
}

// UpdatePackage replaces a package's fields (permission ads:packages). Ads already sold keep
// what they were sold with.
func (s *Service) UpdatePackage(ctx context.Context, actor authn.Identity, id string, in PackageInput) (*Package, error) {
	if err := s.authz.Can(ctx, actor, authz.AdsPackages, nil); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	res := s.db.WithContext(ctx).Model(&Package{}).Where("id = ?", id).Updates(map[string]any{
		"name": in.Name, "placement": in.Placement, "duration_days": in.DurationDays, "price": in.Price,
		"currency": in.Currency, "active": *in.Active, "updated_at": now})
	if res.Error != nil {
		return nil, fmt.Errorf("update package: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	var p Package
	if err := s.db.WithContext(ctx).Take(&p, "id = ?", id).Error; err != nil {
		return nil, fmt.Errorf("read package: %w", err)
	}
	s.note(ctx, actor, "package:update", p.ID)
	return &p, nil
}

// note writes a package change to the admin audit log. The change is committed; a row that
// cannot be written is logged loudly rather than turned into an error the client would retry.
func (s *Service) note(ctx context.Context, actor authn.Identity, op, id string) {
	if s.audit == nil {
		return
	}
	_, err := s.audit.Append(context.WithoutCancel(ctx), audit.Entry{ActorID: actor.UserID, ActorName: actor.Name,
		Module: "ads", Operation: op, TargetType: "ad_package", TargetID: id, Status: audit.StatusSuccess})
	if err != nil {
		s.log.ErrorContext(ctx, "ads: audit row lost", "op", op, "id", id, "err", err)
	}
}

// ---- purchases ----

// Purchase creates an ad of pkgID for the calling streamer, waiting for its payment.
func (s *Service) Purchase(ctx context.Context, actor authn.Identity, pkgID string) (*Ad, error) {
	if actor.Role != authn.RoleStreamer {
		return nil, ErrNotStreamer
	}
	var sub subAccount
	agency := ""
	err := s.db.WithContext(ctx).Take(&sub, "user_id = ?", actor.UserID).Error
	switch {
	case err == nil:
		agency = sub.AgencyID
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return nil, fmt.Errorf("read sub-account: %w", err)
	}
	return s.create(ctx, actor.UserID, actor.UserID, agency, pkgID)
}

// PurchaseFor creates an ad of pkgID for a sub-account of the calling agency. Anyone else's
// sub-account is ErrNotFound.
func (s *Service) PurchaseFor(ctx context.Context, actor authn.Identity, subID, pkgID string) (*Ad, error) {
	if actor.Role != authn.RoleAgency {
		return nil, ErrNotAgency
	}
	if _, err := s.subAccountOf(ctx, actor.UserID, subID); err != nil {
		return nil, err
	}
	return s.create(ctx, actor.UserID, subID, actor.UserID, pkgID)
}

// subAccountOf returns agency's sub-account id, or ErrNotFound when it is not agency's.
func (s *Service) subAccountOf(ctx context.Context, agency, id string) (*subAccount, error) {
	var sub subAccount
	err := s.db.WithContext(ctx).Take(&sub, "user_id = ? AND agency_id = ?", id, agency).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read sub-account: %w", err)
	}
	return &sub, nil
}

func (s *Service) create(ctx context.Context, buyer, owner, agency, pkgID string) (*Ad, error) {
	if pkgID == "" || len(pkgID) > 64 {
		return nil, apperr.Invalidf(map[string]string{"package_id": "required"})
	}
	var p Package
	err := s.db.WithContext(ctx).Take(&p, "id = ?", pkgID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read package: %w", err)
	}
	if !p.Active {
		return nil, ErrPackageInactive
	}
	now := s.now().UTC()
	dur := int64(p.DurationDays) * 24 * 3600
	a := &Ad{ID: uuid.NewString(), PackageID: p.ID, OwnerID: owner, AgencyID: agency, BuyerID: buyer,
		Placement: p.Placement, DurationSeconds: dur, Price: p.Price, Currency: p.Currency, Status: StatusPending,
		RemainingSeconds: dur, Version: 1, CreatedAt: now, UpdatedAt: now}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(a).Error; err != nil {
			return err
		}
		return tx.Create(&event{AdID: a.ID, ToState: string(StatusPending), ActorID: buyer, Reason: "purchase", CreatedAt: now}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("create ad: %w", err)
	}
	s.log.InfoContext(ctx, "ad purchased", "ad", a.ID, "owner", owner, "buyer", buyer, "package", p.ID)
	return a, nil
}

// ---- reading ----

// manages reports whether actor may manage a: its owner or the owner's agency.
func manages(actor authn.Identity, a *Ad) bool {
	return actor.UserID != "" && (a.OwnerID == actor.UserID || (a.AgencyID != "" && a.AgencyID == actor.UserID))
}

// adFor returns ad id if actor manages it; anyone else's ad is ErrNotFound.
func (s *Service) adFor(ctx context.Context, actor authn.Identity, id string) (*Ad, error) {
	a, err := s.ad(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if !manages(actor, a) {
		return nil, ErrNotFound
	}
	return a, nil
}

func (s *Service) ad(ctx context.Context, tx *gorm.DB, id string) (*Ad, error) {
	if id == "" || len(id) > 64 {
		return nil, ErrNotFound
	}
	var a Ad
	err := tx.WithContext(ctx).Take(&a, "id = ?", id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read ad: %w", err)
	}
	return &a, nil
}

// Mine lists the ads the actor owns or manages as their agency, newest first.
func (s *Service) Mine(ctx context.Context, actor authn.Identity, page, size int) ([]AdView, int64, error) {
	tx := s.db.WithContext(ctx).Model(&Ad{}).Where("owner_id = ? OR agency_id = ?", actor.UserID, actor.UserID)
	var total int64
	if err := tx.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count ads: %w", err)
	}
	var list []Ad
	if err := tx.Order("created_at DESC, id").Limit(size).Offset((page - 1) * size).Find(&list).Error; err != nil {
		return nil, 0, fmt.Errorf("list ads: %w", err)
	}
	now := s.now()
	out := make([]AdView, 0, len(list))
	for i := range list {
		out = append(out, list[i].View(now))
	}
	return out, total, nil
}

// ---- state changes ----

// errStale is a compare-and-set that lost to a concurrent change; the caller reads again.
var errStale = errors.New("ads: stale version")

// transition writes a's new state (already set on a) if its version is still from, with an
// ad_events row, in tx.
func transition(tx *gorm.DB, a *Ad, from Status, actor, reason string, now time.Time) error {
	old := a.Version
	a.Version++
	a.UpdatedAt = now
	res := tx.Model(&Ad{}).Where("id = ? AND version = ?", a.ID, old).Updates(map[string]any{
		"status": a.Status, "ends_at": a.EndsAt, "remaining_seconds": a.RemainingSeconds, "activated_at": a.ActivatedAt,
		"payment_id": a.PaymentID, "version": a.Version, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("update ad: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return errStale
	}
	return tx.Create(&event{AdID: a.ID, FromState: string(from), ToState: string(a.Status), ActorID: actor, Reason: reason,
		CreatedAt: now}).Error
}

// Toggle pauses (active false) or resumes (active true) an ad the actor manages. Pausing keeps
// the paid time left; resuming starts it running again from now, so paused time does not count.
// Asking for the state the ad is in changes nothing. Anyone else's ad is ErrNotFound.
func (s *Service) Toggle(ctx context.Context, actor authn.Identity, id string, active bool) (*Ad, error) {
	for range 20 {
		a, err := s.adFor(ctx, actor, id)
		if err != nil {
			return nil, err
		}
		now := s.now().UTC()
		from := a.Status
		switch {
		case a.Status == StatusActive && a.Remaining(now) == 0:
			return nil, ErrNotToggleable // its time is up; the expiry job is about to end it
		case (a.Status == StatusActive) == active && (a.Status == StatusActive || a.Status == StatusPaused):
			return a, nil
		case a.Status == StatusActive:
			a.RemainingSeconds = int64(a.Remaining(now) / time.Second)
			a.Status, a.EndsAt = StatusPaused, nil
		case a.Status == StatusPaused:
			end := now.Add(time.Duration(a.RemainingSeconds) * time.Second)
			a.Status, a.EndsAt = StatusActive, &end
		default:
			return nil, ErrNotToggleable
		}
		reason := "pause"
		if active {
			reason = "resume"
		}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return transition(tx, a, from, actor.UserID, reason, now) })
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "ad toggled", "ad", a.ID, "status", a.Status, "actor", actor.UserID)
		return a, nil
	}
	return nil, apperr.ErrConflict
}

// ---- payments ----

// Purpose is the ads' payment purpose: POST /payments {ad_id}.
func (s *Service) Purpose() payments.Purpose {
	return payments.Purpose{Kind: "ad", Field: "ad_id", Quote: s.quote, Fulfill: s.fulfill}
}

// quote prices an ad for its buyer or its owner; anyone else's is not found.
func (s *Service) quote(ctx context.Context, buyerID, adID string) (payments.Quote, error) {
	a, err := s.ad(ctx, s.db, adID)
	if err != nil {
		return payments.Quote{}, err
	}
	if a.BuyerID != buyerID && a.OwnerID != buyerID {
		return payments.Quote{}, ErrNotFound
	}
	switch a.Status {
	case StatusPending:
	case StatusCanceled:
		return payments.Quote{}, ErrAdCanceled
	default:
		return payments.Quote{}, ErrNotPayable
	}
	return payments.Quote{Amount: a.Price, Currency: a.Currency, Description: "onstage ad " + a.Placement}, nil
}

// fulfill activates the paid ad inside the payment's success transaction. The update is
// conditional on the ad still waiting for payment, so a second success (another payment, a
// replayed event), or a success after the ad was canceled unpaid, activates nothing and is
// refused, which makes payments refund it.
func (s *Service) fulfill(ctx context.Context, tx *gorm.DB, p *payments.Payment) error {
	a, err := s.ad(ctx, tx, p.SubjectID)
	if err != nil {
		return err
	}
	if a.Status != StatusPending {
		return ErrNotPayable
	}
	now := s.now().UTC()
	end := now.Add(time.Duration(a.RemainingSeconds) * time.Second)
	a.Status, a.EndsAt, a.ActivatedAt, a.PaymentID = StatusActive, &end, &now, p.ID
	if err := transition(tx, a, StatusPending, p.BuyerID, "payment", now); err != nil {
		if errors.Is(err, errStale) {
			return ErrNotPayable
		}
		return err
	}
	s.log.InfoContext(ctx, "ad activated", "ad", a.ID, "payment", p.ID, "ends_at", end)
	return nil
}

// ---- background job ----

// jobBatch bounds what one run of the background job takes on, per kind of work, so a backlog
// is worked off over several runs instead of in one long one.
const jobBatch = 500

// Start runs the background job every ExpireInterval until Close.
func (s *Service) Start() {
	s.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-s.stop
			cancel() // Close cuts a run short
		}()
		go func() {
			defer close(s.done)
			t := time.NewTicker(s.every)
			defer t.Stop()
			for {
				select {
				case <-s.stop:
					return
				case <-t.C:
					s.sweep(ctx)
				}
			}
		}()
	})
}

// sweep runs the background job once. Each part is bounded and leaves what it could not do to
// the next run; every node runs it, and each part is safe to run on several nodes at once.
func (s *Service) sweep(ctx context.Context) {
	warn := func(what string, err error) {
		if err != nil && ctx.Err() == nil {
			s.log.Warn("ads: "+what, "err", err)
		}
	}
	_, err := s.Expire(ctx)
	warn("expire", err)
	_, err = s.CancelUnpaid(ctx)
	warn("cancel unpaid", err)
	n, err := s.CompactViewers(ctx)
	warn("compact viewers", err)
	if n > 0 {
		s.log.Info("ads: viewers compacted", "ad_days", n)
	}
}

// Close stops the background job and waits for it.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.startOnce.Do(func() { close(s.done) })
		<-s.done
	})
}

// Expire ends every active ad whose paid time is over and returns how many it ended. Each is
// a compare-and-set, so nodes running it together end each ad once.
func (s *Service) Expire(ctx context.Context) (int, error) {
	now := s.now().UTC()
	return s.moveDue(ctx, s.db.Where("status = ? AND ends_at <= ?", StatusActive, now), StatusActive, StatusExpired, "expired", now)
}

// CancelUnpaid cancels every ad still waiting for its payment PendingTTL after its purchase
// and returns how many it canceled. Each is a compare-and-set from pending_payment, like the
// activation in fulfill, so a payment that succeeds meanwhile either activates the ad (and
// this skips it) or finds it canceled and is refunded: never both.
func (s *Service) CancelUnpaid(ctx context.Context) (int, error) {
	now := s.now().UTC()
	return s.moveDue(ctx, s.db.Where("status = ? AND created_at <= ?", StatusPending, now.Add(-s.pendingTTL)), StatusPending, StatusCanceled, "unpaid", now)
}

// moveDue moves up to jobBatch ads of query from status from to the final status to, for
// reason, and returns how many it moved. Each move is its own compare-and-set: an ad another
// node or a user changed meanwhile (paid, paused, moved already) is skipped.
func (s *Service) moveDue(ctx context.Context, query *gorm.DB, from, to Status, reason string, now time.Time) (int, error) {
	var due []Ad
	if err := query.WithContext(ctx).Limit(jobBatch).Find(&due).Error; err != nil {
		return 0, fmt.Errorf("find ads to move to %s: %w", to, err)
	}
	n := 0
	for i := range due {
		a := &due[i]
		a.Status, a.EndsAt, a.RemainingSeconds = to, nil, 0
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return transition(tx, a, from, "", reason, now) })
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
		s.log.InfoContext(ctx, "ad "+string(to), "ad", a.ID, "reason", reason)
	}
	return n, nil
}

// History returns the state changes of an ad the actor manages, oldest first.
func (s *Service) History(ctx context.Context, actor authn.Identity, id string) ([]EventView, error) {
	if _, err := s.adFor(ctx, actor, id); err != nil {
		return nil, err
	}
	var rows []event
	if err := s.db.WithContext(ctx).Where("ad_id = ?", id).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read ad events: %w", err)
	}
	out := make([]EventView, 0, len(rows))
	for _, r := range rows {
		out = append(out, EventView{From: r.FromState, To: r.ToState, ActorID: r.ActorID, Reason: r.Reason, At: r.CreatedAt.UTC()})
	}
	return out, nil
}

// EventView is one state change of an ad.
type EventView struct {
	From    string    `json:"from"`
	To      string    `json:"to"`
	ActorID string    `json:"actor_id"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}
