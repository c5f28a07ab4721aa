package cache

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// DefaultMaxEntries bounds the in-process cache. A single node's sessions, codes and
// counters are far fewer; reaching it means keys are being stored without a TTL.
const DefaultMaxEntries = 1_000_000

// janitorInterval is how often expired entries are swept. Reads ignore expired entries
// on their own, so the sweep only bounds memory.
const janitorInterval = time.Minute

// janitorBatch bounds how many entries one sweep step examines while holding the lock,
// so a big cache never stalls callers for long.
const janitorBatch = 10_000

// Memory is the in-process Cache. Expired entries are invisible at once and removed by a
// background janitor that Close stops.
type Memory struct {
	mu         sync.Mutex
	items      map[string]entry
	maxEntries int
	now        func() time.Time

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type entry struct {
	val     []byte
	expires time.Time // zero: never
}

func (e entry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

var _ Cache = (*Memory)(nil)

// NewMemory returns an empty in-process cache holding at most DefaultMaxEntries keys.
// Close stops its janitor goroutine.
func NewMemory() *Memory {
	return newMemory(DefaultMaxEntries, janitorInterval)
}

func newMemory(maxEntries int, sweepEvery time.Duration) *Memory {
	m := &Memory{
		items:      make(map[string]entry),
		maxEntries: maxEntries,
		now:        time.Now,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	go m.janitor(sweepEvery)
	return m
}

func (m *Memory) janitor(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep removes expired entries in batches, releasing the lock between batches.
// Go's map iteration order is random, so restarting the scan after each batch still
// visits every entry with high probability over a few sweeps.
func (m *Memory) sweep() {
	for {
		m.mu.Lock()
		now := m.now()
		seen, removed := 0, 0
		for k, e := range m.items {
			if e.expired(now) {
				delete(m.items, k)
				removed++
			}
			seen++
			if seen == janitorBatch {
				break
			}
		}
		m.mu.Unlock()
		if seen < janitorBatch || removed == 0 {
			return
		}
		select {
		case <-m.stop:
			return
		default:
		}
	}
}

// lookup returns the live entry for key, deleting it when expired. m.mu must be held.
func (m *Memory) lookup(key string) (entry, bool) {
	e, ok := m.items[key]
	if !ok {
		return entry{}, false
	}
	if e.expired(m.now()) {
		delete(m.items, key)
		return entry{}, false
	}
	return e, true
}

// store writes key, refusing a new key when the cache is full. m.mu must be held.
func (m *Memory) store(key string, val []byte, expires time.Time) error {
	if _, exists := m.items[key]; !exists && len(m.items) >= m.maxEntries {
		// Expired entries the janitor has not reached yet must not count. A full scan is
		// slow, but only a cache that is genuinely full pays for it.
		now := m.now()
		for k, e := range m.items {
			if e.expired(now) {
				delete(m.items, k)
			}
		}
		if len(m.items) >= m.maxEntries {
			return fmt.Errorf("%w: %d entries", ErrFull, m.maxEntries)
		}
	}
	m.items[key] = entry{val: val, expires: expires}
	return nil
}

func (m *Memory) deadline(ttl time.Duration) time.Time {
	if ttl == 0 {
		return time.Time{}
	}
	return m.now().Add(ttl)
}

// Get implements Cache.
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key)
	if !ok {
		return nil, ErrMiss
	}
	// Callers may modify what they get; the stored copy must not change with it.
	return bytes.Clone(e.val), nil
}

// Set implements Cache.
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookup(key) // drop an expired entry so it does not count against the limit
	return m.store(key, cloneValue(val), m.deadline(ttl))
}

// SetNX implements Cache.
func (m *Memory) SetNX(_ context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL(ttl); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.lookup(key); ok {
		return false, nil
	}
	if err := m.store(key, cloneValue(val), m.deadline(ttl)); err != nil {
		return false, err
	}
	return true, nil
}

// GetDel implements Cache.
func (m *Memory) GetDel(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key)
	if !ok {
		return nil, ErrMiss
	}
	delete(m.items, key)
	return e.val, nil
}

// Del implements Cache.
func (m *Memory) Del(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.items, k)
	}
	return nil
}

// Incr implements Cache.
func (m *Memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key)
	if !ok {
		// Stored as decimal text, as Redis does, so Get sees the same bytes on both.
		if err := m.store(key, []byte("1"), m.deadline(ttl)); err != nil {
			return 0, err
		}
		return 1, nil
	}
	n, err := strconv.ParseInt(string(e.val), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: key %q", ErrNotInteger, key)
	}
	n++
	m.items[key] = entry{val: strconv.AppendInt(nil, n, 10), expires: e.expires}
	return n, nil
}

// TTL implements Cache.
func (m *Memory) TTL(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key)
	if !ok {
		return 0, ErrMiss
	}
	if e.expires.IsZero() {
		return 0, nil
	}
	return e.expires.Sub(m.now()), nil
}

// Expire implements Cache.
func (m *Memory) Expire(_ context.Context, key string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key)
	if !ok {
		return ErrMiss
	}
	e.expires = m.deadline(ttl)
	m.items[key] = e
	return nil
}

// Len returns the number of stored entries, including expired ones not yet swept.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// Ping implements Cache; the in-process cache is always there.
func (m *Memory) Ping(context.Context) error { return nil }

// Close stops the janitor and waits for it. The cache stays usable but is no longer swept.
func (m *Memory) Close() error {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

// cloneValue copies val so later changes by the caller do not reach the cache; a nil
// value is stored as empty, as Redis would.
func cloneValue(val []byte) []byte {
	if val == nil {
		return []byte{}
	}
	return bytes.Clone(val)
}

// MGet reads several keys under one lock; a missing key reads as nil.
func (m *Memory) MGet(_ context.Context, keys ...string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := m.lookup(k); ok {
			out[i] = bytes.Clone(e.val)
		}
	}
	return out, nil
}
