package authz

import (
	"sync"
)

// snapshot is a user's effective permissions as computed at the versions it was read with.
type snapshot struct {
	userVer, globalVer int64
	eff                *Effective
}

// localCache keeps snapshots in this process, bounded: when full, an arbitrary entry goes
// (a miss only costs one database read). Snapshots are never changed once stored.
type localCache struct {
	mu  sync.RWMutex
	m   map[string]snapshot
	max int
}

func newLocalCache(max int) *localCache {
	return &localCache{m: make(map[string]snapshot), max: max}
}

func (c *localCache) get(userID string) (snapshot, bool) {
	c.mu.RLock()
	s, ok := c.m[userID]
	c.mu.RUnlock()
	return s, ok
}

func (c *localCache) put(userID string, s snapshot) {
	c.mu.Lock()
	if _, ok := c.m[userID]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[userID] = s
	c.mu.Unlock()
}
