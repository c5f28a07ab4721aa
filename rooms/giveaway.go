package rooms

import (
	"encoding/json"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
)

// GiveawayStatus is a giveaway's state: open → closed → drawn.
type GiveawayStatus string

// The giveaway statuses.
const (
	GiveawayOpen   GiveawayStatus = "open"
	GiveawayClosed GiveawayStatus = "closed"
	GiveawayDrawn  GiveawayStatus = "drawn"
)

// Entry sources: the transport an entry came through.
const (
	SourceREST      = "rest"
	SourceWebSocket = "websocket"
)

// The giveaway errors.
var (
	// ErrGiveawayNotFound is an unknown giveaway, or one of another meeting.
	ErrGiveawayNotFound = apperr.New(apperr.NotFound, "not_found", "giveaway not found")
	// ErrAlreadyEntered is a second entry by the same user.
	ErrAlreadyEntered = apperr.New(apperr.Conflict, "already_entered", "you have entered this giveaway already")
	// ErrEntriesClosed is an entry after the window closed.
	ErrEntriesClosed = apperr.New(apperr.Conflict, "giveaway_closed", "entries to this giveaway are closed")
	// ErrAlreadyDrawn is a second draw.
	ErrAlreadyDrawn = apperr.New(apperr.Conflict, "already_drawn", "the winners are drawn already; reroll to replace one")
	// ErrNotDrawn is a reroll or a proof before the draw.
	ErrNotDrawn = apperr.New(apperr.Conflict, "not_drawn", "the winners are not drawn yet")
	// ErrNoEntries is a draw or reroll with nobody (left) to pick.
	ErrNoEntries = apperr.New(apperr.Conflict, "no_entries", "there is no entry left to draw")
	// ErrMeetingNotLive is a giveaway opened in a meeting that is not in progress.
	ErrMeetingNotLive = apperr.New(apperr.Conflict, "meeting_not_live", "giveaways run in live meetings only")
)

// Limits of a giveaway.
const (
	MaxGiveawayTitle   = 200
	MaxGiveawayPrize   = 200
	MaxGiveawayWinners = 100
	MinEntrySeconds    = 10
	MaxEntrySeconds    = 3600
	MaxBonusMinutes    = MaxDuration
	MaxBonusWeight     = 10
	MaxRerollReason    = 200
	DefaultEntryPage   = 20
	MaxEntryPage       = 100
)

