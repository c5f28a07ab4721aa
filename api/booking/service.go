package booking

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/mail"
	"github.com/onstagehq/onstage/internal/payments"
	"github.com/onstagehq/onstage/rooms"
)

// Meetings is what booking needs of the meeting domain (*rooms.Service).
type Meetings interface {
	// CreateBookedTx makes the private meeting of a paid order inside the payment's transaction.
	CreateBookedTx(ctx context.Context, tx *gorm.DB, in rooms.BookedInput) (rooms.BookedMeeting, error)
	Statuses(ctx context.Context, ids []string) (map[string]rooms.Status, error)
	Update(ctx context.Context, caller authn.Identity, meetingID string, in rooms.UpdateInput) (rooms.MeetingView, error)
}

// Authorizer answers permission and role questions (*authz.Service).
type Authorizer interface {
	Can(ctx context.Context, id authn.Identity, p authz.Permission, t *authz.Target) error
	Effective(ctx context.Context, userID string) (*authz.Effective, error)
}

// Notifier delivers a notification to a user's open WebSockets, on whatever node they are.
type Notifier interface {
	Notify(userID string, n Notification)
}

// Notification is the data of the WebSocket `notification` message (docs/protocol.md).
type Notification struct {
	Kind        string    `json:"kind"`
	Title       string    `json:"title"`
	Text        string    `json:"text"`
	OrderID     string    `json:"order_id,omitempty"`
	MeetingID   string    `json:"meeting_id,omitempty"`
	MeetingCode string    `json:"meeting_code,omitempty"`
	At          time.Time `json:"at"`
}

// Contact returns a user's e-mail address and display name.
type Contact func(ctx context.Context, userID string) (email, name string, err error)

// Params are the Service's dependencies.
type Params struct {
	DB       *gorm.DB
	Cache    cache.Cache
	Authz    Authorizer
	Meetings Meetings
	Payments *payments.Service
	Mailer   mail.Mailer
	Notifier Notifier
	Contact  Contact
	Log      *slog.Logger
	Now      func() time.Time
	// HoldTTL is how long an unpaid order holds its time (15 minutes).
	HoldTTL time.Duration
	// CatalogTTL bounds how long a cached catalogue page lives (60 s); changes invalidate it
	// at once.
	CatalogTTL time.Duration
	// SweepInterval is how often expired holds and ended meetings are swept (30 s).
	SweepInterval time.Duration
}

// Service is the booking domain: profiles, approval, schedules, the catalogue, orders and
// their payment, sessions and reviews. Every method acting for someone takes the caller's
// identity and authorizes it. Lock order: a streamer's profile row, then an order row.
type Service struct {
	p        Params
	db       *gorm.DB
	log      *slog.Logger
	now      func() time.Time
	versions *cache.Versions

	views   chan string // streamer ids whose view counts, deduplicated already
	ended   chan string // meeting ids that ended
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	start   sync.Once
	started atomic.Bool
	closed  sync.Once
}

