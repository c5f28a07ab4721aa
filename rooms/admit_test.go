package rooms

import (
	"testing"

	"github.com/onstagehq/onstage/internal/authn"
)

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{newID(), true},
		{"0190b7c4-5f1e-7a3b-9c2d-4e5f6a7b8c9d", true},
		{"0190B7C4-5F1E-7A3B-9C2D-4E5F6A7B8C9D", true},
		{"", false},
		{"nope", false},
		{"*", false},
		{">", false},
		{"0190b7c4-5f1e-7a3b-9c2d-4e5f6a7b8c9*", false},
		{"0190b7c4.5f1e-7a3b-9c2d-4e5f6a7b8c9d", false},
		{"0190b7c45f1e7a3b9c2d4e5f6a7b8c9d", false},
		{"urn:uuid:0190b7c4-5f1e-7a3b-9c2d-4e5f", false},
		{"{0190b7c4-5f1e-7a3b-9c2d-4e5f6a7b8c9}", false},
	} {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// Admit refuses what Join would refuse, in Join's order, without joining; its admission spares
// Join the password check only while the password is unchanged.
func TestAdmit(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, carol := user("alice"), user("bob"), user("carol")
		open := e.create(t, alice, nil)
		private := e.create(t, alice, func(in *CreateInput) { in.Password = "pw"; in.MaxParticipants = intp(2) })
		e.join(t, alice, open.ID)
		e.join(t, bob, open.ID)
		if err := e.svc.Kick(ctx, alice, open.ID, ByUser(bob.UserID)); err != nil {
			t.Fatal(err)
		}
		ended := e.create(t, alice, nil)
		e.join(t, alice, ended.ID)
		must[MeetingView](t)(e.svc.End(ctx, alice, ended.ID))

		for _, tt := range []struct {
			name    string
			who     authn.Identity
			meeting string
			in      JoinInput
			want    error
		}{
			{"wildcard id", carol, "onstage.*", JoinInput{}, ErrNotFound},
			{"unknown id", carol, newID(), JoinInput{}, ErrNotFound},
			{"guest in a private meeting", guest("g"), private.ID, JoinInput{Password: "pw"}, ErrGuestsNotAllowed},
			{"ended", carol, ended.ID, JoinInput{}, ErrMeetingEnded},
			{"kicked", bob, open.ID, JoinInput{}, ErrKicked},
			{"no password", carol, private.ID, JoinInput{}, ErrWrongPassword},
			{"wrong password", carol, private.ID, JoinInput{Password: "x"}, ErrWrongPassword},
			{"ok", carol, private.ID, JoinInput{Password: "pw"}, nil},
			{"creator needs no password", alice, private.ID, JoinInput{}, nil},
		} {
			_, err := e.svc.Admit(ctx, tt.who, tt.meeting, tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				continue
			}
			wantErr(t, err, tt.want)
		}

		// The admission spares Join the password while it is unchanged.
		adm := must[Admission](t)(e.svc.Admit(ctx, carol, private.ID, JoinInput{Password: "pw"}))
		if _, err := e.svc.Join(ctx, bob, private.ID, JoinInput{Admission: adm}); err == nil {
			t.Fatal("another user's admission was accepted")
		}
		newPW := "pw2"
		must[MeetingView](t)(e.svc.Update(ctx, alice, private.ID, UpdateInput{Password: &newPW}))
		_, err := e.svc.Join(ctx, carol, private.ID, JoinInput{Admission: adm})
		wantErr(t, err, ErrWrongPassword)
		adm = must[Admission](t)(e.svc.Admit(ctx, carol, private.ID, JoinInput{Password: newPW}))
		must[JoinResult](t)(e.svc.Join(ctx, carol, private.ID, JoinInput{Admission: adm}))

		// Full: carol and alice hold both seats of the private meeting.
		e.join(t, alice, private.ID)
		_, err = e.svc.Admit(ctx, user("dave"), private.ID, JoinInput{Password: newPW})
		wantErr(t, err, ErrMeetingFull)
		// Someone already in it is no extra seat, and needs no password to attach.
		must[Admission](t)(e.svc.Admit(ctx, carol, private.ID, JoinInput{Attach: true}))
	})
}
