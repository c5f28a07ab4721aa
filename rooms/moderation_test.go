package rooms

import (
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
)

func TestRolesKickTransfer(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, carol, dave := user("alice"), user("bob"), user("carol"), user("dave")
		m := e.create(t, alice, nil)
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			e.join(t, user(u), m.ID)
		}
		_, err := e.svc.SetRole(ctx, bob, m.ID, ByUser(carol.UserID), RoleCohost)
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.SetRole(ctx, alice, m.ID, ByUser(carol.UserID), RoleHost)
		wantErr(t, err, apperr.ErrValidation)
		_, err = e.svc.SetRole(ctx, alice, m.ID, ByUser("u-nobody"), RoleCohost)
		wantErr(t, err, ErrParticipantNotFound)
		_, err = e.svc.SetRole(ctx, alice, m.ID, ByUser(alice.UserID), RoleCohost)
		wantErr(t, err, apperr.ErrValidation)
		_, err = e.svc.SetRole(ctx, alice, "nope", ByUser(bob.UserID), RoleCohost)
		wantErr(t, err, ErrNotFound)

		pv := must[ParticipantView](t)(e.svc.SetRole(ctx, alice, m.ID, ByUser(bob.UserID), RoleCohost))
		if pv.Role != RoleCohost || pv.UserID != bob.UserID {
			t.Fatalf("set role = %+v", pv)
		}
		if evs := e.EventsOf(EventRoleChanged); len(evs) != 1 || evs[0].ParticipantID != pv.ParticipantID || evs[0].Role != RoleCohost {
			t.Fatalf("role events = %+v", evs)
		}
		// A co-host may not change roles, but may kick a plain participant.
		_, err = e.svc.SetRole(ctx, bob, m.ID, ByUser(carol.UserID), RoleCohost)
		wantErr(t, err, ErrForbidden)
		wantErr(t, e.svc.Kick(ctx, carol, m.ID, ByUser(dave.UserID)), ErrForbidden)
		wantErr(t, e.svc.Kick(ctx, bob, m.ID, ByUser(alice.UserID)), ErrForbidden)
		wantErr(t, e.svc.Kick(ctx, bob, m.ID, ByUser(bob.UserID)), ErrForbidden)
		wantErr(t, e.svc.Kick(ctx, bob, m.ID, ByUser("u-nobody")), ErrParticipantNotFound)
		if err := e.svc.Kick(ctx, bob, m.ID, ByUser(dave.UserID)); err != nil {
			t.Fatal(err)
		}
		left := e.EventsOf(EventParticipantLeft)
		if len(left) != 1 || left[0].Reason != ReasonKicked {
			t.Fatalf("left events = %+v", left)
		}
		_, err = e.svc.Join(ctx, dave, m.ID, JoinInput{})
		wantErr(t, err, ErrKicked)
		_, err = e.svc.Join(ctx, dave, m.ID, JoinInput{Attach: true})
		wantErr(t, err, ErrKicked)

		// Participant-id targets work as user-id ones do.
		cp := must[ParticipantView](t)(e.svc.ActiveParticipant(ctx, m.ID, carol.UserID))
		must[ParticipantView](t)(e.svc.SetRole(ctx, alice, m.ID, ByParticipant(cp.ParticipantID), RoleCohost))
		must[ParticipantView](t)(e.svc.SetRole(ctx, alice, m.ID, ByParticipant(cp.ParticipantID), RoleParticipant))
		_, err = e.svc.SetRole(ctx, alice, m.ID, ByParticipant("nope"), RoleCohost)
		wantErr(t, err, ErrParticipantNotFound)

		// Transfer: host only; the old host becomes co-host; recorded.
		_, err = e.svc.TransferHost(ctx, bob, m.ID, ByUser(carol.UserID))
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.TransferHost(ctx, alice, m.ID, ByUser(alice.UserID))
		wantErr(t, err, apperr.ErrValidation)
		_, err = e.svc.TransferHost(ctx, alice, m.ID, ByUser(dave.UserID))
		wantErr(t, err, ErrParticipantNotFound)
		nh := must[ParticipantView](t)(e.svc.TransferHost(ctx, alice, m.ID, ByParticipant(cp.ParticipantID)))
		if nh.Role != RoleHost || roleOf(t, e, m.ID, alice.UserID) != RoleCohost {
			t.Fatalf("after transfer: carol %s, alice %s", nh.Role, roleOf(t, e, m.ID, alice.UserID))
		}
		hs, _ := e.handovers(m.ID)
		if len(hs) != 1 || hs[0].Reason != "transfer" || hs[0].ToUserID != carol.UserID {
			t.Fatalf("handovers = %+v", hs)
		}
		// Only one host at a time; the creator rejoining takes the role back.
		if err := e.svc.Leave(ctx, alice, m.ID); err != nil {
			t.Fatal(err)
		}
		if r := e.join(t, alice, m.ID).Participant.Role; r != RoleHost {
			t.Fatalf("creator rejoined as %s", r)
		}
		hosts := 0
		for _, p := range must[[]ParticipantView](t)(e.svc.Participants(ctx, alice, m.ID)) {
			if p.Role == RoleHost {
				hosts++
			}
		}
		if hosts != 1 || roleOf(t, e, m.ID, carol.UserID) != RoleCohost {
			t.Fatalf("hosts = %d, carol = %s", hosts, roleOf(t, e, m.ID, carol.UserID))
		}
	})
}

