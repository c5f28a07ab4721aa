package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
)

// DefaultRetention is how long rows stay in the database before archiving (seed 002: three
// months).
const DefaultRetention = 90 * 24 * time.Hour

// Params are the Log's dependencies.
type Params struct {
	DB    *gorm.DB
	Authz *authz.Service
	Log   *slog.Logger
	Now   func() time.Time
	// Retention is how old a row gets before Archive moves it out (default DefaultRetention).
	Retention time.Duration
	// ArchiveDir receives the archive files (JSON lines); empty disables archiving.
	ArchiveDir string
	// ArchiveEvery is the background job's period (default one hour).
	ArchiveEvery time.Duration
}

// Log is the audit log.
type Log struct {
	db    *gorm.DB
	authz *authz.Service
	log   *slog.Logger
	now   func() time.Time
	keep  time.Duration
	dir   string
	every time.Duration

	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// New returns the audit log over p.
func New(p Params) *Log {
	l := &Log{db: p.DB, authz: p.Authz, log: p.Log, now: p.Now, keep: p.Retention, dir: p.ArchiveDir,
		every: p.ArchiveEvery, stop: make(chan struct{})}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.keep <= 0 {
		l.keep = DefaultRetention
	}
	if l.every <= 0 {
		l.every = time.Hour
	}
	return l
}

// Append writes e as the chain's next row and returns it with its id and hashes. The head
// row's lock serializes writers, so ids have no gaps and every row's previous hash is the
// row before it.
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	r := row{ActorID: clip(e.ActorID, 36), ActorName: clip(e.ActorName, 64), Module: clip(e.Module, 50),
		Operation: clip(e.Operation, 100), TargetType: clip(e.TargetType, 50), TargetID: clip(e.TargetID, 100),
		Method: clip(e.Method, 10), URL: clip(e.URL, 500), Body: clip(e.Body, 8192), IP: clip(e.IP, 45),
		UserAgent: clip(e.UserAgent, 500), Status: e.Status, HTTPStatus: e.HTTPStatus, Error: clip(e.Error, 1000),
		LatencyMS: e.LatencyMS, CreatedAtMS: l.now().UnixMilli()}
	err := l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var h head
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = 1").Take(&h).Error; err != nil {
			return fmt.Errorf("lock chain head: %w", err)
		}
		r.ID, r.PrevHash = h.LastID+1, h.LastHash
		r.Hash = r.sum()
		if err := tx.Create(&r).Error; err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		return tx.Model(&head{}).Where("id = 1").Updates(map[string]any{"last_id": r.ID, "last_hash": r.Hash}).Error
	})
	if err != nil {
		return Entry{}, fmt.Errorf("audit append: %w", err)
	}
	return r.entry(), nil
}

// Filter selects rows of the log.
type Filter struct {
	ActorID, Module, Operation, TargetType, TargetID, Status string
	From, To                                                 time.Time
	Page, PageSize                                           int
}

// Page is one page of entries, newest first.
type Page struct {
	Items    []Entry `json:"items"`
	Total    int64   `json:"total"`
	Page     int     `json:"page"`
	PageSize int     `json:"page_size"`
}

// List returns entries matching f; it needs audit:read.
func (l *Log) List(ctx context.Context, actor authn.Identity, f Filter) (*Page, error) {
	if err := l.authz.Can(ctx, actor, authz.AuditRead, nil); err != nil {
		return nil, err
	}
	tx := l.db.WithContext(ctx).Model(&row{})
	for col, v := range map[string]string{"actor_id": f.ActorID, "module": f.Module, "operation": f.Operation,
		"target_type": f.TargetType, "target_id": f.TargetID, "status": f.Status} {
		if v != "" {
			tx = tx.Where(col+" = ?", v)
		}
	}
	if !f.From.IsZero() {
		tx = tx.Where("created_at_ms >= ?", f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		tx = tx.Where("created_at_ms < ?", f.To.UnixMilli())
	}
	p := &Page{Items: []Entry{}, Page: f.Page, PageSize: f.PageSize}
	if err := tx.Count(&p.Total).Error; err != nil {
		return nil, fmt.Errorf("audit count: %w", err)
	}
	var rows []row
	if err := tx.Order("id DESC").Limit(f.PageSize).Offset((f.Page - 1) * f.PageSize).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("audit list: %w", err)
	}
	for i := range rows {
		p.Items = append(p.Items, rows[i].entry())
	}
	return p, nil
}

