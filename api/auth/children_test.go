package auth

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
)

// TestChildren: accounts made for someone else have their parent, the streamer role, and no
// password until the mailed set-password link is used; a taken email fails the whole batch;
// CheckChild applies registration's rules.
func TestChildren(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		ctx := context.Background()
		parent := e.register("agency@example.com", "password-agency", "Agency")
		in := []ChildInput{{Email: "kid1@example.com", DisplayName: "Kid 1"}, {Email: "kid2@example.com", DisplayName: "Kid 2"}}
		var mail func(context.Context)
		err := e.svc.store.db.Transaction(func(tx *gorm.DB) error {
			users, send, err := e.svc.CreateChildrenInTx(ctx, tx, parent.ID, authn.RoleStreamer, in)
			if err == nil && (len(users) != 2 || *users[0].ParentID != parent.ID || users[1].Role != authn.RoleStreamer) {
				t.Errorf("children %+v", users)
			}
			mail = send
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := e.mailCount("kid1@example.com"); n != 0 {
			t.Fatalf("mailed before the caller sent: %d", n)
		}
		mail(ctx)
		e.post("/api/v1/auth/login", map[string]string{"email": "kid1@example.com", "password": "!"}).
			want(t, http.StatusUnauthorized, "invalid_credentials")
		tok := e.mailedToken("kid1@example.com", "choose a password")
		e.post("/api/v1/auth/password/reset", map[string]string{"token": tok, "password": "kid-password-1"}).want(t, http.StatusNoContent, "")
		if toks := e.login("kid1@example.com", "kid-password-1"); toks.User.Role != authn.RoleStreamer {
			t.Fatalf("kid logged in as %s", toks.User.Role)
		}

		kids, total, err := e.svc.Children(ctx, parent.ID, "KID 2", 1, 10)
		if err != nil || total != 1 || kids[0].Email != "kid2@example.com" {
			t.Fatalf("children: %+v %d %v", kids, total, err)
		}
		taken, err := e.svc.TakenEmails(ctx, []string{"kid2@example.com", "free@example.com"})
		if err != nil || !taken["kid2@example.com"] || taken["free@example.com"] {
			t.Fatalf("taken %v %v", taken, err)
		}
		err = e.svc.store.db.Transaction(func(tx *gorm.DB) error {
			_, _, err := e.svc.CreateChildrenInTx(ctx, tx, parent.ID, authn.RoleStreamer,
				[]ChildInput{{Email: "kid3@example.com", DisplayName: "Kid 3"}, {Email: "kid2@example.com", DisplayName: "Again"}})
			return err
		})
		if !errors.Is(err, ErrEmailTaken) {
			t.Fatalf("taken email: %v", err)
		}
		if _, total, _ := e.svc.Children(ctx, parent.ID, "", 1, 10); total != 2 {
			t.Fatalf("%d children after a failed batch", total)
		}
	})
	for _, c := range []struct {
		in     ChildInput
		fields []string
	}{
		{ChildInput{" Ana@Example.com ", " Ana "}, nil},
		{ChildInput{"not-an-email", "Ana"}, []string{"email"}},
		{ChildInput{"", ""}, []string{"email", "display_name"}},
	} {
		out, f := CheckChild(c.in)
		if len(f) != len(c.fields) {
			t.Fatalf("%+v: %v", c.in, f)
		}
		for _, k := range c.fields {
			if _, ok := f[k]; !ok {
				t.Fatalf("%+v: %v", c.in, f)
			}
		}
		if c.fields == nil && (out.Email != "ana@example.com" || out.DisplayName != "Ana") {
			t.Fatalf("normalized %+v", out)
		}
	}
}
