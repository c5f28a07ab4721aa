package authz

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// BenchmarkCan answers Can for random users of a database holding 100k users and 10k roles
// (each role 3 permissions, each user 2 roles): "warm" from this process's snapshot after a
// version check in the in-process cache, "warm-redis" with the versions in Redis (a cluster:
// two GETs per check), "cold" with the snapshot invalidated each time (one database read).
func BenchmarkCan(b *testing.B) {
	const users, roles = 100_000, 10_000
	gdb := dbtest.Open(b, testMigrations()...)
	c := cachetest.Memory(b)
	svc := NewService(ServiceParams{Store: NewStore(gdb), Cache: c})
	if err := svc.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	rr := make([]roleRow, roles)
	var rp []rolePermissionRow
	for i := range rr {
		rr[i] = roleRow{Name: fmt.Sprintf("r%05d", i), CreatedAt: now, UpdatedAt: now}
		for _, j := range rng.Perm(len(Permissions))[:3] {
			rp = append(rp, rolePermissionRow{RoleName: rr[i].Name, PermissionName: string(Permissions[j].Name), Scope: string(ScopeAll)})
		}
	}
	uu := make([]testUser, users)
	var ur []userRoleRow
	for i := range uu {
		uu[i] = testUser{ID: fmt.Sprintf("user-%06d", i), Email: fmt.Sprintf("u%d@x", i), Role: "player", CreatedAt: now}
		a, z := rng.IntN(roles), rng.IntN(roles)
		if z == a {
			z = (a + 1) % roles
		}
		ur = append(ur, userRoleRow{UserID: uu[i].ID, RoleName: rr[a].Name, CreatedAt: now},
			userRoleRow{UserID: uu[i].ID, RoleName: rr[z].Name, CreatedAt: now})
	}
	for _, batch := range []any{&rr, &rp, &uu, &ur} {
		if err := gdb.CreateInBatches(batch, 500).Error; err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]authn.Identity, users)
	for i := range ids {
		ids[i] = authn.Identity{UserID: uu[i].ID, Role: authn.RolePlayer}
	}
	b.Run("warm", func(b *testing.B) {
		for i := range ids { // every snapshot loaded once
			_ = svc.Can(ctx, ids[i], AuditRead, nil)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_ = svc.Can(ctx, ids[i%users], AuditRead, nil)
		}
	})
	b.Run("warm-redis", func(b *testing.B) {
		if os.Getenv(cachetest.RedisEnv) == "" {
			b.Skipf("%s not set", cachetest.RedisEnv)
		}
		rs := NewService(ServiceParams{Store: NewStore(gdb), Cache: cachetest.Redis(b)})
		for i := 0; i < 1000; i++ {
			_ = rs.Can(ctx, ids[i], AuditRead, nil)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_ = rs.Can(ctx, ids[i%1000], AuditRead, nil)
		}
	})
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			id := ids[rng.IntN(users)]
			b.StopTimer()
			if err := svc.Changed(ctx, id.UserID); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			_ = svc.Can(ctx, id, AuditRead, nil)
		}
	})
}
