package cards

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
)

// The quota ledger is double-entry: every change is a transfer whose entries sum to zero.
// Each user has two accounts: "user:<id>" (available quota) and "hold:<id>" (quota frozen
// by a pending transfer or withdrawal). The system account issues quota (recharges by an
// admin) and receives what is spent (key batches) or paid out (withdrawals); it is the only
// account allowed below zero. A pending transfer is a posted move from user:X to hold:X;
// posting moves hold:X to the recipient, voiding moves it back — as in TigerBeetle's two-phase
// transfers, but expressed with plain entries so every balance is SUM(amount) of its account.
//
// cards_accounts.balance caches that sum; it is changed in the same transaction as the
// entries, by a conditional UPDATE (balance >= amount) that is the non-negative check and
// the row lock at once. Updates run in account-id order, so two transfers in opposite
// directions never deadlock on PostgreSQL or MySQL; SQLite serializes writers anyway.

// The transfer types and statuses.
const (
	TypeRecharge   = "recharge"
	TypeTransfer   = "transfer"
	TypeWithdrawal = "withdrawal"
	TypeBatch      = "batch"

	StatusPending = "pending"
	StatusPosted  = "posted"
	StatusVoided  = "voided"
)

// SystemAccount is the issuing account.
const SystemAccount = "system"

func userAccount(id string) string { return "user:" + id }
func holdAccount(id string) string { return "hold:" + id }

