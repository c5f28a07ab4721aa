// Package idempotency makes retried writes safe: a client sends an Idempotency-Key header with
// a POST, and the first answer to (caller, key) is stored and replayed for every retry with the
// same method, path and body. The same key with another request is refused (422
// idempotency_key_reused); a retry that arrives while the first is still running is refused
// too (409 idempotency_in_progress), so a double click never runs a handler twice. The unique
// index on (user_id, idem_key) decides every race. Stored answers expire after a TTL (24 h by
// default) and a background cleaner deletes them.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/httpx"
)

// Header is the request header carrying the key.
const Header = "Idempotency-Key"

// ReplayedHeader marks a replayed answer.
const ReplayedHeader = "Idempotent-Replayed"

// maxKey bounds a key's length.
const maxKey = 255

// maxStored bounds the answer body kept for replay; a larger answer is not stored.
const maxStored = 1 << 20

// record is a row of idempotency_keys. Status 0 means the first request is still running.
type record struct {
	UserID      string `gorm:"primaryKey"`
	IdemKey     string `gorm:"primaryKey"`
	Method      string
	Path        string
	BodyHash    string
	Status      int
	ContentType string
	Location    string
	Body        []byte
	CreatedAt   time.Time
}

func (record) TableName() string { return "idempotency_keys" }

// Migrations returns the idempotency schema steps.
func Migrations() []db.Migration {
	return []db.Migration{{ID: "0020_idempotency_keys", Up: func(tx *gorm.DB) error {
		return tx.Migrator().CreateTable(&recordV1{})
	}}}
}

type recordV1 struct {
	UserID      string    `gorm:"primaryKey;size:64"`
	IdemKey     string    `gorm:"primaryKey;size:255"`
	Method      string    `gorm:"size:8;not null"`
	Path        string    `gorm:"size:512;not null"`
	BodyHash    string    `gorm:"size:64;not null"`
	Status      int       `gorm:"not null"`
	ContentType string    `gorm:"size:128;not null"`
	Location    string    `gorm:"size:512;not null"`
	Body        []byte    ``
	CreatedAt   time.Time `gorm:"not null;index:idx_idempotency_keys_created"`
}

func (recordV1) TableName() string { return "idempotency_keys" }

// Keeper stores answers and runs the cleaner.
type Keeper struct {
	db       *gorm.DB
	ttl      time.Duration
	inFlight time.Duration
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time

	stop      chan struct{}
	done      chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
}

// Params configure a Keeper.
type Params struct {
	DB *gorm.DB
	// TTL is how long an answer is replayed (24 h by default).
	TTL time.Duration
	// InFlight is how long a first request may run before a retry may take its key over (a
	// node died mid-request); 2 minutes by default.
	InFlight time.Duration
	// Interval is how often the cleaner runs (an hour by default).
	Interval time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

// New returns a Keeper; Start runs its cleaner.
func New(p Params) *Keeper {
	k := &Keeper{db: p.DB, ttl: p.TTL, inFlight: p.InFlight, interval: p.Interval, log: p.Log, now: p.Now,
		stop: make(chan struct{}), done: make(chan struct{})}
	if k.ttl <= 0 {
		k.ttl = 24 * time.Hour
	}
	if k.inFlight <= 0 {
		k.inFlight = 2 * time.Minute
	}
	if k.interval <= 0 {
		k.interval = time.Hour
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	if k.now == nil {
		k.now = time.Now
	}
	return k
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpx.JSON(w, status, httpx.ErrorBody{Error: httpx.ErrorDetail{Code: code, Message: msg}})
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > maxKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// Middleware honours Idempotency-Key on the routes it wraps. Requests without the header, or
// without a signed-in caller (keys are per caller), pass through untouched.
func (k *Keeper) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(Header)
		id, signedIn := authn.FromContext(r.Context())
		if key == "" || !signedIn {
			next.ServeHTTP(w, r)
			return
		}
		if !validKey(key) {
			writeError(w, http.StatusBadRequest, "invalid_idempotency_key",
				"Idempotency-Key must be 1 to 255 printable ASCII characters")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large")
				return
			}
			writeError(w, http.StatusBadRequest, "bad_request", "could not read the body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(body)
		rec := &record{UserID: id.UserID, IdemKey: key, Method: r.Method, Path: r.URL.Path,
			BodyHash: hex.EncodeToString(sum[:])}
		k.serve(w, r, next, rec)
	})
}

func (k *Keeper) serve(w http.ResponseWriter, r *http.Request, next http.Handler, rec *record) {
	ctx := r.Context()
	for attempt := 0; ; attempt++ {
		rec.CreatedAt = k.now().UTC()
		err := k.db.WithContext(ctx).Create(rec).Error
		if err == nil {
			k.run(w, r, next, rec)
			return
		}
		if !db.IsUniqueViolation(err) {
			httpx.Error(w, r, err)
			return
		}
		var prev record
		err = k.db.WithContext(ctx).Where("user_id = ? AND idem_key = ?", rec.UserID, rec.IdemKey).Take(&prev).Error
		if errors.Is(err, gorm.ErrRecordNotFound) && attempt < 2 {
			continue // the first request failed and let go of the key meanwhile
		}
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		age := k.now().Sub(prev.CreatedAt)
		if (age > k.ttl || (prev.Status == 0 && age > k.inFlight)) && attempt < 2 {
			// Expired, or abandoned by a node that died mid-request: take the key over. The
			// delete names the old row's time, so two retries cannot both take it.
			k.db.WithContext(ctx).Where("user_id = ? AND idem_key = ? AND created_at = ?",
				prev.UserID, prev.IdemKey, prev.CreatedAt).Delete(&record{})
			continue
		}
		switch {
		case prev.Method != rec.Method || prev.Path != rec.Path || prev.BodyHash != rec.BodyHash:
			writeError(w, http.StatusUnprocessableEntity, "idempotency_key_reused",
				"this Idempotency-Key was used for another request")
		case prev.Status == 0:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusConflict, "idempotency_in_progress",
				"a request with this Idempotency-Key is still running")
		default:
			h := w.Header()
			if prev.ContentType != "" {
				h.Set("Content-Type", prev.ContentType)
			}
			if prev.Location != "" {
				h.Set("Location", prev.Location)
			}
			h.Set(ReplayedHeader, "true")
			w.WriteHeader(prev.Status)
			_, _ = w.Write(prev.Body)
		}
		return
	}
}

