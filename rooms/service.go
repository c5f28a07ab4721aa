package rooms

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db"
)

// UserDirectory resolves user ids to display names; the auth module implements it. Ids it
// does not know (guests, deleted users) are simply absent from the result.
type UserDirectory interface {
	DisplayNames(ctx context.Context, ids []string) (map[string]string, error)
}

// ServiceParams are the Service's dependencies. Store is required; the rest are optional.
type ServiceParams struct {
	Store *Store
	// Cache holds meeting summaries and join codes; nil disables caching.
	Cache cache.Cache
	// Bus receives the domain events; nil publishes nothing.
	Bus *bus.Bus
	// Users names meeting creators; nil leaves creator names empty.
	Users  UserDirectory
	Config config.Meetings
	// NodeID is stamped on every event as its origin.
	NodeID string
	Log    *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// OnEvent, when set, is called in-process with every event after it is published.
	OnEvent func(Event)
	// PasswordCost is the bcrypt cost of meeting passwords; 0 is bcrypt.DefaultCost.
	// Tests lower it.
	PasswordCost int
}

// Service is the meeting domain. Every method that acts for someone takes the caller's
// identity and checks its rights itself.
type Service struct {
	store   *Store
	cache   cache.Cache
	bus     publisher
	users   UserDirectory
	cfg     config.Meetings
	nodeID  string
	log     *slog.Logger
	now     func() time.Time
	onEvent func(Event)
	newCode func() string
	pwCost  int

	mu      sync.Mutex
	stop    chan struct{}
	stopped chan struct{}

	gw giveawayState // giveaway_closer.go
}

// NewService returns a Service. Call Start to run the expiry sweeper and Close to stop it.
func NewService(p ServiceParams) *Service {
	s := &Service{
		store: p.Store, cache: p.Cache, users: p.Users, cfg: p.Config, nodeID: p.NodeID,
		log: p.Log, now: p.Now, onEvent: p.OnEvent, newCode: newCode, pwCost: p.PasswordCost,
	}
	if s.pwCost == 0 {
		s.pwCost = bcrypt.DefaultCost
	}
	if p.Bus != nil {
		s.bus = p.Bus
	}
	s.gw.bus, s.gw.wake = p.Bus, make(chan struct{}, 1)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.ExpiryGrace <= 0 {
		s.cfg.ExpiryGrace = 15 * time.Minute
	}
	if s.cfg.SweepInterval <= 0 {
		s.cfg.SweepInterval = 30 * time.Second
	}
	return s
}

// clock is the current time as stored: UTC, microsecond precision (what PostgreSQL keeps).
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Limits of the inputs.
const (
	MaxTitle          = 200
	MaxDescription    = 5000
	MaxDuration       = 480
	MinParticipants   = 2
	MaxParticipants   = 1000
	DefaultCapacity   = 100
	MaxPassword       = 72 // bcrypt's limit
	MaxDisplayName    = 64
	MaxChatText       = 2000
	DefaultPageSize   = 10
	MaxPageSize       = 100
	DefaultChatLimit  = 50
	MaxChatLimit      = 500
	codeLength        = 6
	codeAttempts      = 10
	codeAlphabet      = "ABCDEFGHJKMNPQRSTUVWXYZ23456789" // no 0/O, 1/I/L look-alikes
	cacheKeyMeeting   = "rooms:meeting:"
	cacheKeyCode      = "rooms:code:"
	cacheTTLAfterEnd  = 24 * time.Hour
	chatHistoryOnJoin = 50
)

// CreateInput is a new meeting.
type CreateInput struct {
	Title           string
	Description     string
	StartTime       time.Time
	DurationMinutes int
	// Password is optional; it is stored as a bcrypt hash.
	Password string
	// MaxParticipants nil means DefaultCapacity.
	MaxParticipants  *int
	IsPublic         bool
	RecordingEnabled bool
}

