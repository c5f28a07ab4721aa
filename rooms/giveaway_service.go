package rooms

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/db"
)

// OpenGiveawayInput is a new giveaway.
type OpenGiveawayInput struct {
	Title        string
	Prize        string
	Winners      int
	EntrySeconds int
	Bonus        *Bonus
}

// OpenGiveaway starts a giveaway in a live meeting; only its host or a co-host may. The
// server seed is drawn here and only its SHA-256 (the commitment) is shown until the draw.
func (s *Service) OpenGiveaway(ctx context.Context, caller authn.Identity, meetingID string, in OpenGiveawayInput) (GiveawayView, error) {
	fields := map[string]string{}
	title, prize := strings.TrimSpace(in.Title), strings.TrimSpace(in.Prize)
	checkLen(fields, "title", title, 1, MaxGiveawayTitle)
	checkLen(fields, "prize", prize, 1, MaxGiveawayPrize)
	if in.Winners < 1 || in.Winners > MaxGiveawayWinners {
		fields["winners"] = fmt.Sprintf("must be from 1 to %d", MaxGiveawayWinners)
	}
	if in.EntrySeconds < MinEntrySeconds || in.EntrySeconds > MaxEntrySeconds {
		fields["entry_seconds"] = fmt.Sprintf("must be from %d to %d", MinEntrySeconds, MaxEntrySeconds)
	}
	if b := in.Bonus; b != nil {
		if b.MinMinutes < 1 || b.MinMinutes > MaxBonusMinutes {
			fields["bonus.min_minutes"] = fmt.Sprintf("must be from 1 to %d", MaxBonusMinutes)
		}
		if b.Weight < 2 || b.Weight > MaxBonusWeight {
			fields["bonus.weight"] = fmt.Sprintf("must be from 2 to %d", MaxBonusWeight)
		}
	}
	if len(fields) > 0 {
		return GiveawayView{}, apperr.Invalidf(fields)
	}
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return GiveawayView{}, fmt.Errorf("giveaway seed: %w", err)
	}
	sum := sha256.Sum256(seed)
	now := s.clock()
	g := &Giveaway{
		ID: newID(), MeetingID: meetingID, Title: title, Prize: prize, WinnerCount: in.Winners,
		EntrySeconds: in.EntrySeconds, Status: GiveawayOpen, Seed: hex.EncodeToString(seed),
		Commitment: hex.EncodeToString(sum[:]), Algorithm: GiveawayAlgorithm, OpenedBy: caller.UserID,
		OpenedAt: now, ClosesAt: now.Add(time.Duration(in.EntrySeconds) * time.Second), CreatedAt: now, UpdatedAt: now,
	}
	if in.Bonus != nil {
		g.BonusMinutes, g.BonusWeight = in.Bonus.MinMinutes, in.Bonus.Weight
	}
	var evs events
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs = nil
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		if m.Status != StatusLive {
			return s.hideMeeting(tx, caller, m, ErrMeetingNotLive)
		}
		if _, err := moderator(tx, m.ID, caller, RoleHost, RoleCohost); err != nil {
			return s.hideMeeting(tx, caller, m, err)
		}
		if err := tx.insertGiveaway(g); err != nil {
			return fmt.Errorf("store giveaway: %w", err)
		}
		ev := s.event(EventGiveawayOpened, m.ID)
		v := g.view(nil)
		ev.Giveaway = &v
		evs = events{ev}
		return nil
	})
	if err != nil {
		return GiveawayView{}, err
	}
	s.publish(ctx, evs)
	s.wakeGiveaways()
	return g.view(nil), nil
}

// hideMeeting turns a refusal into ErrForbidden for a caller who may see the meeting and into
// ErrNotFound for one who may not: another meeting's existence is not revealed.
func (s *Service) hideMeeting(st *Store, caller authn.Identity, m *Meeting, err error) error {
	ok, verr := s.canView(st, caller, m)
	if verr != nil {
		return verr
	}
	if !ok {
		return ErrNotFound
	}
	return err
}

