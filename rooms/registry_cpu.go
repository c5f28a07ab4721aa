//go:build unix

package rooms

import (
	"runtime"
	"sync"
	"syscall"
	"time"
)

// CPUSampler measures this process's CPU use between two calls, as a fraction of all the
// machine's cores (0..1), for NodeInfo.CPULoad. The first call measures since NewCPUSampler.
type CPUSampler struct {
	mu       sync.Mutex
	lastCPU  time.Duration
	lastWall time.Time
	last     float64
}

// NewCPUSampler starts a sampler.
func NewCPUSampler() *CPUSampler {
	return &CPUSampler{lastCPU: processCPU(), lastWall: time.Now()}
}

// Load returns the CPU fraction used since the previous call. Calls closer together than
// 100 ms return the previous value, so that a burst of calls cannot report noise.
func (s *CPUSampler) Load() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	wall := now.Sub(s.lastWall)
	if wall < 100*time.Millisecond {
		return s.last
	}
	cpu := processCPU()
	frac := float64(cpu-s.lastCPU) / float64(wall) / float64(runtime.NumCPU())
	switch {
	case frac < 0:
		frac = 0
	case frac > 1:
		frac = 1
	}
	s.lastCPU, s.lastWall, s.last = cpu, now, frac
	return frac
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