// Create makes a scheduled meeting owned by the caller, who must have an account.
func (s *Service) Create(ctx context.Context, caller authn.Identity, in CreateInput) (MeetingView, error) {
	if caller.UserID == "" || caller.IsGuest() {
		return MeetingView{}, ErrGuestsNotAllowed.WithMessage("guests cannot create meetings")
	}
	fields := map[string]string{}
	title := strings.TrimSpace(in.Title)
	checkLen(fields, "title", title, 1, MaxTitle)
	checkLen(fields, "description", in.Description, 0, MaxDescription)
	if in.StartTime.IsZero() {
		fields["start_time"] = "required (RFC 3339)"
	}
	if in.DurationMinutes < 1 || in.DurationMinutes > MaxDuration {
		fields["duration_minutes"] = fmt.Sprintf("must be from 1 to %d", MaxDuration)
	}
	capacity := DefaultCapacity
	if in.MaxParticipants != nil {
		capacity = *in.MaxParticipants
		if capacity < MinParticipants || capacity > MaxParticipants {
			fields["max_participants"] = fmt.Sprintf("must be from %d to %d", MinParticipants, MaxParticipants)
		}
	}
	if len(in.Password) > MaxPassword {
		fields["password"] = fmt.Sprintf("must be at most %d bytes", MaxPassword)
	}
	if len(fields) > 0 {
		return MeetingView{}, apperr.Invalidf(fields)
	}
	hash, err := hashPassword(in.Password, s.pwCost)
	if err != nil {
		return MeetingView{}, err
	}
	now := s.clock()
	m := &Meeting{
		ID: newID(), Title: title, Description: in.Description, CreatorID: caller.UserID,
		StartTime: in.StartTime.UTC().Truncate(time.Second), DurationMinutes: in.DurationMinutes,
		PasswordHash: hash, MaxParticipants: capacity, IsPublic: in.IsPublic,
		RecordingEnabled: in.RecordingEnabled, Status: StatusScheduled, CreatedAt: now, UpdatedAt: now,
	}
	st := s.store.with(ctx)
	for attempt := 0; ; attempt++ {
		if attempt == codeAttempts {
			return MeetingView{}, ErrCodeExhausted
		}
		m.Code = s.newCode()
		err := st.createMeeting(m)
		if err == nil {
			break
		}
		if !db.IsUniqueViolation(err) {
			return MeetingView{}, fmt.Errorf("create meeting: %w", err)
		}
	}
	s.cacheMeeting(ctx, m)
	return s.meetingView(ctx, m)
}

func checkLen(fields map[string]string, name, v string, min, max int) {
	n := utf8.RuneCountInString(v)
	switch {
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		fields[name] = "must be valid UTF-8 text"
	case n < min && min == 1:
		fields[name] = "required"
	case n < min || n > max:
		fields[name] = fmt.Sprintf("must be %d to %d characters", min, max)
	}
}

func hashPassword(pw string, cost int) (string, error) {
	if pw == "" {
		return "", nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hash meeting password: %w", err)
	}
	return string(h), nil
}

