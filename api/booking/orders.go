package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/payments"
	"github.com/onstagehq/onstage/rooms"
)

// PurposeKind is the payment purpose of orders; its request field is order_id.
const PurposeKind = "order"

// Order limits.
const (
	MinOrderMinutes = 15
	MaxOrderMinutes = 480
	// FreeCancelBefore is how long before its start a buyer may still cancel a paid order
	// and get the money back.
	FreeCancelBefore = 24 * time.Hour
)

// OrderInput is POST /orders.
type OrderInput struct {
	StreamerID      string    `json:"streamer_id"`
	Start           time.Time `json:"start"`
	DurationMinutes int       `json:"duration_minutes"`
}

// CreateOrder holds a streamer's time for the calling player for HoldTTL, until it is paid.
// The streamer's row lock serializes one streamer's orders, and the unique slot units make
// overlapping orders impossible even without it: of any number of racing orders for one
// time, exactly one is created.
func (s *Service) CreateOrder(ctx context.Context, caller authn.Identity, in OrderInput) (OrderView, error) {
	if !s.hasRole(ctx, caller, authn.RolePlayer) {
		return OrderView{}, ErrNotPlayer
	}
	bad := map[string]string{}
	if in.StreamerID == "" || len(in.StreamerID) > 64 {
		bad["streamer_id"] = "required"
	}
	if in.Start.IsZero() {
		bad["start"] = "required (RFC 3339)"
	}
	if in.DurationMinutes < MinOrderMinutes || in.DurationMinutes > MaxOrderMinutes || in.DurationMinutes%5 != 0 {
		bad["duration_minutes"] = fmt.Sprintf("must be %d to %d, a multiple of 5", MinOrderMinutes, MaxOrderMinutes)
	}
	if len(bad) > 0 {
		return OrderView{}, apperr.Invalidf(bad)
	}
	if in.StreamerID == caller.UserID {
		return OrderView{}, ErrSlotUnavailable.WithMessage("you cannot book yourself")
	}
	now := s.clock()
	start := in.Start.UTC().Truncate(time.Second)
	iv := Interval{start, start.Add(time.Duration(in.DurationMinutes) * time.Minute)}
	var o *Order
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		p, err := lockProfile(tx, in.StreamerID, true)
		if err != nil {
			return err
		}
		loc, err := LoadZone(p.TimeZone)
		if err != nil {
			return ErrSlotUnavailable
		}
		if err := expireHolds(tx, "streamer_id = ?", p.UserID, now); err != nil {
			return err
		}
		orders, err := holdingOrders(tx, p.UserID, iv.Start.Add(-48*time.Hour), iv.End.Add(48*time.Hour), now)
		if err != nil {
			return err
		}
		if !fits(p.schedule(), loc, iv, busyOf(orders), now) {
			return ErrSlotUnavailable
		}
		amount := (p.PricePerHour*int64(in.DurationMinutes) + 59) / 60
		o = &Order{ID: uuid.NewString(), BuyerID: caller.UserID, StreamerID: p.UserID, Start: iv.Start, End: iv.End,
			DurationMinutes: in.DurationMinutes, Amount: amount, Currency: p.Currency, Status: OrderPending,
			HoldExpiresAt: now.Add(s.p.HoldTTL), CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(o).Error; err != nil {
			return err
		}
		return takeSlots(tx, o)
	})
	if err != nil {
		return OrderView{}, err
	}
	s.invalidate(ctx)
	return o.view(), nil
}

// takeSlots inserts o's slot units; a unit another order holds is ErrSlotUnavailable.
func takeSlots(tx *gorm.DB, o *Order) error {
	us := units(o.Start, o.End)
	rows := make([]Slot, len(us))
	for i, u := range us {
		rows[i] = Slot{StreamerID: o.StreamerID, SlotStart: u, OrderID: o.ID}
	}
	err := tx.Create(&rows).Error
	if db.IsUniqueViolation(err) {
		return ErrSlotUnavailable
	}
	return err
}

// expireHolds marks the unpaid orders matching where whose hold ran out as expired and gives
// their slot units back.
func expireHolds(tx *gorm.DB, where string, arg any, now time.Time) error {
	var ids []string
	if err := tx.Model(&Order{}).Where(where, arg).Where("status = ? AND hold_expires_at <= ?", OrderPending, now).
		Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
		return err
	}
	if err := tx.Model(&Order{}).Where("id IN ? AND status = ?", ids, OrderPending).
		Updates(map[string]any{"status": OrderExpired, "updated_at": now}).Error; err != nil {
		return err
	}
	return tx.Where("order_id IN ?", ids).Delete(&Slot{}).Error
}

