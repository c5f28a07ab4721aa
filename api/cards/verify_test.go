package cards

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// keyFixture makes a project granted to an agent with quota and one batch of n keys.
func (f *fixture) keyFixture(n int) (*ProjectCreated, authn.Identity, []Key) {
	f.t.Helper()
	ctx := context.Background()
	admin := f.user("", authz.RoleAdmin)
	agent := f.user("", authz.RoleAgent)
	p, err := f.svc.CreateProject(ctx, admin, ProjectInput{Name: "P", UnitPrice: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.Recharge(ctx, admin, agent.UserID, int64(n*30)); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.Grant(ctx, admin, GrantInput{ProjectID: p.ID, AgentID: agent.UserID, ExpiresAt: time.Now().Add(60 * 24 * time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	b, err := f.svc.CreateBatch(ctx, agent, BatchInput{ProjectID: p.ID, Count: n, ValidDays: 30})
	if err != nil {
		f.t.Fatal(err)
	}
	_, keys, err := f.svc.BatchKeys(ctx, agent, b.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return p, agent, keys
}

// TestRacingBind: 20 devices verify one unused key at once; exactly one binds it, the rest
// get DEVICE_MISMATCH, and the key is bound to the winner.
func TestRacingBind(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		p, agent, keys := f.keyFixture(1)
		var wg sync.WaitGroup
		codes := make([]string, 20)
		start := make(chan struct{})
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := f.svc.Check(context.Background(), &p.Project, keys[0].Key, fmt.Sprintf("device-%d", i), true, "")
				if err != nil {
					t.Error(err)
					return
				}
				codes[i] = r.Code
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, c := range codes {
			switch c {
			case CodeValid:
				if winner >= 0 {
					t.Fatalf("two devices bound the key: %d and %d", winner, i)
				}
				winner = i
			case CodeDeviceMismatch:
			default:
				t.Fatalf("device %d: %s", i, c)
			}
		}
		if winner < 0 {
			t.Fatalf("no device bound the key: %v", codes)
		}
		var k Key
		if err := f.gdb.Where("id = ?", keys[0].ID).Take(&k).Error; err != nil {
			t.Fatal(err)
		}
		if k.DeviceID == nil || *k.DeviceID != fmt.Sprintf("device-%d", winner) || k.Status != KeyActive {
			t.Fatalf("stored key %+v, winner %d", k, winner)
		}
		// The agent finds the key by its device (as given) and by part of the key (any case).
		for _, q := range []string{fmt.Sprintf("device-%d", winner), strings.ToLower(keys[0].Key[6:11])} {
			page, err := f.svc.Keys(context.Background(), agent, KeyQuery{Q: q, Status: KeyActive, Page: 1, PageSize: 10})
			if err != nil || page.Total != 1 {
				t.Fatalf("search %q: %+v %v", q, page, err)
			}
		}
		var activations int64
		f.gdb.Model(&Delivery{}).Count(&activations)
		if activations != 0 {
			t.Fatalf("%d callbacks recorded for a project without a callback URL", activations)
		}
		var logged int64
		f.gdb.Model(&verificationRow{}).Where("key_id = ?", k.ID).Count(&logged)
		if logged != 20 {
			t.Fatalf("%d verifications logged, want 20", logged)
		}
	})
}

// TestVerifyCodes walks a key through its codes: unbind keeps the expiry and is limited;
// expiry, a disabled key and an expired grant answer their codes.
func TestVerifyCodes(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		// Whole seconds: MySQL keeps milliseconds, PostgreSQL microseconds.
		now := time.Now().Truncate(time.Second)
		f.svc.now = func() time.Time { return now }
		p, agent, keys := f.keyFixture(3)
		check := func(key, dev string) Result {
			t.Helper()
			r, err := f.svc.Check(ctx, &p.Project, key, dev, true, "")
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := check("NOPE-NOPE", "d"); r.Code != CodeNotFound || r.Valid {
			t.Fatalf("unknown key: %+v", r)
		}
		r := check(keys[0].Key, "a")
		if r.Code != CodeValid || r.RemainingSeconds == nil || *r.RemainingSeconds != 30*24*3600 {
			t.Fatalf("first use: %+v", r)
		}
		if _, err := f.svc.Unbind(ctx, agent, keys[1].Key); !errors.Is(err, ErrKeyNotActive) {
			t.Fatalf("unbind of an unused key: %v", err)
		}
		for i := range 3 {
			if _, err := f.svc.Unbind(ctx, agent, keys[0].Key); err != nil {
				t.Fatalf("unbind %d: %v", i, err)
			}
			if _, err := f.svc.Unbind(ctx, agent, keys[0].Key); !errors.Is(err, ErrKeyNotActive) {
				t.Fatalf("unbind of an unbound key: %v", err)
			}
			if r2 := check(keys[0].Key, fmt.Sprint("dev", i)); r2.Code != CodeValid || !r2.ExpiresAt.Equal(*r.ExpiresAt) {
				t.Fatalf("rebind %d: %+v (first %v)", i, r2, r.ExpiresAt)
			}
		}
		if _, err := f.svc.Unbind(ctx, agent, keys[0].Key); !errors.Is(err, ErrUnbindLimit) {
			t.Fatalf("fourth unbind in 30 days: %v", err)
		}
		now = now.Add(31 * 24 * time.Hour)
		if r := check(keys[0].Key, "dev2"); r.Code != CodeExpired || r.Valid {
			t.Fatalf("after expiry: %+v", r)
		}
		now = now.Add(-31 * 24 * time.Hour)
		f.gdb.Model(&Key{}).Where("id = ?", keys[1].ID).Update("status", KeyDisabled)
		if r := check(keys[1].Key, "x"); r.Code != CodeDisabled {
			t.Fatalf("disabled: %+v", r)
		}
		now = now.Add(61 * 24 * time.Hour) // the grant ran out
		if r := check(keys[2].Key, "x"); r.Code != CodeGrantExpired {
			t.Fatalf("grant expired: %+v", r)
		}
		f.gdb.Model(&Project{}).Where("id = ?", p.ID).Update("disabled", true)
		p.Disabled = true
		if r := check(keys[2].Key, "x"); r.Code != CodeProjectDisabled {
			t.Fatalf("project disabled: %+v", r)
		}
	})
}

func signedHeaders(apiKey, secret, method, path, nonce string, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	t := strconv.FormatInt(ts.Unix(), 10)
	h.Set(HeaderKey, apiKey)
	h.Set(HeaderTimestamp, t)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignature, Sign(secret, method, path, t, nonce, body))
	return h
}

// TestAuthenticate: each refusal has its code; a nonce used on one node is refused on
// another sharing the cache; a rotated secret keeps working through its grace period only.
func TestAuthenticate(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		p, _, _ := f.keyFixture(1)
		other, err := New(Params{DB: f.gdb, Authz: f.az, Cache: f.svc.cache, ServerSecret: []byte("a-test-secret-of-at-least-32-characters")})
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"key":"K","device_id":"d"}`)
		path := "/api/v1/cards/verify"
		now := time.Now()
		nonce := fmt.Sprintf("n-%d", now.UnixNano())
		cases := []struct {
			name string
			h    http.Header
			want error
		}{
			{"unknown key", signedHeaders("pk_x", p.Secret, "POST", path, nonce+"a", now, body), ErrUnknownKey},
			{"stale", signedHeaders(p.APIKey, p.Secret, "POST", path, nonce+"b", now.Add(-MaxSkew-time.Second), body), ErrStaleTimestamp},
			{"future", signedHeaders(p.APIKey, p.Secret, "POST", path, nonce+"c", now.Add(MaxSkew+time.Second), body), ErrStaleTimestamp},
			{"wrong secret", signedHeaders(p.APIKey, "sk_wrong", "POST", path, nonce+"d", now, body), ErrBadSignature},
			{"short nonce", signedHeaders(p.APIKey, p.Secret, "POST", path, "1234567", now, body), ErrBadSignature},
			{"good", signedHeaders(p.APIKey, p.Secret, "POST", path, nonce, now, body), nil},
		}
		for _, c := range cases {
			_, err := f.svc.Authenticate(ctx, "POST", path, c.h, body)
			if !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
				t.Fatalf("%s: %v, want %v", c.name, err, c.want)
			}
		}
		// Another body, path or method under the same signature does not pass.
		h := signedHeaders(p.APIKey, p.Secret, "POST", path, nonce+"e", now, body)
		if _, err := f.svc.Authenticate(ctx, "POST", path, h, []byte(`{"key":"K","device_id":"e"}`)); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("changed body: %v", err)
		}
		if _, err := f.svc.Authenticate(ctx, "POST", "/api/v1/cards/query", h, body); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("changed path: %v", err)
		}
		// The replay reaches another node.
		if _, err := other.Authenticate(ctx, "POST", path, cases[len(cases)-1].h, body); !errors.Is(err, ErrReplayedNonce) {
			t.Fatalf("replay on another node: %v", err)
		}
		// Rotation: old and new both pass within the grace period; only the new after it.
		admin := f.user("", authz.RoleAdmin)
		rot, err := f.svc.RotateSecret(ctx, admin, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range []string{p.Secret, rot.Secret} {
			h := signedHeaders(p.APIKey, s, "POST", path, fmt.Sprintf("%s-rot-%d", nonce, i), now, body)
			if _, err := f.svc.Authenticate(ctx, "POST", path, h, body); err != nil {
				t.Fatalf("secret %d in grace: %v", i, err)
			}
		}
		later := now.Add(25 * time.Hour)
		f.svc.now = func() time.Time { return later }
		h = signedHeaders(p.APIKey, p.Secret, "POST", path, nonce+"-late-old", later, body)
		if _, err := f.svc.Authenticate(ctx, "POST", path, h, body); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("old secret after grace: %v", err)
		}
		h = signedHeaders(p.APIKey, rot.Secret, "POST", path, nonce+"-late-new", later, body)
		if _, err := f.svc.Authenticate(ctx, "POST", path, h, body); err != nil {
			t.Fatalf("new secret after grace: %v", err)
		}
	})
}

// TestSealedSecrets: stored secrets are encrypted, bound to their project, and open only
// with the same server secret.
func TestSealedSecrets(t *testing.T) {
	s1, _ := newSealer([]byte("server-secret-one-xxxxxxxxxxxxxxxx"))
	s2, _ := newSealer([]byte("server-secret-two-xxxxxxxxxxxxxxxx"))
	enc := s1.seal([]byte("sk_plain"), "p1")
	if got, err := s1.open(enc, "p1"); err != nil || string(got) != "sk_plain" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s1.open(enc, "p2"); err == nil {
		t.Fatal("opened under another project")
	}
	if _, err := s2.open(enc, "p1"); err == nil {
		t.Fatal("opened with another server secret")
	}
}

func BenchmarkSign(b *testing.B) {
	body := []byte(`{"key":"ABCDE-FGHJK-LMNPQ-RSTUV","device_id":"device-1"}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = Sign("sk_secret", "POST", "/api/v1/cards/verify", "1700000000", "nonce-12345", body)
	}
}