func passwordMatches(hash, pw string) bool {
	return hash == "" || bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// newCode returns a random join code from codeAlphabet.
func newCode() string {
	b := make([]byte, codeLength)
	_, _ = rand.Read(b) // never fails on supported platforms
	for i := range b {
		// 256 % 31 != 0 makes the first letters a little likelier; a join code is not a secret.
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// NormalizeCode upper-cases a join code as users may type it.
func NormalizeCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

type cachedMeeting struct {
	MeetingSummary
	CreatorID string    `json:"creator_id"`
	StartTime time.Time `json:"start_time"`
}

func (s *Service) cacheTTL(m *Meeting) time.Duration {
	ttl := m.ends().Add(s.cfg.ExpiryGrace).Sub(s.now()) + cacheTTLAfterEnd
	if ttl < cacheTTLAfterEnd {
		ttl = cacheTTLAfterEnd
	}
	return ttl
}

// cacheMeeting stores the meeting's summary and its code. A cache failure is logged only.
func (s *Service) cacheMeeting(ctx context.Context, m *Meeting) {
	if s.cache == nil {
		return
	}
	raw, _ := json.Marshal(cachedMeeting{MeetingSummary: m.summary(), CreatorID: m.CreatorID, StartTime: m.StartTime})
	ttl := s.cacheTTL(m)
	if err := s.cache.Set(ctx, cacheKeyMeeting+m.ID, raw, ttl); err != nil {
		s.log.WarnContext(ctx, "cache meeting", "meeting_id", m.ID, "err", err)
	}
	if err := s.cache.Set(ctx, cacheKeyCode+m.Code, []byte(m.ID), ttl); err != nil {
		s.log.WarnContext(ctx, "cache meeting code", "meeting_id", m.ID, "err", err)
	}
}

// uncacheMeeting clears a meeting that ended or was cancelled.
func (s *Service) uncacheMeeting(ctx context.Context, m *Meeting) {
	if s.cache == nil {
		return
	}
	if err := s.cache.Del(context.WithoutCancel(ctx), cacheKeyMeeting+m.ID, cacheKeyCode+m.Code); err != nil {
		s.log.WarnContext(ctx, "clear meeting cache", "meeting_id", m.ID, "err", err)
	}
}

// CachedMeetingKeys returns the cache keys a meeting occupies while it may still be joined.
func CachedMeetingKeys(meetingID, code string) []string {
	return []string{cacheKeyMeeting + meetingID, cacheKeyCode + code}
}

// ByCode returns the public summary of the meeting with a join code.
func (s *Service) ByCode(ctx context.Context, code string) (MeetingSummary, error) {
	code = NormalizeCode(code)
	if len(code) != codeLength {
		return MeetingSummary{}, ErrNotFound
	}
	st := s.store.with(ctx)
	if s.cache != nil {
		if id, err := s.cache.Get(ctx, cacheKeyCode+code); err == nil {
			if m, err := st.meeting(string(id)); err == nil && m.Code == code {
				return m.summary(), nil
			}
		} else if !errors.Is(err, cache.ErrMiss) {
			s.log.WarnContext(ctx, "read meeting code cache", "err", err)
		}
	}
	m, err := st.meetingByCode(code)
	if err != nil {
		return MeetingSummary{}, err
	}
	return m.summary(), nil
}

// names returns display names for user ids; failures are logged and leave names empty.
func (s *Service) names(ctx context.Context, ids []string) map[string]string {
	if s.users == nil || len(ids) == 0 {
		return map[string]string{}
	}
	names, err := s.users.DisplayNames(ctx, ids)
	if err != nil || names == nil {
		if err != nil {
			s.log.WarnContext(ctx, "look up display names", "err", err)
		}
		return map[string]string{}
	}
	return names
}

// meetingView builds a meeting's view: one count query and one name lookup.
func (s *Service) meetingView(ctx context.Context, m *Meeting) (MeetingView, error) {
	n, err := s.store.with(ctx).countActive(m.ID)
	if err != nil {
		return MeetingView{}, fmt.Errorf("count participants: %w", err)
	}
	return m.view(s.names(ctx, []string{m.CreatorID})[m.CreatorID], int(n)), nil
}

// canView reports whether the caller may see the meeting: its creator, anyone who ever took
// part in it, or anyone when it is public.
func (s *Service) canView(st *Store, caller authn.Identity, m *Meeting) (bool, error) {
	if m.IsPublic || (caller.UserID != "" && m.CreatorID == caller.UserID) {
		return true, nil
	}
	ids, err := st.participantIDsOf(m.ID, caller.UserID)
	if err != nil || len(ids) > 0 {
		return len(ids) > 0, err
	}
	return st.invited(m.ID, caller.UserID)
}

// Get returns a meeting the caller may view.
func (s *Service) Get(ctx context.Context, caller authn.Identity, meetingID string) (MeetingView, error) {
	st := s.store.with(ctx)
	m, err := st.meeting(meetingID)
	if err != nil {
		return MeetingView{}, err
	}
	ok, err := s.canView(st, caller, m)
	if err != nil {
		return MeetingView{}, err
	}
	if !ok {
		return MeetingView{}, ErrForbidden
	}
	return s.meetingView(ctx, m)
}

// Participants returns the meeting's active participants, longest present first, to a caller
// who may view the meeting.
func (s *Service) Participants(ctx context.Context, caller authn.Identity, meetingID string) ([]ParticipantView, error) {
	st := s.store.with(ctx)
	m, err := st.meeting(meetingID)
	if err != nil {
		return nil, err
	}
	ok, err := s.canView(st, caller, m)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrForbidden
	}
	ps, err := st.activeParticipants(meetingID)
	if err != nil {
		return nil, err
	}
	return participantViews(ps), nil
}

// ParticipantByID returns a participant of the meeting, past or present, without any
// authorization check (for the signaling layer, which holds the participant's socket).
func (s *Service) ParticipantByID(ctx context.Context, meetingID, participantID string) (ParticipantView, error) {
	p, err := s.store.with(ctx).participant(meetingID, participantID)
	if err != nil {
		return ParticipantView{}, err
	}
	return p.View(), nil
}

// ActiveParticipants returns the meeting's active participants, longest present first,
// without any authorization check (for the signaling layer taking a room over).
func (s *Service) ActiveParticipants(ctx context.Context, meetingID string) ([]ParticipantView, error) {
	ps, err := s.store.with(ctx).activeParticipants(meetingID)
	if err != nil {
		return nil, err
	}
	return participantViews(ps), nil
}

// ActiveParticipant returns the user's active participant in the meeting, or ErrNotInRoom.
func (s *Service) ActiveParticipant(ctx context.Context, meetingID, userID string) (ParticipantView, error) {
	p, err := s.store.with(ctx).activeParticipant(meetingID, userID)
	if err != nil {
		return ParticipantView{}, err
	}
	if p == nil {
		return ParticipantView{}, ErrNotInRoom
	}
	return p.View(), nil
}

// MeetingPage is one page of meetings; its JSON is the API's list shape.
type MeetingPage struct {
	Items    []MeetingView `json:"items"`
	Page     int           `json:"page"`
	PageSize int           `json:"page_size"`
	Total    int64         `json:"total"`
}

// List returns the meetings the caller created or that are public, or, with OnlyJoined, the
// meetings it took part in, filtered and paged. It costs four queries whatever the page size:
// count, page, online counts and one display-name lookup.
func (s *Service) List(ctx context.Context, caller authn.Identity, f ListFilter) (MeetingPage, error) {
	f.UserID = caller.UserID
	if f.Page < 1 {
		f.Page = 1
	}
	if f.PageSize < 1 {
		f.PageSize = DefaultPageSize
	}
	if f.PageSize > MaxPageSize {
		f.PageSize = MaxPageSize
	}
	if f.Status != "" && !f.Status.Valid() {
		return MeetingPage{}, apperr.Invalidf(map[string]string{"status": "must be scheduled, live, ended or cancelled"})
	}
	if f.From != nil && f.To != nil && f.To.Before(*f.From) {
		return MeetingPage{}, apperr.Invalidf(map[string]string{"to": "must not be before from"})
	}
	st := s.store.with(ctx)
	ms, total, err := st.list(f)
	if err != nil {
		return MeetingPage{}, err
	}
	ids := make([]string, 0, len(ms))
	creators := make([]string, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		ids = append(ids, m.ID)
		if !seen[m.CreatorID] {
			seen[m.CreatorID] = true
			creators = append(creators, m.CreatorID)
		}
	}
	counts, err := st.onlineCounts(ids)
	if err != nil {
		return MeetingPage{}, fmt.Errorf("count participants: %w", err)
	}
	names := s.names(ctx, creators)
	items := make([]MeetingView, 0, len(ms))
	for i := range ms {
		items = append(items, ms[i].view(names[ms[i].CreatorID], counts[ms[i].ID]))
	}
	return MeetingPage{Items: items, Page: f.Page, PageSize: f.PageSize, Total: total}, nil
}

// UpdateInput changes a scheduled meeting; nil fields stay as they are.
type UpdateInput struct {
	Title           *string
	Description     *string
	StartTime       *time.Time
	DurationMinutes *int
	// Password "" removes the password.
	Password         *string
	MaxParticipants  *int
	IsPublic         *bool
	RecordingEnabled *bool
	// Status may only be StatusCancelled.
	Status *Status
}

// Update changes a meeting; only its creator may, and only while it is scheduled.
func (s *Service) Update(ctx context.Context, caller authn.Identity, meetingID string, in UpdateInput) (MeetingView, error) {
	fields := map[string]string{}
	set := map[string]any{}
	if in.Title != nil {
		t := strings.TrimSpace(*in.Title)
		checkLen(fields, "title", t, 1, MaxTitle)
		set["title"] = t
	}
	if in.Description != nil {
		checkLen(fields, "description", *in.Description, 0, MaxDescription)
		set["description"] = *in.Description
	}
	if in.StartTime != nil {
		if in.StartTime.IsZero() {
			fields["start_time"] = "must be an RFC 3339 time"
		}
		set["start_time"] = in.StartTime.UTC().Truncate(time.Second)
	}
	if in.DurationMinutes != nil {
		if *in.DurationMinutes < 1 || *in.DurationMinutes > MaxDuration {
			fields["duration_minutes"] = fmt.Sprintf("must be from 1 to %d", MaxDuration)
		}
		set["duration_minutes"] = *in.DurationMinutes
	}
	if in.MaxParticipants != nil {
		if *in.MaxParticipants < MinParticipants || *in.MaxParticipants > MaxParticipants {
			fields["max_participants"] = fmt.Sprintf("must be from %d to %d", MinParticipants, MaxParticipants)
		}
		set["max_participants"] = *in.MaxParticipants
	}
	if in.IsPublic != nil {
		set["is_public"] = *in.IsPublic
	}
	if in.RecordingEnabled != nil {
		set["recording_enabled"] = *in.RecordingEnabled
	}
	if in.Status != nil {
		if *in.Status != StatusCancelled {
			fields["status"] = "may only be cancelled"
		}
		set["status"] = StatusCancelled
	}
	if in.Password != nil {
		if len(*in.Password) > MaxPassword {
			fields["password"] = fmt.Sprintf("must be at most %d bytes", MaxPassword)
		}
	}
	if len(fields) > 0 {
		return MeetingView{}, apperr.Invalidf(fields)
	}
	if in.Password != nil {
		hash, err := hashPassword(*in.Password, s.pwCost)
		if err != nil {
			return MeetingView{}, err
		}
		set["password_hash"] = hash
	}
	var m *Meeting
	err := s.store.Tx(ctx, func(tx *Store) error {
		var err error
		if m, err = tx.lockMeeting(meetingID); err != nil {
			return err
		}
		if m.CreatorID != caller.UserID {
			if ok, err := s.canView(tx, caller, m); err != nil {
				return err
			} else if !ok {
				return ErrForbidden
			}
			return ErrForbidden.WithMessage("only the meeting's creator may change it")
		}
		if m.Status != StatusScheduled {
			return ErrNotScheduled
		}
		if len(set) == 0 {
			return nil
		}
		set["updated_at"] = s.clock()
		if err := tx.updateMeeting(m.ID, set); err != nil {
			return err
		}
		m, err = tx.meeting(m.ID)
		return err
	})
	if err != nil {
		return MeetingView{}, err
	}
	if m.Status == StatusCancelled {
		s.uncacheMeeting(ctx, m)
	} else if len(set) > 0 {
		s.cacheMeeting(ctx, m)
	}
	return s.meetingView(ctx, m)
}