// Verdict is the answer of Verify.
type Verdict struct {
	OK         bool   `json:"ok"`
	Rows       int64  `json:"rows"`
	FirstBadID *int64 `json:"first_bad_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// verifyBatch is how many rows Verify reads at a time.
const verifyBatch = 1000

// Verify recomputes the chain from the last archived hash to the head; it needs audit:read.
func (l *Log) Verify(ctx context.Context, actor authn.Identity) (*Verdict, error) {
	if err := l.authz.Can(ctx, actor, authz.AuditRead, nil); err != nil {
		return nil, err
	}
	return l.verify(ctx)
}

func (l *Log) verify(ctx context.Context) (*Verdict, error) {
	var h head
	if err := l.db.WithContext(ctx).Where("id = 1").Take(&h).Error; err != nil {
		return nil, fmt.Errorf("audit head: %w", err)
	}
	v := &Verdict{OK: true}
	bad := func(id int64, why string) (*Verdict, error) {
		v.OK, v.FirstBadID, v.Reason = false, &id, why
		return v, nil
	}
	prevID, prevHash := h.ArchivedID, h.ArchivedHash
	for {
		var rows []row
		err := l.db.WithContext(ctx).Where("id > ? AND id <= ?", prevID, h.LastID).Order("id").Limit(verifyBatch).Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("audit read: %w", err)
		}
		for i := range rows {
			r := &rows[i]
			switch {
			case r.ID != prevID+1:
				return bad(prevID+1, "row missing")
			case r.PrevHash != prevHash:
				return bad(r.ID, "previous hash does not match the row before")
			case r.sum() != r.Hash:
				return bad(r.ID, "content does not match its hash")
			}
			prevID, prevHash = r.ID, r.Hash
			v.Rows++
		}
		if len(rows) < verifyBatch {
			break
		}
	}
	if prevID != h.LastID {
		return bad(prevID+1, "row missing")
	}
	if prevHash != h.LastHash {
		return bad(prevID, "the chain head does not match the last row")
	}
	return v, nil
}

// Archive moves rows older than the retention to a JSON-lines file in the archive directory
// and deletes them, remembering the last archived row's hash so Verify still starts from a
// known point. It returns how many rows it moved.
func (l *Log) Archive(ctx context.Context) (int, error) {
	if l.dir == "" {
		return 0, nil
	}
	cutoff := l.now().Add(-l.keep).UnixMilli()
	moved := 0
	err := l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var h head
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = 1").Take(&h).Error; err != nil {
			return fmt.Errorf("lock chain head: %w", err)
		}
		var rows []row
		if err := tx.Where("id > ? AND created_at_ms < ?", h.ArchivedID, cutoff).Order("id").Limit(10000).Find(&rows).Error; err != nil {
			return err
		}
		// Only a run of consecutive ids from the start moves, so what stays is one chain.
		n := 0
		for n < len(rows) && rows[n].ID == h.ArchivedID+int64(n)+1 {
			n++
		}
		if n == 0 {
			return nil
		}
		rows = rows[:n]
		last := rows[n-1]
		if err := writeArchive(l.dir, rows); err != nil {
			return err
		}
		if err := tx.Where("id > ? AND id <= ?", h.ArchivedID, last.ID).Delete(&row{}).Error; err != nil {
			return err
		}
		moved = n
		return tx.Model(&head{}).Where("id = 1").Updates(map[string]any{"archived_id": last.ID, "archived_hash": last.Hash}).Error
	})
	if err != nil {
		return 0, fmt.Errorf("audit archive: %w", err)
	}
	return moved, nil
}

// writeArchive writes rows (stored form, hashes included) to a new file, synced, so that
// the rows are on disk before the transaction deletes them.
func writeArchive(dir string, rows []row) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	name := filepath.Join(dir, "audit-"+strconv.FormatInt(rows[0].ID, 10)+"-"+strconv.FormatInt(rows[len(rows)-1].ID, 10)+".jsonl")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for i := range rows {
		if err := enc.Encode(rows[i].entry()); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Start runs Archive in the background every ArchiveEvery until Close.
func (l *Log) Start() {
	if l.dir == "" {
		return
	}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		t := time.NewTicker(l.every)
		defer t.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			n, err := l.Archive(ctx)
			cancel()
			if err != nil {
				l.log.Warn("audit archive", "err", err)
			} else if n > 0 {
				l.log.Info("audit rows archived", "rows", n)
			}
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the background job.
func (l *Log) Close() {
	l.once.Do(func() { close(l.stop) })
	l.done.Wait()
}