// NewService returns a Service; Start runs its background work and registers the "order"
// payment purpose.
func NewService(p Params) *Service {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.HoldTTL <= 0 {
		p.HoldTTL = 15 * time.Minute
	}
	if p.CatalogTTL <= 0 {
		p.CatalogTTL = time.Minute
	}
	if p.SweepInterval <= 0 {
		p.SweepInterval = 30 * time.Second
	}
	if p.Cache == nil {
		p.Cache = cache.NewMemory()
	}
	return &Service{p: p, db: p.DB, log: p.Log, now: p.Now, versions: cache.NewVersions(p.Cache, "booking:ver:"),
		views: make(chan string, 4096), ended: make(chan string, 1024), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// hasRole reports whether the caller is role: its account's role or a granted role.
func (s *Service) hasRole(ctx context.Context, id authn.Identity, role authn.Role) bool {
	if id.Role == role {
		return true
	}
	if id.IsGuest() || id.UserID == "" || s.p.Authz == nil {
		return false
	}
	eff, err := s.p.Authz.Effective(ctx, id.UserID)
	return err == nil && !eff.Locked && slices.Contains(eff.Roles, string(role))
}

// ---- profiles ----

// ProfileInput is PUT /streamers/profile.
type ProfileInput struct {
	Bio          string   `json:"bio"`
	City         string   `json:"city"`
	Games        []string `json:"games"`
	Languages    []string `json:"languages"`
	PricePerHour int64    `json:"price_per_hour"`
	Currency     string   `json:"currency"`
	TimeZone     string   `json:"time_zone"`
	Photos       []string `json:"photos"`
}

// Profile limits.
const (
	MaxBio       = 2000
	MaxCity      = 100
	MaxGames     = 20
	MaxLanguages = 10
	MaxPhotos    = 10
	MaxPrice     = 100_000_000
)

var currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

func marshalList(in []string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(in)
	return strings.TrimSpace(b.String())
}

func normList(bad map[string]string, name string, in []string, min, max, maxLen int) []string {
	if len(in) < min || len(in) > max {
		bad[name] = fmt.Sprintf("give %d to %d", min, max)
		return nil
	}
	out := make([]string, 0, len(in))
	for i, v := range in {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" || utf8.RuneCountInString(v) > maxLen {
			bad[fmt.Sprintf("%s[%d]", name, i)] = fmt.Sprintf("must be 1 to %d characters", maxLen)
			continue
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// validPhoto accepts an image uploaded here or an https URL.
func validPhoto(u string) bool {
	if len(u) > 500 {
		return false
	}
	return strings.HasPrefix(u, ImagePathPrefix) || strings.HasPrefix(u, "https://")
}

// SaveProfile creates or changes the caller's streamer profile. A changed profile waits for
// an admin's approval again and is not listed meanwhile.
func (s *Service) SaveProfile(ctx context.Context, caller authn.Identity, in ProfileInput) (ProfileView, error) {
	if !s.hasRole(ctx, caller, authn.RoleStreamer) {
		return ProfileView{}, ErrNotStreamer
	}
	bad := map[string]string{}
	in.Bio = strings.TrimSpace(in.Bio)
	if utf8.RuneCountInString(in.Bio) > MaxBio {
		bad["bio"] = fmt.Sprintf("at most %d characters", MaxBio)
	}
	in.City = strings.TrimSpace(in.City)
	if n := utf8.RuneCountInString(in.City); n < 1 || n > MaxCity {
		bad["city"] = fmt.Sprintf("must be 1 to %d characters", MaxCity)
	}
	games := normList(bad, "games", in.Games, 1, MaxGames, 50)
	langs := normList(bad, "languages", in.Languages, 1, MaxLanguages, 35)
	if in.PricePerHour < 1 || in.PricePerHour > MaxPrice {
		bad["price_per_hour"] = fmt.Sprintf("must be 1 to %d minor units", MaxPrice)
	}
	if !currencyRe.MatchString(in.Currency) {
		bad["currency"] = "must be an ISO 4217 code such as EUR"
	}
	if _, err := LoadZone(in.TimeZone); err != nil {
		bad["time_zone"] = "must be an IANA time zone such as Europe/Berlin"
	}
	if len(in.Photos) > MaxPhotos {
		bad["photos"] = fmt.Sprintf("at most %d", MaxPhotos)
	}
	for i, ph := range in.Photos {
		if !validPhoto(ph) {
			bad[fmt.Sprintf("photos[%d]", i)] = "must be an uploaded image URL (" + ImagePathPrefix + "…) or an https URL"
		}
	}
	if len(bad) > 0 {
		return ProfileView{}, apperr.Invalidf(bad)
	}
	if in.Photos == nil {
		in.Photos = []string{}
	}
	name := caller.Name
	if s.p.Contact != nil {
		if _, n, err := s.p.Contact(ctx, caller.UserID); err == nil && n != "" {
			name = n
		}
	}
	now := s.clock()
	var out Profile
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		fields := map[string]any{"display_name": name, "bio": in.Bio, "city": in.City, "city_key": strings.ToLower(in.City),
			"games": marshalList(games), "languages": marshalList(langs), "price_per_hour": in.PricePerHour,
			"currency": in.Currency, "time_zone": in.TimeZone, "photos": marshalList(in.Photos),
			"status": ProfilePending, "reject_reason": "", "updated_at": now}
		res := tx.Model(&Profile{}).Where("user_id = ?", caller.UserID).Updates(fields)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			p := Profile{UserID: caller.UserID, DisplayName: name, Bio: in.Bio, City: in.City,
				CityKey: strings.ToLower(in.City), Games: marshalList(games), Languages: marshalList(langs),
				PricePerHour: in.PricePerHour, Currency: in.Currency, TimeZone: in.TimeZone, Photos: marshalList(in.Photos),
				Status: ProfilePending, Active: true, Schedule: `{"weekly":[],"exceptions":[]}`, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&p).Error; err != nil {
				return err
			}
		}
		return tx.Where("user_id = ?", caller.UserID).Take(&out).Error
	})
	if err != nil {
		return ProfileView{}, err
	}
	s.invalidate(ctx)
	return out.view(), nil
}

// MyProfile returns the caller's profile.
func (s *Service) MyProfile(ctx context.Context, caller authn.Identity) (ProfileView, error) {
	p, err := s.profile(ctx, s.db, caller.UserID)
	if err != nil {
		return ProfileView{}, err
	}
	return p.view(), nil
}

func (s *Service) profile(ctx context.Context, gdb *gorm.DB, id string) (*Profile, error) {
	var p Profile
	err := gdb.WithContext(ctx).Where("user_id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrStreamerNotFound
	}
	return &p, err
}

// Review decides a pending profile: approve lists it, reject (with a reason) does not. The
// streamer is mailed either way; the admin route is audited by the admin middleware.
func (s *Service) Review(ctx context.Context, caller authn.Identity, streamerID string, approve bool, reason string) (ProfileView, error) {
	if s.p.Authz == nil {
		return ProfileView{}, apperr.ErrForbidden
	}
	if err := s.p.Authz.Can(ctx, caller, authz.StreamersApprove, nil); err != nil {
		return ProfileView{}, err
	}
	reason = strings.TrimSpace(reason)
	if !approve && (reason == "" || utf8.RuneCountInString(reason) > 500) {
		return ProfileView{}, apperr.Invalidf(map[string]string{"reason": "must be 1 to 500 characters"})
	}
	now := s.clock()
	var p *Profile
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if p, err = s.profile(ctx, tx, streamerID); err != nil {
			return err
		}
		if p.Status != ProfilePending {
			return ErrNotPending
		}
		fields := map[string]any{"status": ProfileRejected, "reject_reason": reason, "updated_at": now}
		if approve {
			fields = map[string]any{"status": ProfileApproved, "reject_reason": "", "approved_at": now, "updated_at": now}
		}
		res := tx.Model(&Profile{}).Where("user_id = ? AND status = ?", streamerID, ProfilePending).Updates(fields)
		if res.Error == nil && res.RowsAffected == 0 {
			return ErrNotPending
		}
		if res.Error != nil {
			return res.Error
		}
		p, err = s.profile(ctx, tx, streamerID)
		return err
	})
	if err != nil {
		return ProfileView{}, err
	}
	s.invalidate(ctx)
	subject, text := "Your streamer profile is approved", "Your profile is approved and listed: players can now book you."
	if !approve {
		subject, text = "Your streamer profile needs changes", "Your profile was not approved: "+reason
	}
	s.mailUser(ctx, streamerID, subject, text)
	return p.view(), nil
}

