package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/db"
)

// Store reads and writes the meeting domain's tables. A Store made by NewStore works outside
// transactions; inside Tx it is bound to the transaction.
type Store struct {
	db      *gorm.DB
	dialect string
}

// NewStore returns a Store over gdb (migrated with Migrations).
func NewStore(gdb *gorm.DB) *Store {
	return &Store{db: gdb, dialect: db.Dialect(gdb)}
}

// maxTxAttempts bounds the retries of a transaction that failed on a serialization
// failure, a deadlock or a busy database.
const maxTxAttempts = 5

func (s *Store) with(ctx context.Context) *Store {
	return &Store{db: s.db.WithContext(ctx), dialect: s.dialect}
}

// Tx runs fn in one transaction, retrying it a few times when the database reports a
// transient conflict. fn must be safe to run again.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(&Store{db: tx, dialect: s.dialect})
		})
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
	return err
}

// retryable reports whether err is a transient conflict worth running the transaction again.
func retryable(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	if sqlErr, ok := errors.AsType[*sqlite.Error](err); ok {
		code := sqlErr.Code() & 0xff
		return code == 5 || code == 6 // SQLITE_BUSY, SQLITE_LOCKED
	}
	return false
}

func notFound(err error, as error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return as
	}
	return err
}

// lockMeeting reads a meeting and, on databases with row locks, locks it for the rest of the
// transaction. SQLite needs no lock: its write transactions begin immediate and run one at a
// time. Every state change locks the meeting first, so changes to one meeting serialize.
func (s *Store) lockMeeting(id string) (*Meeting, error) {
	q := s.db
	if s.dialect != db.DialectSQLite {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var m Meeting
	if err := q.Where("id = ?", id).Take(&m).Error; err != nil {
		return nil, notFound(err, ErrNotFound)
	}
	return &m, nil
}

func (s *Store) meeting(id string) (*Meeting, error) {
	var m Meeting
	if err := s.db.Where("id = ?", id).Take(&m).Error; err != nil {
		return nil, notFound(err, ErrNotFound)
	}
	return &m, nil
}

func (s *Store) meetingByCode(code string) (*Meeting, error) {
	var m Meeting
	if err := s.db.Where("code = ?", code).Take(&m).Error; err != nil {
		return nil, notFound(err, ErrNotFound)
	}
	return &m, nil
}

func (s *Store) createMeeting(m *Meeting) error { return s.db.Create(m).Error }

func (s *Store) updateMeeting(id string, fields map[string]any) error {
	return s.db.Model(&Meeting{}).Where("id = ?", id).Updates(fields).Error
}

// activeParticipant returns the user's active participant in the meeting, or nil.
func (s *Store) activeParticipant(meetingID, userID string) (*Participant, error) {
	var ps []Participant
	if err := s.db.Where("meeting_id = ? AND user_id = ? AND left_at IS NULL", meetingID, userID).
		Limit(1).Find(&ps).Error; err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, nil
	}
	return &ps[0], nil
}

func (s *Store) participant(meetingID, participantID string) (*Participant, error) {
	var p Participant
	if err := s.db.Where("meeting_id = ? AND id = ?", meetingID, participantID).Take(&p).Error; err != nil {
		return nil, notFound(err, ErrParticipantNotFound)
	}
	return &p, nil
}

// activeParticipants returns the meeting's active participants, longest present first.
func (s *Store) activeParticipants(meetingID string) ([]Participant, error) {
	var ps []Participant
	err := s.db.Where("meeting_id = ? AND left_at IS NULL", meetingID).Order("joined_at, id").Find(&ps).Error
	return ps, err
}

// activeAmong returns the meeting's active participants whose user id is in userIDs or whose
// id is in ids.
func (s *Store) activeAmong(meetingID string, userIDs, ids []string) ([]Participant, error) {
	q := s.db.Where("meeting_id = ? AND left_at IS NULL", meetingID)
	if len(ids) > 0 {
		q = q.Where("(user_id IN ? OR id IN ?)", userIDs, ids)
	} else {
		q = q.Where("user_id IN ?", userIDs)
	}
	var ps []Participant
	err := q.Find(&ps).Error
	return ps, err
}

func (s *Store) countActive(meetingID string) (int64, error) {
	var n int64
	err := s.db.Model(&Participant{}).Where("meeting_id = ? AND left_at IS NULL", meetingID).Count(&n).Error
	return n, err
}

// participantIDsOf returns the ids of every stay of the user in the meeting, past or present.
func (s *Store) participantIDsOf(meetingID, userID string) ([]string, error) {
	var ids []string
	err := s.db.Model(&Participant{}).Where("meeting_id = ? AND user_id = ?", meetingID, userID).Pluck("id", &ids).Error
	return ids, err
}

func (s *Store) insertParticipant(p *Participant) error { return s.db.Create(p).Error }

// markLeft marks one participant left and reports whether it was still active.
func (s *Store) markLeft(participantID string, at time.Time, reason string) (bool, error) {
	res := s.db.Model(&Participant{}).Where("id = ? AND left_at IS NULL", participantID).
		Updates(map[string]any{"left_at": at, "leave_reason": reason})
	return res.RowsAffected == 1, res.Error
}