// EnterInput is an entry.
type EnterInput struct {
	// Contact is an optional phone number or e-mail address for the prize.
	Contact string
	// Source is the transport: SourceREST or SourceWebSocket.
	Source string
}

// EnterGiveaway enters the caller, who must be in the meeting now, while the window is open.
// A user enters once: the database's unique (giveaway, user) index decides a race, and the
// loser gets ErrAlreadyEntered. Entry numbers are 1, 2, 3, … without gaps.
func (s *Service) EnterGiveaway(ctx context.Context, caller authn.Identity, meetingID, giveawayID string, in EnterInput) (EntryView, error) {
	in.Contact = strings.TrimSpace(in.Contact)
	if in.Contact != "" && !validContact(in.Contact) {
		return EntryView{}, apperr.Invalidf(map[string]string{"contact": "must be a phone number or an e-mail address"})
	}
	if in.Source != SourceWebSocket {
		in.Source = SourceREST
	}
	var e *GiveawayEntry
	err := s.store.Tx(ctx, func(tx *Store) error {
		e = nil
		g, err := tx.lockGiveaway(meetingID, giveawayID)
		if err != nil {
			return s.hideGiveaway(tx, caller, meetingID, err)
		}
		self, err := tx.activeParticipant(meetingID, caller.UserID)
		if err != nil {
			return err
		}
		if self == nil {
			return s.hideGiveaway(tx, caller, meetingID, ErrNotInRoom)
		}
		now := s.clock()
		if g.Status != GiveawayOpen || !now.Before(g.ClosesAt) {
			return ErrEntriesClosed
		}
		// No look-up first: the unique (giveaway, user) index is what refuses a second
		// entry, and its failure rolls the entry number back with the transaction.
		n, err := tx.nextEntryNumber(g.ID)
		if err != nil {
			return fmt.Errorf("next entry number: %w", err)
		}
		e = &GiveawayEntry{ID: newID(), GiveawayID: g.ID, MeetingID: meetingID, UserID: caller.UserID,
			ParticipantID: self.ID, EntryNumber: n, Name: self.DisplayName, Contact: in.Contact,
			Source: in.Source, Weight: 1, EnteredAt: now}
		if err := tx.insertEntry(e); err != nil {
			if db.IsUniqueViolation(err) {
				return ErrAlreadyEntered
			}
			return fmt.Errorf("store entry: %w", err)
		}
		return nil
	})
	if err != nil {
		return EntryView{}, err
	}
	s.publishGiveaway(ctx, GiveawayBusEvent{Type: BusParticipantRegistered, MeetingID: meetingID,
		GiveawayID: giveawayID, At: e.EnteredAt, EntryNumber: e.EntryNumber, Source: e.Source})
	return e.view(true), nil
}

// hideGiveaway is hideMeeting for a meeting the caller reaches through a giveaway.
func (s *Service) hideGiveaway(st *Store, caller authn.Identity, meetingID string, err error) error {
	m, merr := st.meeting(meetingID)
	if merr != nil {
		return merr
	}
	return s.hideMeeting(st, caller, m, err)
}

// readable loads the meeting and checks that the caller may view it.
func (s *Service) readable(st *Store, caller authn.Identity, meetingID string) (*Meeting, error) {
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
	return m, nil
}

// GiveawayEntries returns a page of the giveaway's entries, newest first, to anyone who may
// view the meeting. Names and contacts are masked except on the caller's own entry — the
// host sees the same masked list as everyone.
func (s *Service) GiveawayEntries(ctx context.Context, caller authn.Identity, meetingID, giveawayID string, page, size int) (EntryPage, error) {
	page = max(page, 1)
	if size < 1 {
		size = DefaultEntryPage
	}
	size = min(size, MaxEntryPage)
	st := s.store.with(ctx)
	if _, err := s.readable(st, caller, meetingID); err != nil {
		return EntryPage{}, err
	}
	if _, err := st.giveaway(meetingID, giveawayID); err != nil {
		return EntryPage{}, err
	}
	es, total, err := st.entriesPage(giveawayID, page, size)
	if err != nil {
		return EntryPage{}, fmt.Errorf("list entries: %w", err)
	}
	items := make([]EntryView, 0, len(es))
	for i := range es {
		items = append(items, es[i].view(caller.UserID != "" && es[i].UserID == caller.UserID))
	}
	return EntryPage{Items: items, Page: page, PageSize: size, Total: total}, nil
}