func lockOrder(tx *gorm.DB, id string) (*Order, error) {
	var o Order
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id = ?", id).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrOrderNotFound
	}
	return &o, err
}

// canRead reports whether the caller may see o: its buyer, its streamer, or orders:read_any.
func (s *Service) canRead(ctx context.Context, caller authn.Identity, o *Order) bool {
	if caller.UserID != "" && (o.BuyerID == caller.UserID || o.StreamerID == caller.UserID) {
		return true
	}
	return s.p.Authz != nil && s.p.Authz.Can(ctx, caller, authz.OrdersReadAny, nil) == nil
}

// GetOrder returns an order its buyer, its streamer or a holder of orders:read_any may see;
// anyone else gets not found.
func (s *Service) GetOrder(ctx context.Context, caller authn.Identity, id string) (OrderView, error) {
	var o Order
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && !s.canRead(ctx, caller, &o)) {
		return OrderView{}, ErrOrderNotFound
	}
	if err != nil {
		return OrderView{}, err
	}
	s.expiredView(&o)
	return o.view(), nil
}

// expiredView shows an unpaid order whose hold ran out as expired before the sweeper gets to it.
func (s *Service) expiredView(o *Order) {
	if o.Status == OrderPending && !o.HoldExpiresAt.After(s.now()) {
		o.Status = OrderExpired
	}
}

// OrderQuery filters the caller's orders.
type OrderQuery struct {
	// As is "buyer", "streamer" or "" for both.
	As             string
	Status         string
	Page, PageSize int
}

// OrderPage is a page of orders.
type OrderPage struct {
	Items    []OrderView `json:"items"`
	Page     int         `json:"page"`
	PageSize int         `json:"page_size"`
	Total    int64       `json:"total"`
}

// Orders lists the caller's orders, as buyer and as streamer, newest first.
func (s *Service) Orders(ctx context.Context, caller authn.Identity, q OrderQuery) (OrderPage, error) {
	tx := s.db.WithContext(ctx).Model(&Order{})
	switch q.As {
	case "buyer":
		tx = tx.Where("buyer_id = ?", caller.UserID)
	case "streamer":
		tx = tx.Where("streamer_id = ?", caller.UserID)
	case "":
		tx = tx.Where("buyer_id = ? OR streamer_id = ?", caller.UserID, caller.UserID)
	default:
		return OrderPage{}, apperr.Invalidf(map[string]string{"as": "must be buyer or streamer"})
	}
	if q.Status != "" {
		switch st := OrderStatus(q.Status); st {
		case OrderPending, OrderPaid, OrderCompleted, OrderExpired, OrderCancelled:
			tx = tx.Where("status = ?", st)
		default:
			return OrderPage{}, apperr.Invalidf(map[string]string{"status": "unknown status"})
		}
	}
	var total int64
	if err := tx.Count(&total).Error; err != nil {
		return OrderPage{}, err
	}
	var os []Order
	if err := tx.Order("created_at DESC").Order("id").Offset((q.Page - 1) * q.PageSize).Limit(q.PageSize).Find(&os).Error; err != nil {
		return OrderPage{}, err
	}
	items := make([]OrderView, 0, len(os))
	for i := range os {
		s.expiredView(&os[i])
		items = append(items, os[i].view())
	}
	return OrderPage{Items: items, Page: q.Page, PageSize: q.PageSize, Total: total}, nil
}

