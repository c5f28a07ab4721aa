package idempotency

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fixture is a handler that counts its runs behind the middleware, with the caller named by
// an X-User header (standing in for the authentication middleware).
type fixture struct {
	t     *testing.T
	k     *Keeper
	clk   *clock
	url   string
	runs  atomic.Int64
	gate  chan struct{} // when set, the handler waits on it
	fail  atomic.Bool   // answer 500
	gateM sync.Mutex
}

func newFixture(t *testing.T, gdb *gorm.DB) *fixture {
	f := &fixture{t: t, clk: &clock{}}
	f.clk.ns.Store(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixNano())
	f.k = New(Params{DB: gdb, Now: f.clk.Now})
	h := f.k.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.runs.Add(1)
		f.gateM.Lock()
		g := f.gate
		f.gateM.Unlock()
		if g != nil {
			<-g
		}
		if f.fail.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/things/1")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"run":%d,"echo":%q}`, n, body)
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-User"); u != "" {
			r = r.WithContext(authn.WithIdentity(r.Context(), authn.Identity{UserID: u, Role: authn.RolePlayer}))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

type answer struct {
	status   int
	body     string
	replayed bool
	location string
}

func (f *fixture) post(user, key, path, body string) answer {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.url+path, strings.NewReader(body))
	if user != "" {
		req.Header.Set("X-User", user)
	}
	if key != "" {
		req.Header.Set(Header, key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Error(err)
		return answer{}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, body: string(raw), replayed: res.Header.Get(ReplayedHeader) == "true",
		location: res.Header.Get("Location")}
}

func TestSameKeySameBodyReplays(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		f := newFixture(t, gdb)
		first := f.post("ann", "k1", "/orders", `{"slot":"a"}`)
		if first.status != 201 || first.replayed {
			t.Fatalf("first %+v", first)
		}
		again := f.post("ann", "k1", "/orders", `{"slot":"a"}`)
		if again.status != 201 || again.body != first.body || !again.replayed || again.location != "/things/1" {
			t.Fatalf("replay %+v, first %+v", again, first)
		}
		if f.runs.Load() != 1 {
			t.Fatalf("handler ran %d times", f.runs.Load())
		}
		// Another body, another path: the key is taken.
		for _, a := range []answer{f.post("ann", "k1", "/orders", `{"slot":"b"}`), f.post("ann", "k1", "/other", `{"slot":"a"}`)} {
			if a.status != 422 || !strings.Contains(a.body, "idempotency_key_reused") {
				t.Fatalf("reuse %+v", a)
			}
		}
		// Keys are per caller.
		if a := f.post("bob", "k1", "/orders", `{"slot":"b"}`); a.status != 201 || a.replayed {
			t.Fatalf("bob %+v", a)
		}
		// No key, or no caller: no memory.
		f.post("ann", "", "/orders", `{"slot":"a"}`)
		f.post("", "k1", "/orders", `{"slot":"a"}`)
		if f.runs.Load() != 4 {
			t.Fatalf("handler ran %d times", f.runs.Load())
		}
	}, Migrations()...)
}

func TestInvalidKey(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, Migrations()...))
	for _, key := range []string{strings.Repeat("x", 256), "has space", "tab\tkey"} {
		if a := f.post("ann", key, "/orders", "{}"); a.status != 400 || !strings.Contains(a.body, "invalid_idempotency_key") {
			t.Fatalf("%q: %+v", key, a)
		}
	}
}

func TestDuplicateInFlightIsRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		f := newFixture(t, gdb)
		gate := make(chan struct{})
		f.gate = gate
		done := make(chan answer)
		go func() { done <- f.post("ann", "k", "/orders", "{}") }()
		for f.runs.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		if a := f.post("ann", "k", "/orders", "{}"); a.status != 409 || !strings.Contains(a.body, "idempotency_in_progress") {
			t.Fatalf("in flight %+v", a)
		}
		f.gateM.Lock()
		f.gate = nil
		f.gateM.Unlock()
		close(gate)
		first := <-done
		if a := f.post("ann", "k", "/orders", "{}"); a.body != first.body || !a.replayed {
			t.Fatalf("after %+v", a)
		}
	}, Migrations()...)
}

func TestRacingDuplicatesRunOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		f := newFixture(t, gdb)
		const n = 16
		answers := make([]answer, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				answers[i] = f.post("ann", "race", "/orders", `{"x":1}`)
			}()
		}
		close(start)
		wg.Wait()
		if f.runs.Load() != 1 {
			t.Fatalf("handler ran %d times", f.runs.Load())
		}
		var firstBody string
		for _, a := range answers {
			switch a.status {
			case 201:
				if firstBody == "" {
					firstBody = a.body
				}
				if a.body != firstBody {
					t.Fatalf("different answers %q and %q", a.body, firstBody)
				}
			case 409:
			default:
				t.Fatalf("answer %+v", a)
			}
		}
	}, Migrations()...)
}

func TestServerErrorsAreNotStored(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, Migrations()...))
	f.fail.Store(true)
	if a := f.post("ann", "k", "/orders", "{}"); a.status != 500 {
		t.Fatalf("%+v", a)
	}
	f.fail.Store(false)
	if a := f.post("ann", "k", "/orders", "{}"); a.status != 201 || a.replayed {
		t.Fatalf("retry after a 500 %+v", a)
	}
	if f.runs.Load() != 2 {
		t.Fatalf("runs %d", f.runs.Load())
	}
}

func TestExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		f := newFixture(t, gdb)
		f.post("ann", "old", "/orders", "{}")
		f.clk.Advance(23 * time.Hour)
		f.post("ann", "new", "/orders", "{}")
		f.clk.Advance(2 * time.Hour)
		// An expired key is taken over even before the cleaner runs.
		if a := f.post("ann", "old", "/orders", `{"other":true}`); a.status != 201 || a.replayed {
			t.Fatalf("expired key %+v", a)
		}
		f.clk.Advance(23 * time.Hour)
		n, err := f.k.Cleanup(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("cleanup %d %v", n, err)
		}
		var left int64
		gdb.Model(&record{}).Count(&left)
		if left != 1 {
			t.Fatalf("%d rows left", left)
		}
	}, Migrations()...)
}

func TestCleanerStops(t *testing.T) {
	k := New(Params{DB: dbtest.Open(t, Migrations()...), Interval: time.Millisecond})
	k.Start()
	time.Sleep(5 * time.Millisecond)
	k.Close()
	k.Close()
	New(Params{}).Close() // never started
}