func TestSetMedia(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, carol := user("alice"), user("bob"), user("carol")
		m := e.create(t, alice, nil)
		e.join(t, alice, m.ID)
		bp := e.join(t, bob, m.ID).Participant
		cp := e.join(t, carol, m.ID).Participant
		_, err := e.svc.SetMedia(ctx, user("eve"), m.ID, "", SourceMicrophone, false)
		wantErr(t, err, ErrNotInRoom)
		_, err = e.svc.SetMedia(ctx, bob, m.ID, "", "radio", false)
		wantErr(t, err, apperr.ErrValidation)

		for _, src := range []string{SourceMicrophone, SourceCamera, SourceScreen} {
			must[bool](t)(e.svc.SetPublished(ctx, m.ID, bp.ParticipantID, src, true))
			c := must[MediaChange](t)(e.svc.SetMedia(ctx, bob, m.ID, "", src, false))
			if c.ParticipantID != bp.ParticipantID || c.Muted || c.By != "" {
				t.Fatalf("change = %+v", c)
			}
		}
		must[bool](t)(e.svc.SetPublished(ctx, m.ID, cp.ParticipantID, SourceMicrophone, true))
		must[MediaChange](t)(e.svc.SetMedia(ctx, carol, m.ID, cp.ParticipantID, SourceMicrophone, false))
		p := must[ParticipantView](t)(e.svc.ParticipantByID(ctx, m.ID, bp.ParticipantID))
		if p.Media != (MediaView{Microphone: true, Camera: true, Screen: true}) {
			t.Fatalf("media = %+v", p.Media)
		}
		// A plain participant can't mute others; a host can mute but not unmute them.
		_, err = e.svc.SetMedia(ctx, carol, m.ID, bp.ParticipantID, SourceMicrophone, true)
		wantErr(t, err, ErrForbidden)
		c := must[MediaChange](t)(e.svc.SetMedia(ctx, alice, m.ID, bp.ParticipantID, SourceCamera, true))
		if c.By == "" || !c.Muted || c.ParticipantID != bp.ParticipantID {
			t.Fatalf("host mute = %+v", c)
		}
		_, err = e.svc.SetMedia(ctx, alice, m.ID, bp.ParticipantID, SourceCamera, false)
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.SetMedia(ctx, alice, m.ID, "nope", SourceCamera, true)
		wantErr(t, err, ErrParticipantNotFound)

		changes := must[[]MediaChange](t)(e.svc.MuteAll(ctx, alice, m.ID, ""))
		if len(changes) != 2 {
			t.Fatalf("mute all = %+v", changes)
		}
		_, err = e.svc.MuteAll(ctx, carol, m.ID, "")
		wantErr(t, err, ErrForbidden)
		p = must[ParticipantView](t)(e.svc.ParticipantByID(ctx, m.ID, bp.ParticipantID))
		if p.Media != (MediaView{Screen: true}) {
			t.Fatalf("media = %+v", p.Media)
		}
		// 4 publications, 3 unmutes by bob, carol's unmute, the host's mute, mute all's 2.
		if n := len(e.EventsOf(EventMediaState)); n != 11 {
			t.Fatalf("media events = %d", n)
		}
	})
}