// CancelOrder cancels an order. An unpaid one: its buyer or streamer, any time. A paid one:
// its buyer until 24 hours before it starts, its streamer until it starts; the payment is
// refunded through the provider first, so a cancelled paid order is never left unrefunded.
func (s *Service) CancelOrder(ctx context.Context, caller authn.Identity, id, reason string) (OrderView, error) {
	if len(reason) > 500 {
		return OrderView{}, apperr.Invalidf(map[string]string{"reason": "at most 500 characters"})
	}
	var cur Order
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&cur).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && cur.BuyerID != caller.UserID && cur.StreamerID != caller.UserID) {
		return OrderView{}, ErrOrderNotFound
	}
	if err != nil {
		return OrderView{}, err
	}
	now := s.clock()
	isBuyer := cur.BuyerID == caller.UserID
	if cur.Status == OrderPaid {
		switch {
		case !now.Before(cur.Start):
			return OrderView{}, ErrOrderState.WithMessage("the session has started")
		case isBuyer && now.After(cur.Start.Add(-FreeCancelBefore)):
			return OrderView{}, ErrCancelTooLate
		}
		if s.p.Payments != nil {
			if _, err := s.p.Payments.RefundSubject(ctx, PurposeKind, cur.ID, "order cancelled"); err != nil {
				return OrderView{}, err
			}
		}
	}
	var o *Order
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if o, err = lockOrder(tx, id); err != nil {
			return err
		}
		if o.Status != OrderPending && o.Status != OrderPaid {
			return ErrOrderState
		}
		if o.Status != cur.Status {
			return apperr.ErrConflict // it was paid meanwhile: the client retries and refunds
		}
		o.Refunded = o.Status == OrderPaid
		o.Status, o.CancelReason, o.CancelledBy, o.UpdatedAt = OrderCancelled, reason, caller.UserID, now
		if err := tx.Model(&Order{}).Where("id = ?", o.ID).Updates(map[string]any{"status": o.Status,
			"cancel_reason": reason, "cancelled_by": caller.UserID, "refunded": o.Refunded, "updated_at": now}).Error; err != nil {
			return err
		}
		if err := tx.Where("order_id = ?", o.ID).Delete(&Slot{}).Error; err != nil {
			return err
		}
		other := o.StreamerID
		if !isBuyer {
			other = o.BuyerID
		}
		return enqueue(tx, other, o, Notification{Kind: "order_cancelled", Title: "Booking cancelled",
			Text: fmt.Sprintf("The session on %s was cancelled.", o.Start.UTC().Format(time.RFC1123))}, now)
	})
	if err != nil {
		return OrderView{}, err
	}
	if o.MeetingID != nil && s.p.Meetings != nil {
		st := rooms.StatusCancelled
		if _, err := s.p.Meetings.Update(ctx, authn.Identity{UserID: o.StreamerID, Role: authn.RoleStreamer}, *o.MeetingID,
			rooms.UpdateInput{Status: &st}); err != nil {
			s.log.WarnContext(ctx, "booking: cancel the meeting of a cancelled order", "order", o.ID, "err", err)
		}
	}
	s.invalidate(ctx)
	s.wake()
	return o.view(), nil
}

// ---- payment purpose ----

// Purpose is the "order" payment purpose: the buyer pays a held order; the success marks it
// paid and creates its meeting in the payment's own transaction.
func (s *Service) Purpose() payments.Purpose {
	return payments.Purpose{Kind: PurposeKind, Field: "order_id", Quote: s.quote, Fulfill: s.fulfill}
}

func (s *Service) quote(ctx context.Context, buyerID, orderID string) (payments.Quote, error) {
	var o Order
	err := s.db.WithContext(ctx).Where("id = ?", orderID).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && o.BuyerID != buyerID) {
		return payments.Quote{}, ErrOrderNotFound
	}
	if err != nil {
		return payments.Quote{}, err
	}
	switch {
	case o.Status == OrderPaid || o.Status == OrderCompleted:
		return payments.Quote{}, payments.ErrAlreadyPaid
	case o.Status != OrderPending:
		return payments.Quote{}, ErrOrderState
	case !o.HoldExpiresAt.After(s.now()):
		return payments.Quote{}, ErrHoldExpired
	}
	return payments.Quote{Amount: o.Amount, Currency: o.Currency,
		Description: fmt.Sprintf("%d minutes on %s", o.DurationMinutes, o.Start.UTC().Format(time.RFC1123))}, nil
}

// errResold is a success for an order whose time went to someone else.
var errResold = errors.New("booking: the order's time was sold to another order")

