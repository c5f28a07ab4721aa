package rooms

import (
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestBookedMeeting: a booked meeting is created inside the caller's transaction (and vanishes
// with its rollback); its host and invited guest get in without a password, nobody else does.
func TestBookedMeeting(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		host, guest, stranger := user("host"), user("guest"), user("stranger")
		in := BookedInput{HostID: host.UserID, GuestIDs: []string{guest.UserID}, Title: "Session",
			Start: e.clock.Now().Add(time.Hour), DurationMinutes: 60}
		rollback := errors.New("rollback")
		err := e.db.Transaction(func(tx *gorm.DB) error {
			if _, err := e.svc.CreateBookedTx(ctx, tx, in); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		var n int64
		e.db.Model(&Meeting{}).Count(&n)
		if n != 0 {
			t.Fatalf("%d meetings after the rollback", n)
		}
		var m BookedMeeting
		if err := e.db.Transaction(func(tx *gorm.DB) error {
			var err error
			m, err = e.svc.CreateBookedTx(ctx, tx, in)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Get(ctx, guest, m.ID); err != nil {
			t.Fatalf("the guest cannot see it: %v", err)
		}
		_, err = e.svc.Get(ctx, stranger, m.ID)
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.Join(ctx, stranger, m.ID, JoinInput{Password: ""})
		wantErr(t, err, ErrWrongPassword)
		res := e.join(t, host, m.ID)
		if res.Participant.Role != RoleHost {
			t.Fatalf("host joined as %s", res.Participant.Role)
		}
		e.join(t, guest, m.ID)
		sts, err := e.svc.Statuses(ctx, []string{m.ID, "nope"})
		if err != nil || sts[m.ID] != StatusLive || len(sts) != 1 {
			t.Fatalf("statuses %v %v", sts, err)
		}
	})
}
