// Package audit is the tamper-evident admin audit log: one row per admin mutation, denied
// admin attempt and audit read, each storing the SHA-256 of its content and of the row before
// it. Appends are serialized by a row lock on the chain's head row (the write transaction
// itself on SQLite), so concurrent writers on any number of nodes build one chain. Verify
// recomputes the chain and names the first row that does not fit; Archive moves rows past
// the retention to a file and remembers the last archived hash, so the chain stays checkable.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Entry is one audited action.
type Entry struct {
	ID         int64     `json:"id"`
	ActorID    string    `json:"actor_id"`
	ActorName  string    `json:"actor_name"`
	Module     string    `json:"module"`
	Operation  string    `json:"operation"`
	TargetType string    `json:"target_type"`
	TargetID   string    `json:"target_id"`
	Method     string    `json:"method"`
	URL        string    `json:"url"`
	Body       string    `json:"body"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Status     string    `json:"status"` // success, failed or denied
	HTTPStatus int       `json:"http_status"`
	Error      string    `json:"error"`
	LatencyMS  int64     `json:"latency_ms"`
	CreatedAt  time.Time `json:"created_at"`
	PrevHash   string    `json:"prev_hash"`
	Hash       string    `json:"hash"`
}

// Statuses of an entry.
const (
	StatusSuccess = "success"
	StatusFailed  = "failed"
	StatusDenied  = "denied"
)

// row is the stored form of an Entry.
type row struct {
	ID          int64 `gorm:"primaryKey;autoIncrement:false"`
	ActorID     string
	ActorName   string
	Module      string
	Operation   string
	TargetType  string
	TargetID    string
	Method      string
	URL         string
	Body        string
	IP          string
	UserAgent   string
	Status      string
	HTTPStatus  int
	Error       string
	LatencyMS   int64
	CreatedAtMS int64
	PrevHash    string
	Hash        string
}

func (row) TableName() string { return "admin_operation_logs" }

type head struct {
	ID           int64 `gorm:"primaryKey;autoIncrement:false"`
	LastID       int64
	LastHash     string
	ArchivedID   int64
	ArchivedHash string
}

func (head) TableName() string { return "admin_operation_log_head" }

// sum is the row's hash: SHA-256 over the previous hash and every content field, each
// length-prefixed so that no two different rows encode alike.
func (r *row) sum() string {
	h := sha256.New()
	var n [8]byte
	num := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	str := func(s string) {
		num(int64(len(s)))
		h.Write([]byte(s))
	}
	str(r.PrevHash)
	num(r.ID)
	for _, s := range []string{r.ActorID, r.ActorName, r.Module, r.Operation, r.TargetType, r.TargetID,
		r.Method, r.URL, r.Body, r.IP, r.UserAgent, r.Status, r.Error} {
		str(s)
	}
	num(int64(r.HTTPStatus))
	num(r.LatencyMS)
	num(r.CreatedAtMS)
	return hex.EncodeToString(h.Sum(nil))
}

func (r *row) entry() Entry {
	return Entry{ID: r.ID, ActorID: r.ActorID, ActorName: r.ActorName, Module: r.Module, Operation: r.Operation,
		TargetType: r.TargetType, TargetID: r.TargetID, Method: r.Method, URL: r.URL, Body: r.Body, IP: r.IP,
		UserAgent: r.UserAgent, Status: r.Status, HTTPStatus: r.HTTPStatus, Error: r.Error, LatencyMS: r.LatencyMS,
		CreatedAt: time.UnixMilli(r.CreatedAtMS).UTC(), PrevHash: r.PrevHash, Hash: r.Hash}
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
