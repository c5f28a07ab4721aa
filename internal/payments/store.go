package payments

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/db"
)

// Store is the payments tables' data access.
type Store struct{ db *gorm.DB }

// NewStore returns the store over gdb.
func NewStore(gdb *gorm.DB) *Store { return &Store{db: gdb} }

// DB is the underlying handle, for transactions that span a purpose's tables.
func (s *Store) DB() *gorm.DB { return s.db }

func (s *Store) byID(ctx context.Context, id string) (*Payment, error) {
	var p Payment
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &p, err
}

func (s *Store) byActiveKey(tx *gorm.DB, key string) (*Payment, error) {
	var p Payment
	err := tx.Where("active_key = ?", key).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	return &p, err
}

// lockByRef loads the payment of a provider's intent, holding its row until tx ends.
func lockByRef(tx *gorm.DB, provider, ref string) (*Payment, error) {
	var p Payment
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("provider = ? AND provider_ref = ?", provider, ref).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	return &p, err
}

func lockByID(tx *gorm.DB, id string) (*Payment, error) {
	var p Payment
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &p, err
}

// recordEvent inserts ev into the inbox; false means it was already there. The insert runs
// under a savepoint, since on PostgreSQL a failed statement aborts the whole transaction. A
// concurrent insert of the same event waits on the unique index for the first to commit and
// then fails as a duplicate. (ON CONFLICT DO NOTHING is not used: MariaDB's RETURNING reports
// a row for the ignored insert.)
func recordEvent(tx *gorm.DB, ev *inboxEvent) (bool, error) {
	if err := tx.SavePoint("inbox").Error; err != nil {
		return false, err
	}
	err := tx.Create(ev).Error
	if db.IsUniqueViolation(err) {
		return false, tx.RollbackTo("inbox").Error
	}
	return err == nil, err
}

// stale returns open payments created before cutoff, oldest first, and succeeded ones that owe
// a refund.
func (s *Store) stale(ctx context.Context, cutoff time.Time, limit int) ([]Payment, error) {
	var out []Payment
	err := s.db.WithContext(ctx).
		Where("(status IN ? AND created_at < ?) OR (status = ? AND refund_reason <> '')",
			[]Status{StatusPending, StatusProcessing}, cutoff, StatusSucceeded).
		Order("created_at").Limit(limit).Find(&out).Error
	return out, err
}
