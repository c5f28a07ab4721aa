package authz

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

var ctx = context.Background()

func TestSeedUpgradesLegacyRolesAndIsIdempotent(t *testing.T) {
	gdb := dbtest.Open(t, testMigrations()...)
	now := time.Now()
	for _, u := range []testUser{{ID: "adm", Email: "a@x", Role: "admin", CreatedAt: now}, {ID: "pl", Email: "p@x", Role: "player", CreatedAt: now}} {
		if err := gdb.Create(&u).Error; err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t, gdb, cachetest.Memory(t))
	if err := f.a.Seed(ctx); err != nil { // a second start
		t.Fatal(err)
	}
	for id, want := range map[string]string{"adm": RoleSuperAdmin, "pl": RolePlayer} {
		eff, err := f.a.Effective(ctx, id)
		if err != nil || len(eff.Roles) != 1 || eff.Roles[0] != want {
			t.Fatalf("%s roles %v, %v; want [%s]", id, eff.Roles, err, want)
		}
	}
	adm := authn.Identity{UserID: "adm", Role: authn.RoleAdmin}
	for _, p := range Permissions {
		if err := f.a.Can(ctx, adm, p.Name, nil); err != nil {
			t.Fatalf("super admin lacks %s: %v", p.Name, err)
		}
	}
	// An admin's edit of a seeded role survives the next start.
	desc := "edited"
	if _, err := f.a.UpdateRole(ctx, adm, RoleContentManager, RoleUpdate{Description: &desc, Permissions: &[]Grant{{AuditRead, ScopeAll}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	r, _ := f.a.store.role(ctx, RoleContentManager)
	if r.Description != "edited" || len(r.Grants) != 1 || r.Grants[0].Permission != AuditRead {
		t.Fatalf("seed overwrote an edited role: %+v", r)
	}
}

// TestSeedGrantsNewPermissions: a release that adds a permission gives it to the existing
// seeded roles the code grants it to, while a grant an admin removed stays removed.
func TestSeedGrantsNewPermissions(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		super := f.user("", RoleSuperAdmin)
		// The admin role loses content:review by an admin's hand.
		var kept []Grant
		for _, g := range seededGrants(RoleAdmin) {
			if g.Permission != ContentReview && g.Permission != OrdersReadAny {
				kept = append(kept, g)
			}
		}
		if _, err := f.a.UpdateRole(ctx, super, RoleAdmin, RoleUpdate{Permissions: &kept}); err != nil {
			t.Fatal(err)
		}
		// The database predates orders:read_any: no such permission, no grant of it.
		if err := f.gdb.Exec("DELETE FROM role_permissions WHERE permission_name = ?", OrdersReadAny).Error; err != nil {
			t.Fatal(err)
		}
		if err := f.gdb.Exec("DELETE FROM permissions WHERE name = ?", OrdersReadAny).Error; err != nil {
			t.Fatal(err)
		}
		if err := f.a.Seed(ctx); err != nil { // the upgraded node starts
			t.Fatal(err)
		}
		r, err := f.a.store.role(ctx, RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		got := map[Permission]Scope{}
		for _, g := range r.Grants {
			got[g.Permission] = g.Scope
		}
		if got[OrdersReadAny] != ScopeAll {
			t.Fatalf("admin did not gain the new permission: %+v", r.Grants)
		}
		if _, ok := got[ContentReview]; ok {
			t.Fatalf("seed gave back a grant an admin removed: %+v", r.Grants)
		}
		if len(got) != len(kept)+1 {
			t.Fatalf("admin grants %+v, want %d", r.Grants, len(kept)+1)
		}
		// Roles the code does not give it to stay without it.
		cm, _ := f.a.store.role(ctx, RoleContentManager)
		for _, g := range cm.Grants {
			if g.Permission == OrdersReadAny {
				t.Fatalf("content manager gained %s", OrdersReadAny)
			}
		}
		if err := f.a.Seed(ctx); err != nil { // and the next start changes nothing
			t.Fatal(err)
		}
		if again, _ := f.a.store.role(ctx, RoleAdmin); len(again.Grants) != len(r.Grants) {
			t.Fatalf("second seed changed admin: %+v", again.Grants)
		}
	})
}

func seededGrants(role string) []Grant {
	for _, r := range seededRoles {
		if r.name == role {
			return r.grants
		}
	}
	return nil
}

func TestCan(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		agentAdmin := f.user("", RoleAgentAdmin)
		child := f.user(agentAdmin.UserID, RoleAgent)
		stranger := f.user("", RolePlayer)
		admin := f.user("", RoleAdmin)
		locked := f.user("", RoleAdmin)
		now := time.Now()
		if err := f.gdb.Table("users").Where("id = ?", locked.UserID).Update("locked_at", &now).Error; err != nil {
			t.Fatal(err)
		}
		target := func(id authn.Identity) *Target {
			tg, err := f.a.TargetUser(ctx, id.UserID)
			if err != nil {
				t.Fatal(err)
			}
			return tg
		}
		for _, tc := range []struct {
			name   string
			who    authn.Identity
			perm   Permission
			target *Target
			want   error
		}{
			{"admin any user", admin, UsersManage, target(stranger), nil},
			{"agent admin own child", agentAdmin, UsersManage, target(child), nil},
			{"agent admin other user", agentAdmin, UsersManage, target(stranger), ErrNotFound},
			{"agent admin holds it at all", agentAdmin, UsersManage, nil, nil},
			{"agent admin lacks roles", agentAdmin, RolesManage, nil, ErrForbidden},
			{"player", stranger, AuditRead, nil, ErrForbidden},
			{"guest", authn.Identity{UserID: "g", Role: authn.RoleGuest}, AuditRead, nil, ErrForbidden},
			{"locked admin", locked, AuditRead, nil, ErrForbidden},
			{"anonymous", authn.Identity{}, AuditRead, nil, errors.New("unauthorized")},
		} {
			err := f.a.Can(ctx, tc.who, tc.perm, tc.target)
			if tc.want == nil && err != nil || tc.want != nil && err == nil {
				t.Errorf("%s: Can = %v, want %v", tc.name, err, tc.want)
			} else if tc.want != nil && tc.want.Error() != "unauthorized" && !errors.Is(err, tc.want) {
				t.Errorf("%s: Can = %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

// TestChangesReachTheOtherNodeAtOnce: node b has a warm snapshot; a grant, a role edit and a
// revoke through node a are visible to b's very next check.
func TestChangesReachTheOtherNodeAtOnce(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		root := f.user("", RoleSuperAdmin)
		bob := f.user("", RolePlayer)
		if err := f.b.Can(ctx, bob, AuditRead, nil); !errors.Is(err, ErrForbidden) {
			t.Fatalf("before: %v", err)
		}
		if _, err := f.a.CreateRole(ctx, root, RoleInput{Name: "reviewer", Permissions: []Grant{{AuditRead, ScopeAll}}}); err != nil {
			t.Fatal(err)
		}
		if err := f.a.GrantRole(ctx, root, bob.UserID, "reviewer"); err != nil {
			t.Fatal(err)
		}
		if err := f.b.Can(ctx, bob, AuditRead, nil); err != nil {
			t.Fatalf("after grant: %v", err)
		}
		if _, err := f.a.UpdateRole(ctx, root, "reviewer", RoleUpdate{Permissions: &[]Grant{{ContentReview, ScopeAll}}}); err != nil {
			t.Fatal(err)
		}
		if err := f.b.Can(ctx, bob, AuditRead, nil); !errors.Is(err, ErrForbidden) {
			t.Fatalf("after role edit: %v", err)
		}
		if err := f.b.Can(ctx, bob, ContentReview, nil); err != nil {
			t.Fatalf("after role edit: %v", err)
		}
		if err := f.a.RevokeRole(ctx, root, bob.UserID, "reviewer"); err != nil {
			t.Fatal(err)
		}
		if err := f.b.Can(ctx, bob, ContentReview, nil); !errors.Is(err, ErrForbidden) {
			t.Fatalf("after revoke: %v", err)
		}
		if err := f.a.SetLocked(ctx, root, bob.UserID, true); err != nil {
			t.Fatal(err)
		}
		if eff, _ := f.b.Effective(ctx, bob.UserID); !eff.Locked {
			t.Fatal("lock not seen by the other node")
		}
	})
}

func TestRoleRules(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		root := f.user("", RoleSuperAdmin)
		if _, err := f.a.CreateRole(ctx, root, RoleInput{Name: "role_admin", Permissions: []Grant{{RolesManage, ScopeAll}, {AuditRead, ScopeAll}}}); err != nil {
			t.Fatal(err)
		}
		ra := f.user("", "role_admin")
		if _, err := f.a.CreateRole(ctx, ra, RoleInput{Name: "too_much", Permissions: []Grant{{UsersManage, ScopeAll}}}); !errors.Is(err, ErrGrantBeyondOwn) {
			t.Fatalf("granting beyond own: %v", err)
		}
		if _, err := f.a.CreateRole(ctx, ra, RoleInput{Name: "reader", Permissions: []Grant{{AuditRead, ScopeAll}}}); err != nil {
			t.Fatalf("granting own: %v", err)
		}
		if _, err := f.a.CreateRole(ctx, ra, RoleInput{Name: "reader"}); !errors.Is(err, ErrRoleExists) {
			t.Fatalf("duplicate: %v", err)
		}
		if _, err := f.a.CreateRole(ctx, ra, RoleInput{Name: "x", Permissions: []Grant{{"no:such", ScopeAll}}}); err == nil {
			t.Fatal("bad input accepted")
		}
		other := f.user("", RolePlayer)
		if err := f.a.GrantRole(ctx, ra, other.UserID, RoleAdmin); !errors.Is(err, ErrGrantBeyondOwn) {
			t.Fatalf("granting admin without its permissions: %v", err)
		}
		if err := f.a.GrantRole(ctx, ra, other.UserID, "reader"); err != nil {
			t.Fatal(err)
		}
		if err := f.a.DeleteRole(ctx, ra, "reader"); !errors.Is(err, ErrRoleAssigned) {
			t.Fatalf("delete while assigned: %v", err)
		}
		if err := f.a.RevokeRole(ctx, ra, other.UserID, "reader"); err != nil {
			t.Fatal(err)
		}
		if err := f.a.DeleteRole(ctx, ra, "reader"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if err := f.a.DeleteRole(ctx, root, RoleSuperAdmin); !errors.Is(err, ErrSystemRole) {
			t.Fatalf("delete super_admin: %v", err)
		}
		if err := f.a.RevokeRole(ctx, root, root.UserID, RoleSuperAdmin); !errors.Is(err, ErrLastSuperAdmin) {
			t.Fatalf("revoke last super admin: %v", err)
		}
		if err := f.a.SetLocked(ctx, root, "no-such-user", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("lock unknown: %v", err)
		}
		page, err := f.a.Users(ctx, root, UserQuery{Q: "U", Role: "role_admin", Page: 1, PageSize: 10})
		if err != nil || page.Total != 1 || page.Items[0].ID != ra.UserID {
			t.Fatalf("users by role: %+v, %v", page, err)
		}
		if page, err := f.a.Users(ctx, root, UserQuery{Q: "50%_!", Page: 1, PageSize: 10}); err != nil || page.Total != 0 {
			t.Fatalf("users with LIKE metacharacters: %+v, %v", page, err)
		}
	})
}

// TestLastSuperAdminUnderRace: two super admins revoke each other at once; one must stay.
func TestLastSuperAdminUnderRace(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		for round := 0; round < 5; round++ {
			x, y := f.user("", RoleSuperAdmin), f.user("", RoleSuperAdmin)
			// Leave only x and y holding super_admin.
			if err := f.gdb.Exec("DELETE FROM user_roles WHERE role_name = ? AND user_id NOT IN (?, ?)", RoleSuperAdmin, x.UserID, y.UserID).Error; err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, pair := range [][2]authn.Identity{{x, y}, {y, x}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = f.a.store.revoke(ctx, pair[1].UserID, RoleSuperAdmin)
				}()
			}
			wg.Wait()
			var n int64
			f.gdb.Table("user_roles").Where("role_name = ?", RoleSuperAdmin).Count(&n)
			if n != 1 {
				t.Fatalf("round %d: %d super admins left (errors %v)", round, n, errs)
			}
		}
	})
}

// TestConcurrentSeeds: nodes of a cluster start together and all seed; none may fail.
func TestConcurrentSeeds(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		for i := 0; i < 20; i++ {
			if err := f.gdb.Create(&testUser{ID: fmt.Sprintf("seed-%d-%d", time.Now().UnixNano(), i), Email: "s@x", Role: "streamer", CreatedAt: time.Now()}).Error; err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = f.a.Seed(ctx) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var n int64
		f.gdb.Table("user_roles").Where("role_name = ?", RoleStreamer).Count(&n)
		if n != 20 {
			t.Fatalf("%d streamers, want 20", n)
		}
	})
}