func (s *Service) mailUser(ctx context.Context, userID, subject, text string) {
	if s.p.Mailer == nil || s.p.Contact == nil {
		return
	}
	email, _, err := s.p.Contact(ctx, userID)
	if err != nil || email == "" {
		s.log.WarnContext(ctx, "booking: no address to mail", "user_id", userID, "err", err)
		return
	}
	if err := s.p.Mailer.Send(ctx, mail.Message{To: email, Subject: subject, Text: text}); err != nil {
		s.log.WarnContext(ctx, "booking: mail failed", "user_id", userID, "err", err)
	}
}

// ---- schedule ----

// ScheduleView is a streamer's schedule with its zone.
type ScheduleView struct {
	Schedule
	TimeZone string `json:"time_zone"`
}

// MySchedule returns the caller's schedule.
func (s *Service) MySchedule(ctx context.Context, caller authn.Identity) (ScheduleView, error) {
	p, err := s.profile(ctx, s.db, caller.UserID)
	if errors.Is(err, ErrStreamerNotFound) {
		return ScheduleView{}, ErrNoProfile
	}
	if err != nil {
		return ScheduleView{}, err
	}
	return ScheduleView{Schedule: p.schedule(), TimeZone: p.TimeZone}, nil
}

// SetSchedule replaces the caller's schedule. A change that would leave a held or paid order
// outside the new availability is refused with ErrScheduleBooked naming those orders; the
// check and the write run under the streamer's row lock, so no order slips in between.
func (s *Service) SetSchedule(ctx context.Context, caller authn.Identity, in Schedule) (ScheduleView, error) {
	if !s.hasRole(ctx, caller, authn.RoleStreamer) {
		return ScheduleView{}, ErrNotStreamer
	}
	if in.Weekly == nil {
		in.Weekly = []WeeklyRule{}
	}
	if in.Exceptions == nil {
		in.Exceptions = []Exception{}
	}
	if err := in.Validate(); err != nil {
		return ScheduleView{}, err
	}
	raw, _ := json.Marshal(in)
	now := s.clock()
	var zone string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		p, err := lockProfile(tx, caller.UserID, false)
		if errors.Is(err, ErrStreamerNotFound) {
			return ErrNoProfile
		}
		if err != nil {
			return err
		}
		zone = p.TimeZone
		loc, err := LoadZone(p.TimeZone)
		if err != nil {
			return err
		}
		orders, err := holdingOrders(tx, p.UserID, now, now.Add(400*24*time.Hour), now)
		if err != nil {
			return err
		}
		lost := map[string]string{}
		for _, o := range orders {
			if !o.End.After(now) {
				continue
			}
			if !covered(in, loc, Interval{o.Start, o.End}) {
				lost[o.ID] = o.Start.UTC().Format(time.RFC3339) + "/" + o.End.UTC().Format(time.RFC3339)
			}
		}
		if len(lost) > 0 {
			ids := make([]string, 0, len(lost))
			for id := range lost {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			return ErrScheduleBooked.WithFields(lost).WithMessage("the change would remove time already booked by orders " + strings.Join(ids, ", "))
		}
		return tx.Model(&Profile{}).Where("user_id = ?", p.UserID).Updates(map[string]any{"schedule": string(raw), "updated_at": now}).Error
	})
	if err != nil {
		return ScheduleView{}, err
	}
	s.invalidate(ctx)
	return ScheduleView{Schedule: in, TimeZone: zone}, nil
}