// CloseGiveaway ends the entry window now; only the host or a co-host may. Closing freezes
// the entry list: the weights are fixed and entry_list_hash is published.
func (s *Service) CloseGiveaway(ctx context.Context, caller authn.Identity, meetingID, giveawayID string) (GiveawayView, error) {
	var (
		evs events
		v   GiveawayView
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs = nil
		g, err := s.lockForModerator(tx, caller, meetingID, giveawayID)
		if err != nil {
			return err
		}
		if g.Status != GiveawayOpen {
			return ErrEntriesClosed.WithMessage("the giveaway is closed already")
		}
		if evs, err = s.closeLocked(tx, g, s.clock()); err != nil {
			return err
		}
		v = *evs[0].Giveaway
		return nil
	})
	if err != nil {
		return GiveawayView{}, err
	}
	s.publish(ctx, evs)
	return v, nil
}

// closeLocked closes a locked open giveaway at now (at its window's end when that is
// earlier): bonus weights are computed from the entrants' time in the meeting up to then, and
// the entry list's hash is stored.
func (s *Service) closeLocked(tx *Store, g *Giveaway, now time.Time) (events, error) {
	at := now
	if g.ClosesAt.Before(at) {
		at = g.ClosesAt
	}
	es, err := tx.entriesOf(g.ID)
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	if g.BonusMinutes > 0 && len(es) > 0 {
		ids := make([]string, 0, len(es))
		for _, e := range es {
			ids = append(ids, e.UserID)
		}
		stays, err := tx.staysOf(g.MeetingID, ids)
		if err != nil {
			return nil, fmt.Errorf("read stays: %w", err)
		}
		present := map[string]time.Duration{}
		for _, p := range stays {
			end := at
			if p.LeftAt != nil && p.LeftAt.Before(end) {
				end = *p.LeftAt
			}
			if end.After(p.JoinedAt) {
				present[p.UserID] += end.Sub(p.JoinedAt)
			}
		}
		var bonus []int64
		for i := range es {
			if present[es[i].UserID] >= time.Duration(g.BonusMinutes)*time.Minute {
				bonus = append(bonus, es[i].EntryNumber)
				es[i].Weight = g.BonusWeight
			}
		}
		if err := tx.setEntryWeight(g.ID, bonus, g.BonusWeight); err != nil {
			return nil, fmt.Errorf("set weights: %w", err)
		}
	}
	g.Status, g.ClosedAt, g.EntryListHash, g.UpdatedAt = GiveawayClosed, &at, EntryListHash(g.ID, weighted(es)), s.clock()
	if err := tx.updateGiveaway(g.ID, map[string]any{"status": g.Status, "closed_at": at,
		"entry_list_hash": g.EntryListHash, "updated_at": g.UpdatedAt}); err != nil {
		return nil, fmt.Errorf("close giveaway: %w", err)
	}
	ev := s.event(EventGiveawayClosed, g.MeetingID)
	v := g.view(nil)
	ev.Giveaway = &v
	return events{ev}, nil
}

func weighted(es []GiveawayEntry) []WeightedEntry {
	out := make([]WeightedEntry, 0, len(es))
	for _, e := range es {
		out = append(out, WeightedEntry{EntryNumber: e.EntryNumber, Weight: e.Weight})
	}
	return out
}