func TestAttachReplaceDisconnect(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob := user("alice"), user("bob")
		m := e.create(t, alice, func(in *CreateInput) { in.Password = "pw" })
		e.join(t, alice, m.ID)
		first := must[JoinResult](t)(e.svc.Join(ctx, bob, m.ID, JoinInput{Password: "pw"}))
		// Attach after a REST join returns the same participant, without the password.
		att := must[JoinResult](t)(e.svc.Join(ctx, bob, m.ID, JoinInput{Attach: true}))
		if !att.Attached || att.Participant.ParticipantID != first.Participant.ParticipantID {
			t.Fatalf("attach = %+v", att)
		}
		if n := len(e.EventsOf(EventParticipantJoined)); n != 2 {
			t.Fatalf("joined events = %d", n)
		}
		// Attach without a participant is a full join (password and all).
		_, err := e.svc.Join(ctx, user("carol"), m.ID, JoinInput{Attach: true})
		wantErr(t, err, ErrWrongPassword)

		// Replace: the old one leaves (disconnected), the new one keeps its role.
		must[ParticipantView](t)(e.svc.SetRole(ctx, alice, m.ID, ByUser(bob.UserID), RoleCohost))
		rep := must[JoinResult](t)(e.svc.Join(ctx, bob, m.ID, JoinInput{Replace: true}))
		if rep.Participant.ParticipantID == first.Participant.ParticipantID || rep.Participant.Role != RoleCohost {
			t.Fatalf("replace = %+v", rep.Participant)
		}
		left := e.EventsOf(EventParticipantLeft)
		if len(left) != 1 || left[0].ParticipantID != first.Participant.ParticipantID || left[0].Reason != ReasonDisconnected {
			t.Fatalf("left = %+v", left)
		}
		// Disconnect hands the host role over and ends the meeting when nobody is left.
		ap := must[ParticipantView](t)(e.svc.ActiveParticipant(ctx, m.ID, alice.UserID))
		if err := e.svc.Disconnect(ctx, m.ID, ap.ParticipantID); err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.svc.Disconnect(ctx, m.ID, ap.ParticipantID), ErrNotInRoom)
		wantErr(t, e.svc.Disconnect(ctx, m.ID, "nope"), ErrParticipantNotFound)
		if r := roleOf(t, e, m.ID, bob.UserID); r != RoleHost {
			t.Fatalf("bob = %s", r)
		}
		if err := e.svc.Disconnect(ctx, m.ID, rep.Participant.ParticipantID); err != nil {
			t.Fatal(err)
		}
		if got := e.meeting(t, m.ID); got.Status != StatusEnded || got.EndReason != ReasonLastLeft {
			t.Fatalf("meeting = %+v", got)
		}
	})
}

func TestSweeperEndsExpiredMeetings(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice := user("alice")
		start := e.clock.Now()
		live := e.create(t, alice, func(in *CreateInput) { in.StartTime = start; in.DurationMinutes = 30 })
		e.join(t, alice, live.ID)
		longer := e.create(t, alice, func(in *CreateInput) { in.StartTime = start; in.DurationMinutes = 120 })
		e.join(t, alice, longer.ID)
		sched := e.create(t, alice, func(in *CreateInput) { in.StartTime = start; in.DurationMinutes = 30 })

		e.clock.Advance(30*time.Minute + 15*time.Minute) // exactly at end + grace: not yet
		if n := must[int](t)(e.svc.Sweep(ctx)); n != 0 {
			t.Fatalf("swept %d too early", n)
		}
		e.clock.Advance(time.Second)
		if n := must[int](t)(e.svc.Sweep(ctx)); n != 1 {
			t.Fatalf("swept %d, want 1", n)
		}
		got := e.meeting(t, live.ID)
		if got.Status != StatusEnded || got.EndReason != ReasonExpired {
			t.Fatalf("expired meeting = %+v", got)
		}
		if p := e.participants(t, live.ID); p[0].Active() {
			t.Fatal("participant still active")
		}
		if e.meeting(t, longer.ID).Status != StatusLive || e.meeting(t, sched.ID).Status != StatusScheduled {
			t.Fatal("swept the wrong meeting")
		}
		if evs := e.EventsOf(EventMeetingEnded); len(evs) != 1 || evs[0].Reason != ReasonExpired || evs[0].MeetingID != live.ID {
			t.Fatalf("events = %+v", evs)
		}

		// Start runs a sweep at once and then every interval; Close stops it.
		e.clock.Advance(3 * time.Hour)
		e.svc.Start()
		e.svc.Start()
		deadline := time.Now().Add(10 * time.Second)
		for e.meeting(t, longer.ID).Status != StatusEnded {
			if time.Now().After(deadline) {
				t.Fatal("sweeper did not end the meeting")
			}
			time.Sleep(10 * time.Millisecond)
		}
		e.svc.Close()
		e.svc.Close()
	})
}