// lockProfile takes the streamer's row lock (an UPDATE, which every database turns into a
// row lock, and SQLite into its write lock) and reads the row. listed refuses a profile that
// is not approved and active.
func lockProfile(tx *gorm.DB, id string, listed bool) (*Profile, error) {
	q := tx.Model(&Profile{}).Where("user_id = ?", id)
	if listed {
		q = q.Where("status = ? AND active = ?", ProfileApproved, true)
	}
	res := q.Update("lock_seq", gorm.Expr("lock_seq + 1"))
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, ErrStreamerNotFound
	}
	var p Profile
	return &p, tx.Where("user_id = ?", id).Take(&p).Error
}

// holdingOrders returns the streamer's orders that hold time overlapping [from, to): paid or
// completed ones, and unpaid ones whose hold is still live at now.
func holdingOrders(tx *gorm.DB, streamerID string, from, to, now time.Time) ([]Order, error) {
	var out []Order
	err := tx.Where("streamer_id = ? AND start_at < ? AND end_at > ?", streamerID, to, from).
		Where("status IN ? OR (status = ? AND hold_expires_at > ?)", []OrderStatus{OrderPaid, OrderCompleted}, OrderPending, now).
		Order("start_at").Find(&out).Error
	return out, err
}

func busyOf(orders []Order) []Interval {
	out := make([]Interval, 0, len(orders))
	for _, o := range orders {
		out = append(out, Interval{o.Start, o.End})
	}
	return out
}