// DrawGiveaway draws the winners; only the host or a co-host may, once. An open giveaway is
// closed first. The seed is revealed by the proof from now on.
func (s *Service) DrawGiveaway(ctx context.Context, caller authn.Identity, meetingID, giveawayID string) (DrawView, error) {
	var (
		evs events
		out DrawView
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs = nil
		g, err := s.lockForModerator(tx, caller, meetingID, giveawayID)
		if err != nil {
			return err
		}
		switch g.Status {
		case GiveawayDrawn:
			return ErrAlreadyDrawn
		case GiveawayOpen:
			if g.EntrySeq == 0 {
				return ErrNoEntries
			}
			if evs, err = s.closeLocked(tx, g, s.clock()); err != nil {
				return err
			}
		}
		es, err := tx.entriesOf(g.ID)
		if err != nil {
			return fmt.Errorf("read entries: %w", err)
		}
		if len(es) == 0 {
			return ErrNoEntries
		}
		ev, dv, err := s.drawRound(tx, g, es, caller, 0, g.WinnerCount, "", 0)
		if err != nil {
			return err
		}
		evs, out = append(evs, ev), dv
		return nil
	})
	if err != nil {
		return DrawView{}, err
	}
	s.publish(ctx, evs)
	s.publishGiveaway(ctx, GiveawayBusEvent{Type: BusWinnersDrawn, MeetingID: meetingID, GiveawayID: giveawayID,
		At: s.clock(), Round: out.Round, Winners: winnerNumbers(out.Winners)})
	return out, nil
}

// RerollInput asks for one replacement winner.
type RerollInput struct {
	Reason string
	// Replace is the entry number of the winner being replaced; 0 adds a winner.
	Replace int64
}

// RerollGiveaway draws one more winner among the entries that never won; only the host or a
// co-host may, after the draw. Round k (the k-th reroll) has its own random stream, so it is
// as verifiable as the draw, and its reason is in the draw log.
func (s *Service) RerollGiveaway(ctx context.Context, caller authn.Identity, meetingID, giveawayID string, in RerollInput) (DrawView, error) {
	reason := strings.TrimSpace(in.Reason)
	fields := map[string]string{}
	checkLen(fields, "reason", reason, 1, MaxRerollReason)
	if in.Replace < 0 {
		fields["replace"] = "must be the entry number of a winner"
	}
	if len(fields) > 0 {
		return DrawView{}, apperr.Invalidf(fields)
	}
	var (
		evs events
		out DrawView
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs = nil
		g, err := s.lockForModerator(tx, caller, meetingID, giveawayID)
		if err != nil {
			return err
		}
		if g.Status != GiveawayDrawn {
			return ErrNotDrawn
		}
		ds, err := tx.drawsOf(g.ID)
		if err != nil {
			return err
		}
		current := map[int64]bool{}
		for i := range ds {
			r, err := ds[i].round()
			if err != nil {
				return fmt.Errorf("read draw log: %w", err)
			}
			for _, w := range r.Winners {
				current[w] = true
			}
			if r.Replaced != 0 {
				current[r.Replaced] = false
			}
		}
		if in.Replace != 0 && !current[in.Replace] {
			return apperr.Invalidf(map[string]string{"replace": "must be the entry number of a current winner"})
		}
		es, err := tx.entriesOf(g.ID)
		if err != nil {
			return fmt.Errorf("read entries: %w", err)
		}
		ev, dv, err := s.drawRound(tx, g, es, caller, g.Rounds, 1, reason, in.Replace)
		if err != nil {
			return err
		}
		evs, out = events{ev}, dv
		return nil
	})
	if err != nil {
		return DrawView{}, err
	}
	s.publish(ctx, evs)
	s.publishGiveaway(ctx, GiveawayBusEvent{Type: BusWinnersDrawn, MeetingID: meetingID, GiveawayID: giveawayID,
		At: s.clock(), Round: out.Round, Winners: winnerNumbers(out.Winners), Reason: out.Reason})
	return out, nil
}