// markAllLeft marks every active participant of the meeting left.
func (s *Store) markAllLeft(meetingID string, at time.Time, reason string) error {
	return s.db.Model(&Participant{}).Where("meeting_id = ? AND left_at IS NULL", meetingID).
		Updates(map[string]any{"left_at": at, "leave_reason": reason}).Error
}

func (s *Store) setRole(participantID string, role Role) error {
	return s.db.Model(&Participant{}).Where("id = ?", participantID).Update("role", role).Error
}

// setMedia stores one source's columns (sourceState.columns).
func (s *Store) setMedia(participantID string, columns map[string]any) error {
	return s.db.Model(&Participant{}).Where("id = ?", participantID).Updates(columns).Error
}

func (s *Store) insertHandover(h *Handover) error { return s.db.Create(h).Error }

func (s *Store) insertKick(k *Kick) error {
	return s.db.Clauses(clause.OnConflict{DoNothing: true}).Create(k).Error
}

func (s *Store) kicked(meetingID, userID string) (bool, error) {
	var n int64
	err := s.db.Model(&Kick{}).Where("meeting_id = ? AND user_id = ?", meetingID, userID).Count(&n).Error
	return n > 0, err
}

// insertChats stores a batch of chat messages in as few statements as the database allows.
func (s *Store) insertChats(cs []*ChatMessage) error { return s.db.CreateInBatches(cs, 200).Error }

// setChatSeq stores the seq of the meeting's last chat message. The meeting must be locked by
// this transaction.
func (s *Store) setChatSeq(meetingID string, seq int64) error {
	return s.db.Model(&Meeting{}).Where("id = ?", meetingID).Update("chat_seq", seq).Error
}

// messages returns the chat messages of the meeting visible to the participants in ids
// (public ones and private ones from or to them) with seq > afterSeq: the first limit of them,
// or the last limit when last is set.
func (s *Store) messages(meetingID string, ids []string, afterSeq int64, limit int, last bool) ([]ChatMessage, error) {
	q := s.db.Where("meeting_id = ? AND seq > ?", meetingID, afterSeq)
	if len(ids) == 0 {
		q = q.Where("to_participant_id = ''")
	} else {
		q = q.Where("(to_participant_id = '' OR from_participant_id IN ? OR to_participant_id IN ?)", ids, ids)
	}
	order := "seq"
	if last {
		order = "seq DESC"
	}
	var ms []ChatMessage
	err := q.Order(order).Limit(limit).Find(&ms).Error
	return ms, err
}

// ListFilter selects meetings for List.
type ListFilter struct {
	// UserID is the caller: OnlyJoined lists the meetings it took part in, otherwise the
	// meetings it created and the public ones.
	UserID      string
	OnlyJoined  bool
	Status      Status
	Keyword     string
	From, To    *time.Time
	HasPassword *bool
	Recording   *bool
	Page        int
	PageSize    int
}

// list runs one count and one page query.
func (s *Store) list(f ListFilter) ([]Meeting, int64, error) {
	q := s.db.Model(&Meeting{})
	if f.OnlyJoined {
		q = q.Where("id IN (?)", s.db.Model(&Participant{}).Select("meeting_id").Where("user_id = ?", f.UserID))
	} else {
		q = q.Where("(creator_id = ? OR is_public = ?)", f.UserID, true)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if kw := strings.TrimSpace(f.Keyword); kw != "" {
		like := "%" + escapeLike(strings.ToLower(kw)) + "%"
		q = q.Where(`(LOWER(title) LIKE ? ESCAPE '!' OR LOWER(description) LIKE ? ESCAPE '!')`, like, like)
	}
	if f.From != nil {
		q = q.Where("start_time >= ?", f.From.UTC())
	}
	if f.To != nil {
		q = q.Where("start_time <= ?", f.To.UTC())
	}
	if f.HasPassword != nil {
		if *f.HasPassword {
			q = q.Where("password_hash <> ''")
		} else {
			q = q.Where("password_hash = ''")
		}
	}
	if f.Recording != nil {
		q = q.Where("recording_enabled = ?", *f.Recording)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count meetings: %w", err)
	}
	var ms []Meeting
	err := q.Session(&gorm.Session{}).Order("start_time DESC, id DESC").
		Offset((f.Page - 1) * f.PageSize).Limit(f.PageSize).Find(&ms).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list meetings: %w", err)
	}
	return ms, total, nil
}

// escapeLike escapes LIKE's wildcards with "!". A backslash would be the usual choice, but
// MySQL reads it as an escape inside the query's string literal ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`).Replace(s)
}

// onlineCounts returns the number of active participants of each meeting in ids, in one query.
func (s *Store) onlineCounts(ids []string) (map[string]int, error) {
	out := make(map[string]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		MeetingID string
		N         int
	}
	err := s.db.Model(&Participant{}).Select("meeting_id, COUNT(*) AS n").
		Where("meeting_id IN ? AND left_at IS NULL", ids).Group("meeting_id").Scan(&rows).Error
	for _, r := range rows {
		out[r.MeetingID] = r.N
	}
	return out, err
}

// expiredCandidates returns live meetings that started before cutoff; the caller decides
// which of them are past their end.
func (s *Store) expiredCandidates(cutoff time.Time, limit int) ([]Meeting, error) {
	var ms []Meeting
	err := s.db.Where("status = ? AND start_time < ?", StatusLive, cutoff.UTC()).
		Order("start_time").Limit(limit).Find(&ms).Error
	return ms, err
}