// Transfer is one ledger transaction.
type Transfer struct {
	ID           string    `gorm:"primaryKey" json:"id"`
	Type         string    `json:"type"`
	Status       string    `json:"status"`
	Amount       int64     `json:"amount"`
	DebitUserID  string    `json:"debit_user_id"`
	CreditUserID string    `json:"credit_user_id"`
	ActorID      string    `json:"actor_id"`
	ApproverID   string    `json:"approver_id"`
	Ref          string    `json:"ref"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func (Transfer) TableName() string { return "cards_transfers" }

// Entry is one row of a transfer.
type Entry struct {
	ID         int64     `gorm:"primaryKey" json:"id"`
	TransferID string    `json:"transfer_id"`
	AccountID  string    `json:"account_id"`
	Amount     int64     `json:"amount"`
	Pending    bool      `json:"pending"`
	Phase      string    `json:"phase"`
	CreatedAt  time.Time `json:"created_at"`
}

func (Entry) TableName() string { return "cards_entries" }

type account struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	Kind      string
	Balance   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (account) TableName() string { return "cards_accounts" }

func ensureAccount(tx *gorm.DB, id string, now time.Time) error {
	kind, user := "system", ""
	if id != SystemAccount {
		kind, user = id[:4], id[5:]
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&account{ID: id, UserID: user, Kind: kind, CreatedAt: now, UpdatedAt: now}).Error
}

// move writes the two entries of one leg (from → to) and updates both cached balances; a
// debit that would take a non-system account below zero is ErrInsufficientQuota.
func move(tx *gorm.DB, transferID, from, to string, amount int64, phase string, now time.Time) error {
	if amount <= 0 || from == to {
		return fmt.Errorf("cards: bad move %s→%s %d", from, to, amount)
	}
	for _, id := range []string{from, to} {
		if err := ensureAccount(tx, id, now); err != nil {
			return fmt.Errorf("cards: account %s: %w", id, err)
		}
	}
	ids := []string{from, to}
	slices.Sort(ids)
	for _, id := range ids {
		if id == from {
			q := tx.Model(&account{}).Where("id = ?", id)
			if id != SystemAccount {
				q = q.Where("balance >= ?", amount)
			}
			res := q.Updates(map[string]any{"balance": gorm.Expr("balance - ?", amount), "updated_at": now})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return ErrInsufficientQuota
			}
			continue
		}
		res := tx.Model(&account{}).Where("id = ?", id).
			Updates(map[string]any{"balance": gorm.Expr("balance + ?", amount), "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
	}
	pending := phase == StatusPending
	return tx.Create(&[]Entry{
		{TransferID: transferID, AccountID: from, Amount: -amount, Pending: pending || isHold(from), Phase: phase, CreatedAt: now},
		{TransferID: transferID, AccountID: to, Amount: amount, Pending: pending || isHold(to), Phase: phase, CreatedAt: now},
	}).Error
}

func isHold(id string) bool { return len(id) > 5 && id[:5] == "hold:" }

// post records a one-phase transfer from debit to credit ("" is the system account).
func post(tx *gorm.DB, typ, debitUser, creditUser, actor, ref string, amount int64, now time.Time) (*Transfer, error) {
	t := &Transfer{ID: newID(), Type: typ, Status: StatusPosted, Amount: amount, DebitUserID: debitUser,
		CreditUserID: creditUser, ActorID: actor, Ref: ref, CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(t).Error; err != nil {
		return nil, err
	}
	if err := move(tx, t.ID, acct(debitUser), acct(creditUser), amount, StatusPosted, now); err != nil {
		return nil, err
	}
	return t, nil
}

func acct(user string) string {
	if user == "" {
		return SystemAccount
	}
	return userAccount(user)
}

func (s *Service) checkAmount(amount int64) error {
	if amount < s.cfg.MinAmount || amount > 1<<50 {
		return fieldsErr(map[string]string{"amount": fmt.Sprintf("must be a whole number of quota units from %d", s.cfg.MinAmount)})
	}
	return nil
}

// Balance is a user's quota: available to spend, and frozen by pending requests.
type Balance struct {
	Available int64 `json:"available"`
	Pending   int64 `json:"pending"`
}

// Balance returns userID's balance from the ledger.
func (s *Service) Balance(ctx context.Context, userID string) (Balance, error) {
	var rows []account
	if err := s.db.WithContext(ctx).Where("id IN ?", []string{userAccount(userID), holdAccount(userID)}).Find(&rows).Error; err != nil {
		return Balance{}, err
	}
	var b Balance
	for _, r := range rows {
		if r.Kind == "hold" {
			b.Pending = r.Balance
		} else {
			b.Available = r.Balance
		}
	}
	return b, nil
}

// Recharge credits userID: an admin (cards:quota over everyone) issues from the system
// account; an agent admin (cards:quota over its own) pays from its own balance.
func (s *Service) Recharge(ctx context.Context, actor authn.Identity, userID string, amount int64) (*Transfer, error) {
	if err := s.checkAmount(amount); err != nil {
		return nil, err
	}
	if _, err := s.canOnUser(ctx, actor, authz.CardsQuota, userID); err != nil {
		return nil, err
	}
	scope, err := s.scopeOf(ctx, actor, authz.CardsQuota)
	if err != nil {
		return nil, err
	}
	from := actor.UserID
	if scope == authz.ScopeAll {
		from = ""
	}
	if from == userID {
		return nil, fieldsErr(map[string]string{"user_id": "cannot recharge yourself"})
	}
	var t *Transfer
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		t, err = post(tx, TypeRecharge, from, userID, actor.UserID, "", amount, s.clock())
		return err
	})
	return t, err
}

// TransferQuota moves amount from the actor to toUserID in two phases: a pending transfer
// freezes the amount (user → hold), then posting moves it to the recipient. Each phase is
// its own transaction, so a crash between them leaves a visible pending transfer, never a
// half-made one.
func (s *Service) TransferQuota(ctx context.Context, actor authn.Identity, toUserID string, amount int64) (*Transfer, error) {
	if err := s.checkAmount(amount); err != nil {
		return nil, err
	}
	if actor.UserID == "" || actor.IsGuest() {
		return nil, authz.ErrForbidden
	}
	if toUserID == actor.UserID {
		return nil, fieldsErr(map[string]string{"to_user_id": "cannot transfer to yourself"})
	}
	if _, err := s.az.TargetUser(ctx, toUserID); err != nil {
		return nil, err
	}
	t, err := s.pend(ctx, TypeTransfer, actor.UserID, toUserID, "", amount)
	if err != nil {
		return nil, err
	}
	return s.resolve(ctx, t.ID, actor.UserID, true)
}

// pend opens a pending transfer: user:debit → hold:debit.
func (s *Service) pend(ctx context.Context, typ, debitUser, creditUser, ref string, amount int64) (*Transfer, error) {
	now := s.clock()
	t := &Transfer{ID: newID(), Type: typ, Status: StatusPending, Amount: amount, DebitUserID: debitUser,
		CreditUserID: creditUser, ActorID: debitUser, Ref: ref, CreatedAt: now, UpdatedAt: now}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(t).Error; err != nil {
			return err
		}
		return move(tx, t.ID, userAccount(debitUser), holdAccount(debitUser), amount, StatusPending, now)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// resolve posts (hold:debit → credit) or voids (hold:debit → user:debit) a pending transfer.
// The status change is conditional, so of two racing decisions exactly one applies.
func (s *Service) resolve(ctx context.Context, id, approver string, postIt bool) (*Transfer, error) {
	var t Transfer
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", id).Take(&t).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return err
		}
		now := s.clock()
		status, to, phase := StatusVoided, userAccount(t.DebitUserID), StatusVoided
		if postIt {
			status, to, phase = StatusPosted, acct(t.CreditUserID), StatusPosted
		}
		res := tx.Model(&Transfer{}).Where("id = ? AND status = ?", id, StatusPending).
			Updates(map[string]any{"status": status, "approver_id": approver, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotPending
		}
		t.Status, t.ApproverID, t.UpdatedAt = status, approver, now
		return move(tx, t.ID, holdAccount(t.DebitUserID), to, t.Amount, phase, now)
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Withdraw asks to pay amount out to account (a payout address the superior uses); the
// amount is frozen until the superior approves (posted to the system account) or rejects
// (voided back).
func (s *Service) Withdraw(ctx context.Context, actor authn.Identity, amount int64, payTo string) (*Transfer, error) {
	if err := s.checkAmount(amount); err != nil {
		return nil, err
	}
	payTo = clean(payTo)
	if payTo == "" || len(payTo) > 200 {
		return nil, fieldsErr(map[string]string{"account": "required, at most 200 characters"})
	}
	if actor.UserID == "" || actor.IsGuest() {
		return nil, authz.ErrForbidden
	}
	return s.pend(ctx, TypeWithdrawal, actor.UserID, "", payTo, amount)
}

// DecideWithdrawal approves or rejects a pending withdrawal: an admin, or the requester's
// own superior (cards:quota over it); anyone else gets ErrNotFound.
func (s *Service) DecideWithdrawal(ctx context.Context, actor authn.Identity, id string, approve bool) (*Transfer, error) {
	var t Transfer
	err := s.db.WithContext(ctx).Where("id = ? AND type = ?", id, TypeWithdrawal).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.canOnUser(ctx, actor, authz.CardsQuota, t.DebitUserID); err != nil {
		return nil, err
	}
	if t.DebitUserID == actor.UserID {
		return nil, ErrNotFound
	}
	return s.resolve(ctx, id, actor.UserID, approve)
}

// Withdrawals lists withdrawal requests the actor may decide (all for an admin, its own
// users' for an agent admin) plus its own.
func (s *Service) Withdrawals(ctx context.Context, actor authn.Identity, status string, page, size int) ([]Transfer, int64, error) {
	q := s.db.WithContext(ctx).Model(&Transfer{}).Where("type = ?", TypeWithdrawal)
	scope, err := s.scopeOf(ctx, actor, authz.CardsQuota)
	if err != nil {
		return nil, 0, err
	}
	switch scope {
	case authz.ScopeAll:
	case authz.ScopeOwn:
		q = q.Where("debit_user_id = ? OR debit_user_id IN (SELECT id FROM users WHERE parent_id = ?)", actor.UserID, actor.UserID)
	default:
		q = q.Where("debit_user_id = ?", actor.UserID)
	}
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	out := []Transfer{}
	err = q.Order("created_at DESC, id").Limit(size).Offset((page - 1) * size).Find(&out).Error
	return out, total, err
}

// EntryView is one of the caller's ledger entries with its transfer.
type EntryView struct {
	Entry
	Type   string `json:"type"`
	Status string `json:"status"`
}

// Entries pages userID's ledger entries, newest first.
func (s *Service) Entries(ctx context.Context, userID string, page, size int) ([]EntryView, int64, error) {
	q := s.db.WithContext(ctx).Table("cards_entries e").Joins("JOIN cards_transfers t ON t.id = e.transfer_id").
		Where("e.account_id IN ?", []string{userAccount(userID), holdAccount(userID)})
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	out := []EntryView{}
	err := q.Select("e.*, t.type AS type, t.status AS status").Order("e.id DESC").Limit(size).Offset((page - 1) * size).Scan(&out).Error
	return out, total, err
}

// LedgerReport is the result of checking the ledger's invariants.
type LedgerReport struct {
	OK bool `json:"ok"`
	// Sum of every entry: zero in a balanced ledger.
	Sum int64 `json:"sum"`
	// Problems names accounts whose cached balance differs from their entries, non-system
	// accounts below zero, and transfers whose entries do not sum to zero.
	Problems []string `json:"problems"`
}

// CheckLedger recomputes the ledger's invariants from the entries.
func (s *Service) CheckLedger(ctx context.Context) (LedgerReport, error) {
	r := LedgerReport{Problems: []string{}}
	gdb := s.db.WithContext(ctx)
	if err := gdb.Model(&Entry{}).Select("COALESCE(SUM(amount), 0)").Scan(&r.Sum).Error; err != nil {
		return r, err
	}
	if r.Sum != 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("entries sum to %d", r.Sum))
	}
	var sums []struct {
		AccountID string
		Total     int64
	}
	if err := gdb.Model(&Entry{}).Select("account_id, SUM(amount) AS total").Group("account_id").Scan(&sums).Error; err != nil {
		return r, err
	}
	bySum := map[string]int64{}
	for _, x := range sums {
		bySum[x.AccountID] = x.Total
	}
	var accts []account
	if err := gdb.Find(&accts).Error; err != nil {
		return r, err
	}
	for _, a := range accts {
		if a.Balance != bySum[a.ID] {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: balance %d, entries %d", a.ID, a.Balance, bySum[a.ID]))
		}
		if a.ID != SystemAccount && a.Balance < 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: negative balance %d", a.ID, a.Balance))
		}
		delete(bySum, a.ID)
	}
	for id := range bySum {
		r.Problems = append(r.Problems, id+": entries without an account")
	}
	var unbalanced []string
	if err := gdb.Model(&Entry{}).Select("transfer_id").Group("transfer_id").Having("SUM(amount) <> 0").Scan(&unbalanced).Error; err != nil {
		return r, err
	}
	for _, id := range unbalanced {
		r.Problems = append(r.Problems, "transfer "+id+" does not balance")
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}