// drawRound draws round `round` of a locked giveaway, excluding every earlier winner, and
// writes it to the draw log.
func (s *Service) drawRound(tx *Store, g *Giveaway, es []GiveawayEntry, caller authn.Identity, round, count int, reason string, replaced int64) (Event, DrawView, error) {
	ds, err := tx.drawsOf(g.ID)
	if err != nil {
		return Event{}, DrawView{}, err
	}
	excluded := []int64{}
	ex := map[int64]bool{}
	for i := range ds {
		r, err := ds[i].round()
		if err != nil {
			return Event{}, DrawView{}, fmt.Errorf("read draw log: %w", err)
		}
		for _, w := range r.Winners {
			if !ex[w] {
				ex[w] = true
				excluded = append(excluded, w)
			}
		}
	}
	seed, err := hex.DecodeString(g.Seed)
	if err != nil {
		return Event{}, DrawView{}, fmt.Errorf("giveaway seed: %w", err)
	}
	lh, err := hex.DecodeString(g.EntryListHash)
	if err != nil || len(lh) != sha256.Size {
		return Event{}, DrawView{}, fmt.Errorf("giveaway entry list hash %q: %v", g.EntryListHash, err)
	}
	ws := weighted(es)
	wins := drawWinners(seed, lh, uint32(round), ws, ex, count)
	if len(wins) == 0 {
		return Event{}, DrawView{}, ErrNoEntries
	}
	wj, _ := json.Marshal(ws)
	xj, _ := json.Marshal(excluded)
	nj, _ := json.Marshal(wins)
	now := s.clock()
	d := &GiveawayDraw{ID: newID(), GiveawayID: g.ID, Round: round, Algorithm: g.Algorithm, Seed: g.Seed,
		EntryListHash: g.EntryListHash, Weights: string(wj), Excluded: string(xj), Winners: string(nj),
		Replaced: replaced, Reason: reason, ByUserID: caller.UserID, At: now}
	if err := tx.insertDraw(d); err != nil {
		return Event{}, DrawView{}, fmt.Errorf("store draw: %w", err)
	}
	set := map[string]any{"rounds": round + 1, "updated_at": now}
	if round == 0 {
		set["status"], set["drawn_at"] = GiveawayDrawn, now
		g.Status, g.DrawnAt = GiveawayDrawn, &now
	}
	if err := tx.updateGiveaway(g.ID, set); err != nil {
		return Event{}, DrawView{}, fmt.Errorf("update giveaway: %w", err)
	}
	g.Rounds, g.UpdatedAt = round+1, now
	all, err := s.winnersLocked(tx, g)
	if err != nil {
		return Event{}, DrawView{}, err
	}
	names := map[int64]string{}
	for _, e := range es {
		names[e.EntryNumber] = e.Name
	}
	fresh := make([]WinnerView, 0, len(wins))
	for _, w := range wins {
		fresh = append(fresh, WinnerView{EntryNumber: w, Name: maskName(names[w]), Round: round})
	}
	dv := DrawView{GiveawayID: g.ID, Round: round, Winners: fresh, Reason: reason, Replaced: replaced, Giveaway: g.view(all)}
	ev := s.event(EventGiveawayWinners, g.MeetingID)
	ev.Draw = &dv
	return ev, dv, nil
}

// winnersLocked lists every winner of every round, in order, masked.
func (s *Service) winnersLocked(st *Store, g *Giveaway) ([]WinnerView, error) {
	if g.Rounds == 0 {
		return nil, nil
	}
	ds, err := st.drawsOf(g.ID)
	if err != nil {
		return nil, err
	}
	var (
		rounds   []ProofRound
		numbers  []int64
		replaced = map[int64]bool{}
	)
	for i := range ds {
		r, err := ds[i].round()
		if err != nil {
			return nil, fmt.Errorf("read draw log: %w", err)
		}
		rounds = append(rounds, r)
		numbers = append(numbers, r.Winners...)
		if r.Replaced != 0 {
			replaced[r.Replaced] = true
		}
	}
	es, err := st.entriesByNumber(g.ID, numbers)
	if err != nil {
		return nil, err
	}
	var out []WinnerView
	for _, r := range rounds {
		for _, w := range r.Winners {
			e := es[w]
			out = append(out, WinnerView{EntryNumber: w, Name: maskName(e.Name), Round: r.Round, Replaced: replaced[w]})
		}
	}
	return out, nil
}

func winnerNumbers(ws []WinnerView) []int64 {
	out := make([]int64, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.EntryNumber)
	}
	return out
}