// windows returns the schedule's availability overlapping [from, to), in UTC.
func windows(sc Schedule, loc *time.Location, from, to time.Time) []Interval {
	var all []Interval
	first := from.In(loc)
	day := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	last := to.In(loc)
	lastDay := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	for ; !day.After(lastDay); day = day.AddDate(0, 0, 1) {
		all = append(all, dayWindows(sc, loc, day)...)
	}
	return mergeIntervals(all)
}

// covered reports whether iv lies inside the schedule's availability.
func covered(sc Schedule, loc *time.Location, iv Interval) bool {
	for _, w := range windows(sc, loc, iv.Start, iv.End) {
		if !w.Start.After(iv.Start) && !w.End.Before(iv.End) {
			return true
		}
	}
	return false
}

// fits reports whether iv can be booked: inside the availability, clear of every busy span
// and its buffer, after the minimum notice and under the day's cap.
func fits(sc Schedule, loc *time.Location, iv Interval, busy []Interval, now time.Time) bool {
	if iv.Start.Before(now.Add(time.Duration(sc.MinNoticeMinutes) * time.Minute)) {
		return false
	}
	if !covered(sc, loc, iv) {
		return false
	}
	buffer := time.Duration(sc.BufferMinutes) * time.Minute
	day := iv.Start.In(loc).Format(time.DateOnly)
	n := 0
	for _, b := range busy {
		if b.Start.Add(-buffer).Before(iv.End) && b.End.Add(buffer).After(iv.Start) {
			return false
		}
		if b.Start.In(loc).Format(time.DateOnly) == day {
			n++
		}
	}
	return sc.MaxPerDay == 0 || n < sc.MaxPerDay
}

// ---- catalogue ----

// ListQuery filters and orders the catalogue.
type ListQuery struct {
	Page, PageSize     int
	City, Game, Lang   string
	PriceMin, PriceMax int64
	Q                  string
	Sort               string
}

// The catalogue's sort orders.
var sorts = []string{"rating", "price", "popular", "new"}

// CatalogPage is a page of the catalogue.
type CatalogPage struct {
	Items    []Card `json:"items"`
	Page     int    `json:"page"`
	PageSize int    `json:"page_size"`
	Total    int64  `json:"total"`
}

const catalogVersion = "catalog"

// invalidate makes every cached catalogue page stale: the version in every key moves on.
func (s *Service) invalidate(ctx context.Context) {
	if _, err := s.versions.Bump(context.WithoutCancel(ctx), catalogVersion); err != nil {
		s.log.WarnContext(ctx, "booking: invalidate catalogue", "err", err)
	}
}

// quoted is v as it appears inside a stored JSON list, quotes included, so a filter matches
// whole entries only.
func quoted(v string) string {
	l := marshalList([]string{v})
	return l[1 : len(l)-1]
}