// A source's shown state is "published and not muted", whatever order publication and mutes
// come in; a late joiner sees it without any media_control.
func TestMediaFlagsFollowPublication(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, carol := user("alice"), user("bob"), user("carol")
		m := e.create(t, alice, nil)
		e.join(t, alice, m.ID)
		bp := e.join(t, bob, m.ID).Participant
		all := MediaView{Microphone: true, Camera: true, Screen: true}
		for _, src := range []string{SourceMicrophone, SourceCamera, SourceScreen} {
			if muted := must[bool](t)(e.svc.SetPublished(ctx, m.ID, bp.ParticipantID, src, true)); muted {
				t.Fatalf("%s reported muted", src)
			}
		}
		// Publishing again changes nothing and publishes nothing.
		must[bool](t)(e.svc.SetPublished(ctx, m.ID, bp.ParticipantID, SourceCamera, true))
		evs := e.EventsOf(EventMediaState)
		if len(evs) != 3 {
			t.Fatalf("media events = %d, want 3", len(evs))
		}
		for _, ev := range evs {
			if md := ev.Media; md == nil || md.Muted || !md.Publication || md.By != "" {
				t.Fatalf("publication event = %+v", ev.Media)
			}
		}
		late := e.join(t, carol, m.ID)
		mediaOf := func(ps []ParticipantView) MediaView {
			for _, p := range ps {
				if p.ParticipantID == bp.ParticipantID {
					return p.Media
				}
			}
			t.Fatal("bob is not listed")
			return MediaView{}
		}
		if got := mediaOf(late.Participants); got != all {
			t.Fatalf("late joiner sees %+v, want %+v", got, all)
		}

		// Muted by the host: off, and reported muted when published again.
		must[MediaChange](t)(e.svc.SetMedia(ctx, alice, m.ID, bp.ParticipantID, SourceMicrophone, true))
		must[bool](t)(e.svc.SetPublished(ctx, m.ID, bp.ParticipantID, SourceMicrophone, false))
		if muted := must[bool](t)(e.svc.SetPublished(ctx, m.ID, bp.ParticipantID, SourceMicrophone, true)); !muted {
			t.Fatal("a muted microphone published again is not reported muted")
		}
		// Unpublished: off, even though not muted; an unmute of an unpublished source stays off.
		must[bool](t)(e.svc.SetPublished(ctx, m.ID, bp.ParticipantID, SourceScreen, false))
		must[MediaChange](t)(e.svc.SetMedia(ctx, bob, m.ID, "", SourceScreen, false))
		ps := must[[]ParticipantView](t)(e.svc.Participants(ctx, carol, m.ID))
		if got, want := mediaOf(ps), (MediaView{Camera: true}); got != want {
			t.Fatalf("media = %+v, want %+v", got, want)
		}
		// The owner unmutes: on again.
		must[MediaChange](t)(e.svc.SetMedia(ctx, bob, m.ID, "", SourceMicrophone, false))
		ps = must[[]ParticipantView](t)(e.svc.Participants(ctx, carol, m.ID))
		if got, want := mediaOf(ps), (MediaView{Microphone: true, Camera: true}); got != want {
			t.Fatalf("media = %+v, want %+v", got, want)
		}

		// A participant that left is left as it is; a bad source is refused.
		if err := e.svc.Leave(ctx, bob, m.ID); err != nil {
			t.Fatal(err)
		}
		n := len(e.EventsOf(EventMediaState))
		must[bool](t)(e.svc.SetPublished(ctx, m.ID, bp.ParticipantID, SourceCamera, false))
		if len(e.EventsOf(EventMediaState)) != n {
			t.Fatal("a left participant's unpublication was published")
		}
		_, err := e.svc.SetPublished(ctx, m.ID, bp.ParticipantID, "radio", true)
		wantErr(t, err, apperr.ErrValidation)
	})
}