// recorder passes the answer through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	overflow bool
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if rw.body.Len()+len(b) > maxStored {
		rw.overflow = true
	} else {
		rw.body.Write(b)
	}
	return rw.ResponseWriter.Write(b)
}

func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// run serves the first request with the key and stores its answer. A 5xx (or a panic) is not
// an answer: the key is released so that a retry runs again.
func (k *Keeper) run(w http.ResponseWriter, r *http.Request, next http.Handler, rec *record) {
	rw := &recorder{ResponseWriter: w}
	// The answer is stored even if the client hung up: a retry must get it.
	ctx := context.WithoutCancel(r.Context())
	where := k.db.WithContext(ctx).Model(&record{}).Where("user_id = ? AND idem_key = ?", rec.UserID, rec.IdemKey)
	completed := false
	defer func() {
		if completed && rw.status > 0 && rw.status < 500 && !rw.overflow {
			err := where.Updates(map[string]any{"status": rw.status, "content_type": w.Header().Get("Content-Type"),
				"location": w.Header().Get("Location"), "body": rw.body.Bytes()}).Error
			if err == nil {
				return
			}
			k.log.Error("idempotency: store answer", "err", err)
		}
		if err := k.db.WithContext(ctx).Where("user_id = ? AND idem_key = ?", rec.UserID, rec.IdemKey).
			Delete(&record{}).Error; err != nil {
			k.log.Error("idempotency: release key", "err", err)
		}
	}()
	next.ServeHTTP(rw, r)
	completed = true
}

// Cleanup deletes answers older than the TTL and returns how many.
func (k *Keeper) Cleanup(ctx context.Context) (int64, error) {
	res := k.db.WithContext(ctx).Where("created_at < ?", k.now().UTC().Add(-k.ttl)).Delete(&record{})
	return res.RowsAffected, res.Error
}

// Start runs the cleaner until Close.
func (k *Keeper) Start() {
	k.startOnce.Do(func() {
		go func() {
			defer close(k.done)
			t := time.NewTicker(k.interval)
			defer t.Stop()
			for {
				select {
				case <-k.stop:
					return
				case <-t.C:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if n, err := k.Cleanup(ctx); err != nil {
					k.log.Warn("idempotency: cleanup", "err", err)
				} else if n > 0 {
					k.log.Debug("idempotency: expired keys deleted", "count", n)
				}
				cancel()
			}
		}()
	})
}

// Close stops the cleaner and waits for it.
func (k *Keeper) Close() {
	k.closeOnce.Do(func() {
		close(k.stop)
		started := true
		k.startOnce.Do(func() { started = false })
		if started {
			<-k.done
		}
	})
}