// TestSignWorkedExample pins the worked example of docs/api.md (computed there with openssl).
func TestSignWorkedExample(t *testing.T) {
	body := []byte(`{"key":"ABCDE-FGHJK-LMNPQ-RSTUV","device_id":"device-1"}`)
	sts := StringToSign("POST", "/api/v1/cards/verify", "1764518400", "n-8f3a2c1d", body)
	if want := "POST\n/api/v1/cards/verify\n1764518400\nn-8f3a2c1d\n2f1fd5445b38abfa95ade45cf6f5cf6ee8b2630629f20dc17219af267b8f6e45"; sts != want {
		t.Fatalf("string to sign %q", sts)
	}
	got := Sign("sk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "POST", "/api/v1/cards/verify",
		"1764518400", "n-8f3a2c1d", body)
	if got != "f4251c0350c05f07e3ee49e6d01787b512661fb203b38b634a6d5eb8264cc16e" {
		t.Fatalf("signature %s", got)
	}
}

// TestVerifyRateLimit: requests about one key are limited per minute (cards.verify_rate_per_key).
func TestVerifyRateLimit(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, testMigrations()...), false)
	f.svc.keyLimit = cache.NewLimiter(f.svc.cache, "cards:rate:k:", 2, time.Minute)
	p, _, keys := f.keyFixture(2)
	ctx := context.Background()
	for i := range 2 {
		if _, err := f.svc.Check(ctx, &p.Project, keys[0].Key, "d", true, ""); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := f.svc.Check(ctx, &p.Project, keys[0].Key, "d", true, "")
	if e, ok := apperr.As(err); !ok || e.Code != "rate_limited" || e.RetryAfter <= 0 {
		t.Fatalf("third request: %v", err)
	}
	if _, err := f.svc.Check(ctx, &p.Project, keys[1].Key, "d", true, ""); err != nil {
		t.Fatalf("another key: %v", err)
	}
}
