package rooms

import (
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/db"
)

// lockGiveaway reads a giveaway of the meeting and, on databases with row locks, locks it for
// the rest of the transaction. Every change to a giveaway (an entry, the close, a draw) locks
// it first, so they serialize; SQLite's write transactions serialize anyway.
func (s *Store) lockGiveaway(meetingID, id string) (*Giveaway, error) {
	q := s.db
	if s.dialect != db.DialectSQLite {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var g Giveaway
	if err := q.Where("id = ? AND meeting_id = ?", id, meetingID).Take(&g).Error; err != nil {
		return nil, notFound(err, ErrGiveawayNotFound)
	}
	return &g, nil
}

func (s *Store) giveaway(meetingID, id string) (*Giveaway, error) {
	var g Giveaway
	if err := s.db.Where("id = ? AND meeting_id = ?", id, meetingID).Take(&g).Error; err != nil {
		return nil, notFound(err, ErrGiveawayNotFound)
	}
	return &g, nil
}

func (s *Store) giveawaysOf(meetingID string) ([]Giveaway, error) {
	var gs []Giveaway
	err := s.db.Where("meeting_id = ?", meetingID).Order("opened_at DESC, id DESC").Limit(MaxPageSize).Find(&gs).Error
	return gs, err
}

func (s *Store) insertGiveaway(g *Giveaway) error { return s.db.Create(g).Error }

func (s *Store) updateGiveaway(id string, fields map[string]any) error {
	return s.db.Model(&Giveaway{}).Where("id = ?", id).Updates(fields).Error
}

// nextEntryNumber takes the giveaway's next entry number. The giveaway must be locked by
// this transaction; a failed entry rolls the number back with it, so numbers have no gaps.
func (s *Store) nextEntryNumber(id string) (int64, error) {
	if err := s.db.Model(&Giveaway{}).Where("id = ?", id).
		Update("entry_seq", gorm.Expr("entry_seq + 1")).Error; err != nil {
		return 0, err
	}
	var n int64
	err := s.db.Model(&Giveaway{}).Where("id = ?", id).Pluck("entry_seq", &n).Error
	return n, err
}

func (s *Store) insertEntry(e *GiveawayEntry) error { return s.db.Create(e).Error }

// entryNumbersOf returns the user's entry number in each of the giveaways it entered.
func (s *Store) entryNumbersOf(userID string, giveawayIDs []string) (map[string]int64, error) {
	out := map[string]int64{}
	if userID == "" || len(giveawayIDs) == 0 {
		return out, nil
	}
	var es []GiveawayEntry
	if err := s.db.Select("giveaway_id, entry_number").Where("user_id = ? AND giveaway_id IN ?", userID, giveawayIDs).
		Find(&es).Error; err != nil {
		return nil, err
	}
	for _, e := range es {
		out[e.GiveawayID] = e.EntryNumber
	}
	return out, nil
}

// entriesOf returns every entry of the giveaway in ascending entry number.
func (s *Store) entriesOf(giveawayID string) ([]GiveawayEntry, error) {
	var es []GiveawayEntry
	err := s.db.Where("giveaway_id = ?", giveawayID).Order("entry_number").Find(&es).Error
	return es, err
}

// entriesByNumber returns the named entries of the giveaway.
func (s *Store) entriesByNumber(giveawayID string, numbers []int64) (map[int64]GiveawayEntry, error) {
	out := make(map[int64]GiveawayEntry, len(numbers))
	if len(numbers) == 0 {
		return out, nil
	}
	var es []GiveawayEntry
	if err := s.db.Where("giveaway_id = ? AND entry_number IN ?", giveawayID, numbers).Find(&es).Error; err != nil {
		return nil, err
	}
	for _, e := range es {
		out[e.EntryNumber] = e
	}
	return out, nil
}

// entriesPage returns one page of entries, newest first, and the total.
func (s *Store) entriesPage(giveawayID string, page, size int) ([]GiveawayEntry, int64, error) {
	var total int64
	if err := s.db.Model(&GiveawayEntry{}).Where("giveaway_id = ?", giveawayID).Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var es []GiveawayEntry
	err := s.db.Where("giveaway_id = ?", giveawayID).Order("entry_number DESC").
		Offset((page - 1) * size).Limit(size).Find(&es).Error
	return es, total, err
}

func (s *Store) setEntryWeight(giveawayID string, numbers []int64, weight int) error {
	if len(numbers) == 0 {
		return nil
	}
	return s.db.Model(&GiveawayEntry{}).Where("giveaway_id = ? AND entry_number IN ?", giveawayID, numbers).
		Update("weight", weight).Error
}

// staysOf returns every stay of the users in the meeting.
func (s *Store) staysOf(meetingID string, userIDs []string) ([]Participant, error) {
	var ps []Participant
	if len(userIDs) == 0 {
		return ps, nil
	}
	err := s.db.Where("meeting_id = ? AND user_id IN ?", meetingID, userIDs).Find(&ps).Error
	return ps, err
}

func (s *Store) drawsOf(giveawayID string) ([]GiveawayDraw, error) {
	var ds []GiveawayDraw
	err := s.db.Where("giveaway_id = ?", giveawayID).Order("round").Find(&ds).Error
	return ds, err
}

func (s *Store) insertDraw(d *GiveawayDraw) error { return s.db.Create(d).Error }

// dueGiveaways returns open giveaways whose window ended at or before now.
func (s *Store) dueGiveaways(now time.Time, limit int) ([]Giveaway, error) {
	var gs []Giveaway
	err := s.db.Where("status = ? AND closes_at <= ?", GiveawayOpen, now.UTC()).
		Order("closes_at").Limit(limit).Find(&gs).Error
	return gs, err
}

// nextGiveawayClose returns when the next open giveaway's window ends, if there is one.
func (s *Store) nextGiveawayClose() (time.Time, bool, error) {
	var gs []Giveaway
	err := s.db.Select("closes_at").Where("status = ?", GiveawayOpen).Order("closes_at").Limit(1).Find(&gs).Error
	if err != nil || len(gs) == 0 {
		return time.Time{}, false, err
	}
	return gs[0].ClosesAt, true, nil
}

// EntryStat is one row of the entry statistics: entries per giveaway, minute and source.
type EntryStat struct {
	GiveawayID string    `json:"giveaway_id"`
	Minute     time.Time `json:"minute"`
	Source     string    `json:"source"`
	MeetingID  string    `json:"-"`
	Entries    int64     `json:"entries"`
}

// TableName is the statistics table.
func (EntryStat) TableName() string { return "meeting_giveaway_entry_stats" }

// countEntry adds one entry to its minute and source.
func (s *Store) countEntry(meetingID, giveawayID, source string, minute time.Time) error {
	return s.db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "giveaway_id"}, {Name: "minute"}, {Name: "source"}},
		DoUpdates: clause.Assignments(map[string]any{"entries": gorm.Expr("meeting_giveaway_entry_stats.entries + 1")}),
	}).Create(&EntryStat{GiveawayID: giveawayID, Minute: minute.UTC(), Source: source, MeetingID: meetingID, Entries: 1}).Error
}

func (s *Store) entryStats(meetingID string) ([]EntryStat, error) {
	var st []EntryStat
	err := s.db.Where("meeting_id = ?", meetingID).Order("minute, giveaway_id, source").Limit(10000).Find(&st).Error
	return st, err
}
