package ads

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/internal/mail"
	"github.com/onstagehq/onstage/internal/payments"
)

// clock is a settable clock shared by the services of a fixture.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is one database and cache with the ads service and two placers over them: two
// nodes of a cluster.
type fixture struct {
	t      testing.TB
	gdb    *gorm.DB
	clock  *clock
	users  *auth.Service
	outbox *mail.Outbox
	az     *authz.Service
	svc    *Service
	a, b   *Placer
}

func migrations() []db.Migration {
	return append(append(append(auth.Migrations(), mail.Migrations()...), authz.Migrations()...), Migrations()...)
}

// backends runs fn on SQLite with the in-process cache, on MySQL, and on PostgreSQL with Redis,
// when the test environment names them.
func backends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite+memory", func(t *testing.T) { fn(t, newFixture(t, dbtest.Open(t, migrations()...), cachetest.Memory(t))) })
	t.Run("postgres+redis", func(t *testing.T) {
		gdb := dbtest.Postgres(t, migrations()...)
		fn(t, newFixture(t, gdb, cachetest.Redis(t)))
	})
	t.Run("mysql+memory", func(t *testing.T) { fn(t, newFixture(t, dbtest.MySQL(t, migrations()...), cachetest.Memory(t))) })
}

func newFixture(t testing.TB, gdb *gorm.DB, c cache.Cache) *fixture {
	ctx := context.Background()
	f := &fixture{t: t, gdb: gdb, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}}
	f.az = authz.NewService(authz.ServiceParams{Store: authz.NewStore(gdb), Cache: c})
	if err := f.az.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	f.outbox = mail.NewOutbox(gdb, nil)
	f.users = auth.NewService(auth.ServiceParams{Store: auth.NewStore(gdb), Cache: c, Mailer: f.outbox, Authz: f.az,
		PublicURL: "http://onstage.test", Log: slog.New(slog.DiscardHandler), Now: f.clock.Now, BcryptCost: bcrypt.MinCost})
	f.svc = NewService(ServiceParams{DB: gdb, Accounts: f.users, Authz: f.az, Now: f.clock.Now})
	key := []byte("a test key of at least sixteen bytes")
	var err error
	for _, p := range []**Placer{&f.a, &f.b} {
		*p, err = NewPlacer(PlacerParams{DB: gdb, Cache: c, Key: key, TokenTTL: time.Hour, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

var seq struct {
	sync.Mutex
	n int
}

// user creates an account of role and returns its identity.
func (f *fixture) user(name string, role authn.Role) authn.Identity {
	f.t.Helper()
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	u, err := f.users.CreateUser(context.Background(), fmt.Sprintf("%s-%d@example.com", name, n), "password-"+name, name, role)
	if err != nil {
		f.t.Fatal(err)
	}
	return u.Identity()
}

// admin is a user holding ads:packages.
func (f *fixture) admin() authn.Identity { return f.user("admin", authn.RoleAdmin) }

// pkg creates a package of placement.
func (f *fixture) pkg(placement string, days int) *Package {
	f.t.Helper()
	p, err := f.svc.CreatePackage(context.Background(), f.admin(), PackageInput{Name: "p " + placement, Placement: placement,
		DurationDays: days, Price: 1000, Currency: "EUR"})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// pay runs the ad's fulfilment the way a payment's success does: in a transaction.
func (f *fixture) pay(adID string) error {
	return f.gdb.Transaction(func(tx *gorm.DB) error {
		return f.svc.fulfill(context.Background(), tx, &payments.Payment{ID: uuid.NewString(), SubjectID: adID, BuyerID: "b"})
	})
}

// liveAd buys and pays an ad of p for a new streamer and returns the ad and its owner.
func (f *fixture) liveAd(p *Package) (*Ad, authn.Identity) {
	f.t.Helper()
	s := f.user("streamer", authn.RoleStreamer)
	a, err := f.svc.Purchase(context.Background(), s, p.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.pay(a.ID); err != nil {
		f.t.Fatal(err)
	}
	a, err = f.svc.ad(context.Background(), f.gdb, a.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return a, s
}

// subAccountOf imports one sub-account for agency and returns its id.
func (f *fixture) subAccountOf(agency authn.Identity, name string) string {
	f.t.Helper()
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	csv := fmt.Sprintf("email,display_name,city,games\n%s-%d@example.com,%s,Rome,chess\n", name, n, name)
	if _, err := f.svc.Import(context.Background(), agency, []byte(csv), false); err != nil {
		f.t.Fatal(err)
	}
	var sub subAccount
	if err := f.gdb.Order("created_at DESC").Where("agency_id = ?", agency.UserID).
		Where("user_id IN (?)", f.gdb.Table("users").Select("id").Where("display_name = ?", name)).Take(&sub).Error; err != nil {
		f.t.Fatal(err)
	}
	return sub.UserID
}