// fulfill runs in the payment's success transaction: it marks the order paid and creates its
// meeting, so there is never a paid order without a meeting. An order paid already, or
// cancelled, or whose expired hold was re-sold, is refused: the payment is then refunded.
func (s *Service) fulfill(ctx context.Context, tx *gorm.DB, p *payments.Payment) error {
	o, err := lockOrder(tx, p.SubjectID)
	if err != nil {
		return err
	}
	switch o.Status {
	case OrderPaid, OrderCompleted:
		return payments.ErrAlreadyPaid
	case OrderCancelled:
		return ErrOrderState.WithMessage("the order was cancelled")
	case OrderExpired:
		// The hold ran out before the money came: the time is the buyer's only if nobody took
		// it meanwhile. The savepoint keeps a refusal from poisoning the transaction.
		if err := tx.SavePoint("retake").Error; err != nil {
			return err
		}
		if err := takeSlots(tx, o); err != nil {
			_ = tx.RollbackTo("retake")
			if errors.Is(err, ErrSlotUnavailable) {
				return errResold
			}
			return err
		}
	case OrderPending:
		var n int64
		if err := tx.Model(&Slot{}).Where("order_id = ?", o.ID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return errResold
		}
	default:
		return ErrOrderState
	}
	if s.p.Meetings == nil {
		return errors.New("booking: no meeting service")
	}
	title := "Booked session"
	if _, name, err := s.contact(ctx, o.StreamerID); err == nil && name != "" {
		title = "Session with " + name
	}
	m, err := s.p.Meetings.CreateBookedTx(ctx, tx, rooms.BookedInput{HostID: o.StreamerID, GuestIDs: []string{o.BuyerID},
		Title: title, Start: o.Start, DurationMinutes: o.DurationMinutes})
	if err != nil {
		return err
	}
	now := s.clock()
	if err := tx.Model(&Order{}).Where("id = ?", o.ID).Updates(map[string]any{"status": OrderPaid, "meeting_id": m.ID,
		"meeting_code": m.Code, "paid_at": now, "updated_at": now}).Error; err != nil {
		return err
	}
	o.MeetingID, o.MeetingCode = &m.ID, m.Code
	n := Notification{Kind: "order_paid", Title: "Session booked", MeetingID: m.ID, MeetingCode: m.Code,
		Text: fmt.Sprintf("A %d-minute session on %s is booked. Join with meeting code %s.", o.DurationMinutes,
			o.Start.UTC().Format(time.RFC1123), m.Code)}
	for _, u := range []string{o.BuyerID, o.StreamerID} {
		if err := enqueue(tx, u, o, n, now); err != nil {
			return err
		}
	}
	s.wake()
	return nil
}

func (s *Service) contact(ctx context.Context, id string) (string, string, error) {
	if s.p.Contact == nil {
		return "", "", errors.New("no directory")
	}
	return s.p.Contact(ctx, id)
}

// enqueue writes a notification for userID to the outbox inside tx.
func enqueue(tx *gorm.DB, userID string, o *Order, n Notification, now time.Time) error {
	n.OrderID, n.At = o.ID, now
	raw, _ := json.Marshal(n)
	return tx.Create(&outboxRow{UserID: userID, Kind: n.Kind, OrderID: o.ID, Payload: string(raw), CreatedAt: now}).Error
}

// MeetingEvent takes the meeting domain's events: a booked meeting that ended completes its
// order. It never blocks the caller; the sweeper catches whatever a full queue drops.
func (s *Service) MeetingEvent(ev rooms.Event) {
	if ev.Type != rooms.EventMeetingEnded {
		return
	}
	select {
	case s.ended <- ev.MeetingID:
	default:
	}
}

// complete marks the paid orders of the ended meetings completed.
func (s *Service) complete(ctx context.Context, meetingIDs []string) error {
	if len(meetingIDs) == 0 {
		return nil
	}
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&Order{}).Where("meeting_id IN ? AND status = ?", meetingIDs, OrderPaid).
		Updates(map[string]any{"status": OrderCompleted, "completed_at": now, "updated_at": now})
	return res.Error
}

// sweep expires unpaid holds and completes paid orders whose meeting ended while no event
// reached this node.
func (s *Service) sweep(ctx context.Context) error {
	now := s.clock()
	if err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return expireHolds(tx, "1 = ?", 1, now)
	}); err != nil {
		return err
	}
	// Sent notifications are kept a week for support, then dropped.
	if err := s.db.WithContext(ctx).Where("sent_at < ?", now.Add(-7*24*time.Hour)).Delete(&outboxRow{}).Error; err != nil {
		return err
	}
	if s.p.Meetings == nil {
		return nil
	}
	var os []Order
	if err := s.db.WithContext(ctx).Where("status = ? AND start_at < ?", OrderPaid, now).Limit(500).Find(&os).Error; err != nil {
		return err
	}
	ids := make([]string, 0, len(os))
	for _, o := range os {
		if o.MeetingID != nil {
			ids = append(ids, *o.MeetingID)
		}
	}
	sts, err := s.p.Meetings.Statuses(ctx, ids)
	if err != nil {
		return err
	}
	var ended []string
	for id, st := range sts {
		if st == rooms.StatusEnded {
			ended = append(ended, id)
		}
	}
	return s.complete(ctx, ended)
}