// Giveaway is a stored giveaway. Seed is secret until the draw.
type Giveaway struct {
	ID            string `gorm:"primaryKey"`
	MeetingID     string
	Title         string
	Prize         string
	WinnerCount   int
	EntrySeconds  int
	BonusMinutes  int
	BonusWeight   int
	Status        GiveawayStatus
	Seed          string // hex
	Commitment    string // hex SHA-256 of the seed bytes
	Algorithm     string
	OpenedBy      string
	OpenedAt      time.Time
	ClosesAt      time.Time
	ClosedAt      *time.Time
	EntrySeq      int64
	EntryListHash string
	DrawnAt       *time.Time
	Rounds        int // rounds drawn: 1 after the draw, +1 per reroll
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName is the giveaways table.
func (Giveaway) TableName() string { return "meeting_giveaways" }

// GiveawayEntry is one user's entry; (GiveawayID, UserID) and (GiveawayID, EntryNumber) are
// unique in the database.
type GiveawayEntry struct {
	ID            string `gorm:"primaryKey"`
	GiveawayID    string
	MeetingID     string
	UserID        string
	ParticipantID string
	EntryNumber   int64
	Name          string
	Contact       string
	Source        string
	Weight        int
	EnteredAt     time.Time
}

// TableName is the entries table.
func (GiveawayEntry) TableName() string { return "meeting_giveaway_entries" }

// GiveawayDraw is one round of the draw log: round 0 is the draw, round k the k-th reroll.
type GiveawayDraw struct {
	ID            string `gorm:"primaryKey"`
	GiveawayID    string
	Round         int
	Algorithm     string
	Seed          string
	EntryListHash string
	Weights       string // JSON [{entry_number, weight}] in entry order
	Excluded      string // JSON [entry_number]
	Winners       string // JSON [entry_number] in draw order
	Replaced      int64  // the winner a reroll replaces; 0 for none
	Reason        string
	ByUserID      string
	At            time.Time
}

// TableName is the draw log table.
func (GiveawayDraw) TableName() string { return "meeting_giveaway_draws" }

// Bonus weights entrants who were in the meeting for at least MinMinutes (summed over their
// stays, counted when the entries close): each gets Weight tickets instead of one.
type Bonus struct {
	MinMinutes int `json:"min_minutes"`
	Weight     int `json:"weight"`
}

// WinnerView is a winner as everyone sees it: the entry number and the masked name.
type WinnerView struct {
	EntryNumber int64  `json:"entry_number"`
	Name        string `json:"name"`
	Round       int    `json:"round"`
	// Replaced is true once a reroll has replaced this winner.
	Replaced bool `json:"replaced,omitempty"`
}

// GiveawayView is a giveaway as clients see it.
type GiveawayView struct {
	ID            string         `json:"id"`
	MeetingID     string         `json:"meeting_id"`
	Title         string         `json:"title"`
	Prize         string         `json:"prize"`
	WinnerCount   int            `json:"winner_count"`
	EntrySeconds  int            `json:"entry_seconds"`
	Bonus         *Bonus         `json:"bonus"`
	Status        GiveawayStatus `json:"status"`
	Algorithm     string         `json:"algorithm"`
	Commitment    string         `json:"commitment"`
	OpenedAt      time.Time      `json:"opened_at"`
	ClosesAt      time.Time      `json:"closes_at"`
	ClosedAt      *time.Time     `json:"closed_at"`
	EntryCount    int64          `json:"entry_count"`
	EntryListHash string         `json:"entry_list_hash,omitempty"`
	DrawnAt       *time.Time     `json:"drawn_at"`
	Winners       []WinnerView   `json:"winners"`
	Rerolls       int            `json:"rerolls"`
	// MyEntryNumber is the caller's own entry number, when it entered (REST reads only).
	MyEntryNumber int64 `json:"my_entry_number,omitempty"`
}

// EntryView is an entry in a list: masked unless it is the caller's own.
type EntryView struct {
	EntryNumber int64     `json:"entry_number"`
	Name        string    `json:"name"`
	Contact     string    `json:"contact,omitempty"`
	Source      string    `json:"source"`
	Weight      int       `json:"weight"`
	EnteredAt   time.Time `json:"entered_at"`
	Mine        bool      `json:"mine"`
}

// EntryPage is one page of entries, newest first.
type EntryPage struct {
	Items    []EntryView `json:"items"`
	Page     int         `json:"page"`
	PageSize int         `json:"page_size"`
	Total    int64       `json:"total"`
}

// DrawView is the answer to a draw or a reroll and the payload of giveaway_winners.
type DrawView struct {
	GiveawayID string       `json:"giveaway_id"`
	Round      int          `json:"round"`
	Winners    []WinnerView `json:"winners"`
	Reason     string       `json:"reason,omitempty"`
	Replaced   int64        `json:"replaced,omitempty"`
	Giveaway   GiveawayView `json:"giveaway"`
}

// ProofRound is one round of the draw log in a proof.
type ProofRound struct {
	Round    int       `json:"round"`
	Kind     string    `json:"kind"` // "draw" or "reroll"
	Count    int       `json:"count"`
	Excluded []int64   `json:"excluded"`
	Winners  []int64   `json:"winners"`
	Replaced int64     `json:"replaced,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// GiveawayProof is everything needed to recompute a draw (docs/giveaways.md).
type GiveawayProof struct {
	GiveawayID    string          `json:"giveaway_id"`
	Algorithm     string          `json:"algorithm"`
	Commitment    string          `json:"commitment"`
	Seed          string          `json:"seed"`
	EntryListHash string          `json:"entry_list_hash"`
	Entries       []WeightedEntry `json:"entries"`
	WinnerCount   int             `json:"winner_count"`
	Rounds        []ProofRound    `json:"rounds"`
}

func (g *Giveaway) view(winners []WinnerView) GiveawayView {
	v := GiveawayView{
		ID: g.ID, MeetingID: g.MeetingID, Title: g.Title, Prize: g.Prize, WinnerCount: g.WinnerCount,
		EntrySeconds: g.EntrySeconds, Status: g.Status, Algorithm: g.Algorithm, Commitment: g.Commitment,
		OpenedAt: utc(g.OpenedAt), ClosesAt: utc(g.ClosesAt), ClosedAt: utcPtr(g.ClosedAt),
		EntryCount: g.EntrySeq, EntryListHash: g.EntryListHash, DrawnAt: utcPtr(g.DrawnAt),
		Winners: winners, Rerolls: max(g.Rounds-1, 0),
	}
	if g.BonusMinutes > 0 {
		v.Bonus = &Bonus{MinMinutes: g.BonusMinutes, Weight: g.BonusWeight}
	}
	if v.Winners == nil {
		v.Winners = []WinnerView{}
	}
	return v
}

func (e *GiveawayEntry) view(mine bool) EntryView {
	v := EntryView{EntryNumber: e.EntryNumber, Source: e.Source, Weight: e.Weight, EnteredAt: utc(e.EnteredAt), Mine: mine}
	if mine {
		v.Name, v.Contact = e.Name, e.Contact
	} else {
		v.Name, v.Contact = maskName(e.Name), maskContact(e.Contact)
	}
	return v
}

func (d *GiveawayDraw) round() (ProofRound, error) {
	r := ProofRound{Round: d.Round, Kind: "draw", Replaced: d.Replaced, Reason: d.Reason, At: utc(d.At)}
	if d.Round > 0 {
		r.Kind = "reroll"
	}
	if err := json.Unmarshal([]byte(d.Excluded), &r.Excluded); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(d.Winners), &r.Winners); err != nil {
		return r, err
	}
	r.Count = len(r.Winners)
	if r.Excluded == nil {
		r.Excluded = []int64{}
	}
	return r, nil
}