func escapeLike(v string) string {
	return strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`).Replace(v)
}

// Catalog lists approved, active streamers. Pages are served from the cache, keyed by the
// catalogue's version, which every change to a listed profile, schedule, rating, approval or
// booking bumps; hit reports whether the page came from the cache.
func (s *Service) Catalog(ctx context.Context, q ListQuery) (page CatalogPage, hit bool, err error) {
	bad := map[string]string{}
	if q.Sort == "" {
		q.Sort = "rating"
	}
	if !slices.Contains(sorts, q.Sort) {
		bad["sort"] = "must be rating, price, popular or new"
	}
	if q.PriceMin < 0 || (q.PriceMax > 0 && q.PriceMax < q.PriceMin) {
		bad["price_max"] = "must be at least price_min"
	}
	if len(q.Q) > 100 || len(q.City) > MaxCity || len(q.Game) > 50 || len(q.Lang) > 35 {
		bad["q"] = "filters are at most 100 characters"
	}
	if len(bad) > 0 {
		return CatalogPage{}, false, apperr.Invalidf(bad)
	}
	q = q.normalized()
	ver, verr := s.versions.Get(ctx, catalogVersion)
	keyRaw, _ := json.Marshal(q)
	sum := sha256.Sum256(keyRaw)
	key := fmt.Sprintf("booking:catalog:%d:%s", ver, hex.EncodeToString(sum[:12]))
	if verr == nil {
		if raw, err := s.p.Cache.Get(ctx, key); err == nil && json.Unmarshal(raw, &page) == nil {
			return page, true, nil
		}
	}
	page, err = s.catalog(ctx, q)
	if err != nil {
		return CatalogPage{}, false, err
	}
	if verr == nil {
		if raw, err := json.Marshal(page); err == nil {
			if err := s.p.Cache.Set(ctx, key, raw, s.p.CatalogTTL); err != nil {
				s.log.DebugContext(ctx, "booking: cache catalogue page", "err", err)
			}
		}
	}
	return page, false, nil
}

// normalized is q as the catalogue filters and caches it.
func (q ListQuery) normalized() ListQuery {
	q.City, q.Game, q.Lang = strings.ToLower(strings.TrimSpace(q.City)), strings.ToLower(strings.TrimSpace(q.Game)), strings.ToLower(strings.TrimSpace(q.Lang))
	q.Q = strings.ToLower(strings.TrimSpace(q.Q))
	return q
}

// listed selects the profiles the catalogue lists for the (normalized) filters of q.
func (s *Service) listed(ctx context.Context, q ListQuery) *gorm.DB {
	tx := s.db.WithContext(ctx).Model(&Profile{}).Where("status = ? AND active = ?", ProfileApproved, true)
	if q.City != "" {
		tx = tx.Where("city_key = ?", q.City)
	}
	if q.Game != "" {
		tx = tx.Where(`games LIKE ? ESCAPE '!'`, "%"+escapeLike(quoted(q.Game))+"%")
	}
	if q.Lang != "" {
		tx = tx.Where(`languages LIKE ? ESCAPE '!'`, "%"+escapeLike(quoted(q.Lang))+"%")
	}
	if q.PriceMin > 0 {
		tx = tx.Where("price_per_hour >= ?", q.PriceMin)
	}
	if q.PriceMax > 0 {
		tx = tx.Where("price_per_hour <= ?", q.PriceMax)
	}
	if q.Q != "" {
		like := "%" + escapeLike(q.Q) + "%"
		tx = tx.Where(`(LOWER(display_name) LIKE ? ESCAPE '!' OR city_key LIKE ? ESCAPE '!' OR games LIKE ? ESCAPE '!')`, like, like, like)
	}
	return tx
}

func (s *Service) catalog(ctx context.Context, q ListQuery) (CatalogPage, error) {
	tx := s.listed(ctx, q)
	var total int64
	if err := tx.Count(&total).Error; err != nil {
		return CatalogPage{}, err
	}
	switch q.Sort {
	case "price":
		tx = tx.Order("price_per_hour ASC")
	case "popular":
		tx = tx.Order("views DESC")
	case "new":
		tx = tx.Order("approved_at DESC")
	default:
		tx = tx.Order("CASE WHEN review_count = 0 THEN 0 ELSE rating_sum * 1.0 / review_count END DESC").Order("review_count DESC")
	}
	var ps []Profile
	if err := tx.Order("user_id").Offset((q.Page - 1) * q.PageSize).Limit(q.PageSize).Find(&ps).Error; err != nil {
		return CatalogPage{}, err
	}
	now := s.now().UTC()
	items := make([]Card, 0, len(ps))
	for i := range ps {
		next, err := s.nextFree(ctx, &ps[i], now)
		if err != nil {
			return CatalogPage{}, err
		}
		items = append(items, ps[i].card(next))
	}
	return CatalogPage{Items: items, Page: q.Page, PageSize: q.PageSize, Total: total}, nil
}

// DetailDays is how far ahead a streamer's page shows free slots.
const DetailDays = 14

// freeSlots returns p's free slots of duration over the next days.
func (s *Service) freeSlots(ctx context.Context, p *Profile, now time.Time, days int, dur time.Duration) ([]Interval, error) {
	loc, err := LoadZone(p.TimeZone)
	if err != nil {
		return nil, nil
	}
	to := now.Add(time.Duration(days) * 24 * time.Hour)
	orders, err := holdingOrders(s.db.WithContext(ctx), p.UserID, now.Add(-48*time.Hour), to.Add(48*time.Hour), now)
	if err != nil {
		return nil, err
	}
	slots, err := FreeSlots(p.schedule(), SlotQuery{Zone: loc, From: now, To: to, Duration: dur, Now: now, Busy: busyOf(orders)})
	if err != nil {
		return nil, err
	}
	if slots == nil {
		slots = []Interval{}
	}
	return slots, nil
}

func (s *Service) nextFree(ctx context.Context, p *Profile, now time.Time) (*time.Time, error) {
	slots, err := s.freeSlots(ctx, p, now, DetailDays, time.Hour)
	if err != nil || len(slots) == 0 {
		return nil, err
	}
	t := slots[0].Start
	return &t, nil
}

// Detail returns a listed streamer's public page with free slots of dur for the next 14
// days. viewer (a user id or a client address) counts one view per hour, off the request path.
func (s *Service) Detail(ctx context.Context, id, viewer string, dur time.Duration) (Detail, error) {
	p, err := s.profile(ctx, s.db, id)
	if err != nil {
		return Detail{}, err
	}
	if !p.listed() {
		return Detail{}, ErrStreamerNotFound
	}
	if dur < 15*time.Minute || dur > 8*time.Hour || dur%(5*time.Minute) != 0 {
		return Detail{}, apperr.Invalidf(map[string]string{"duration_minutes": "must be 15 to 480, a multiple of 5"})
	}
	now := s.now().UTC()
	slots, err := s.freeSlots(ctx, p, now, DetailDays, dur)
	if err != nil {
		return Detail{}, err
	}
	var next *time.Time
	if len(slots) > 0 {
		t := slots[0].Start
		next = &t
	}
	revs, _, err := s.reviews(ctx, id, 1, 5)
	if err != nil {
		return Detail{}, err
	}
	s.countView(ctx, id, viewer)
	return Detail{Card: p.card(next), Bio: p.Bio, Photos: jsonList(p.Photos), TimeZone: p.TimeZone, Views: p.Views,
		Reviews: revs, FreeSlots: slots}, nil
}

// countView queues a view of streamer id by viewer, once per viewer per hour. The dedup
// key lives in the shared cache; the count is written to the database in batches by the
// background loop, never on the request path.
func (s *Service) countView(ctx context.Context, id, viewer string) {
	if viewer == "" {
		return
	}
	hour := s.now().UTC().Format("2006010215")
	sum := sha256.Sum256([]byte(viewer))
	ok, err := s.p.Cache.SetNX(ctx, "booking:view:"+id+":"+hex.EncodeToString(sum[:8])+":"+hour, []byte{1}, time.Hour)
	if err != nil || !ok {
		return
	}
	select {
	case s.views <- id:
	default: // a full queue drops the view rather than slowing the page
	}
}

// Profiles lists streamer profiles in one state (pending by default), oldest change first, for
// the admins who decide them.
func (s *Service) Profiles(ctx context.Context, caller authn.Identity, status ProfileStatus, page, size int) ([]ProfileView, int64, error) {
	if s.p.Authz == nil {
		return nil, 0, apperr.ErrForbidden
	}
	if err := s.p.Authz.Can(ctx, caller, authz.StreamersApprove, nil); err != nil {
		return nil, 0, err
	}
	if status == "" {
		status = ProfilePending
	}
	if status != ProfilePending && status != ProfileApproved && status != ProfileRejected {
		return nil, 0, apperr.Invalidf(map[string]string{"status": "must be pending, approved or rejected"})
	}
	q := s.db.WithContext(ctx).Model(&Profile{}).Where("status = ?", status)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []Profile
	if err := q.Order("updated_at, user_id").Offset((page - 1) * size).Limit(size).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]ProfileView, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].view())
	}
	return out, total, nil
}
