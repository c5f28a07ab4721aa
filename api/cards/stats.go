package cards

import (
	"context"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/db"
)

// KeyStat counts keys by project, status and creation day.
type KeyStat struct {
	ProjectID string `json:"project_id"`
	Status    string `json:"status"`
	Day       string `json:"day"`
	Count     int64  `json:"count"`
}

// LedgerStat totals transfers by type, status and day.
type LedgerStat struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Day    string `json:"day"`
	Amount int64  `json:"amount"`
	Count  int64  `json:"count"`
}

// Stats is the statistics a caller may see.
type Stats struct {
	Keys   []KeyStat    `json:"keys"`
	Ledger []LedgerStat `json:"ledger"`
}

// dayOf is the SQL for the UTC day (YYYY-MM-DD) of a time column on each database.
func (s *Service) dayOf(col string) string {
	switch db.Dialect(s.db) {
	case db.DialectPostgres:
		return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	case db.DialectMySQL:
		return "DATE_FORMAT(" + col + ", '%Y-%m-%d')"
	default:
		return "substr(" + col + ", 1, 10)"
	}
}

// Stats returns keys by project, status and day and ledger totals by type and day, scoped
// by role: an agent sees its own, an agent admin its own and its agents', an admin all.
func (s *Service) Stats(ctx context.Context, actor authn.Identity) (*Stats, error) {
	out := &Stats{Keys: []KeyStat{}, Ledger: []LedgerStat{}}
	now := s.clock()
	day := s.dayOf("created_at")
	q, err := s.ownersScope(ctx, actor, s.db.WithContext(ctx).Model(&Key{}), "owner_id")
	if err != nil {
		return nil, err
	}
	status := "CASE WHEN status = 'active' AND expires_at <= ? THEN 'expired' ELSE status END"
	err = q.Select("project_id, "+status+" AS status, "+day+" AS day, COUNT(*) AS count", now).
		Group("1, 2, 3").Order("3, 1, 2").Scan(&out.Keys).Error
	if err != nil {
		return nil, err
	}
	// A transfer belongs to both of its sides.
	debit, err := s.ownersScope(ctx, actor, s.db.WithContext(ctx).Model(&Transfer{}).Select("id"), "debit_user_id")
	if err != nil {
		return nil, err
	}
	credit, err := s.ownersScope(ctx, actor, s.db.WithContext(ctx).Model(&Transfer{}).Select("id"), "credit_user_id")
	if err != nil {
		return nil, err
	}
	err = s.db.WithContext(ctx).Model(&Transfer{}).Where("id IN (?) OR id IN (?)", debit, credit).
		Select("type, status, " + day + " AS day, SUM(amount) AS amount, COUNT(*) AS count").
		Group("1, 2, 3").Order("3, 1, 2").Scan(&out.Ledger).Error
	return out, err
}