// Giveaway returns one giveaway of a meeting the caller may view.
func (s *Service) Giveaway(ctx context.Context, caller authn.Identity, meetingID, giveawayID string) (GiveawayView, error) {
	st := s.store.with(ctx)
	if _, err := s.readable(st, caller, meetingID); err != nil {
		return GiveawayView{}, err
	}
	g, err := st.giveaway(meetingID, giveawayID)
	if err != nil {
		return GiveawayView{}, err
	}
	ws, err := s.winnersLocked(st, g)
	if err != nil {
		return GiveawayView{}, err
	}
	mine, err := st.entryNumbersOf(caller.UserID, []string{g.ID})
	if err != nil {
		return GiveawayView{}, err
	}
	v := g.view(ws)
	v.MyEntryNumber = mine[g.ID]
	return v, nil
}

// Giveaways lists a meeting's giveaways, newest first (at most MaxPageSize).
func (s *Service) Giveaways(ctx context.Context, caller authn.Identity, meetingID string) ([]GiveawayView, error) {
	st := s.store.with(ctx)
	if _, err := s.readable(st, caller, meetingID); err != nil {
		return nil, err
	}
	gs, err := st.giveawaysOf(meetingID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(gs))
	for i := range gs {
		ids = append(ids, gs[i].ID)
	}
	mine, err := st.entryNumbersOf(caller.UserID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]GiveawayView, 0, len(gs))
	for i := range gs {
		ws, err := s.winnersLocked(st, &gs[i])
		if err != nil {
			return nil, err
		}
		v := gs[i].view(ws)
		v.MyEntryNumber = mine[gs[i].ID]
		out = append(out, v)
	}
	return out, nil
}

// GiveawayProof returns everything needed to recompute a drawn giveaway, to anyone who took
// part in the meeting (and to its creator).
func (s *Service) GiveawayProof(ctx context.Context, caller authn.Identity, meetingID, giveawayID string) (GiveawayProof, error) {
	st := s.store.with(ctx)
	m, err := st.meeting(meetingID)
	if err != nil {
		return GiveawayProof{}, err
	}
	if caller.UserID == "" || m.CreatorID != caller.UserID {
		ids, err := st.participantIDsOf(m.ID, caller.UserID)
		if err != nil {
			return GiveawayProof{}, err
		}
		if len(ids) == 0 {
			if ok, err := s.canView(st, caller, m); err != nil {
				return GiveawayProof{}, err
			} else if !ok {
				return GiveawayProof{}, ErrNotFound
			}
			return GiveawayProof{}, ErrForbidden.WithMessage("only participants may read a giveaway's proof")
		}
	}
	g, err := st.giveaway(meetingID, giveawayID)
	if err != nil {
		return GiveawayProof{}, err
	}
	if g.Status != GiveawayDrawn {
		return GiveawayProof{}, ErrNotDrawn
	}
	ds, err := st.drawsOf(g.ID)
	if err != nil {
		return GiveawayProof{}, err
	}
	p := GiveawayProof{GiveawayID: g.ID, Algorithm: g.Algorithm, Commitment: g.Commitment, Seed: g.Seed,
		EntryListHash: g.EntryListHash, WinnerCount: g.WinnerCount, Rounds: []ProofRound{}}
	for i := range ds {
		r, err := ds[i].round()
		if err != nil {
			return GiveawayProof{}, fmt.Errorf("read draw log: %w", err)
		}
		if i == 0 {
			if err := json.Unmarshal([]byte(ds[i].Weights), &p.Entries); err != nil {
				return GiveawayProof{}, fmt.Errorf("read draw log: %w", err)
			}
		}
		p.Rounds = append(p.Rounds, r)
	}
	return p, nil
}

// lockForModerator locks the giveaway for a change only a host or co-host may make; a caller
// who may not even see it gets the same answer as for a missing one (hideGiveaway).
func (s *Service) lockForModerator(tx *Store, caller authn.Identity, meetingID, giveawayID string) (*Giveaway, error) {
	g, err := tx.lockGiveaway(meetingID, giveawayID)
	if err != nil {
		return nil, s.hideGiveaway(tx, caller, meetingID, err)
	}
	if _, err := moderator(tx, meetingID, caller, RoleHost, RoleCohost); err != nil {
		return nil, s.hideGiveaway(tx, caller, meetingID, err)
	}
	return g, nil
}
