//go:build !unix

package rooms

// CPUSampler reports no CPU load where the process's CPU time cannot be read.
type CPUSampler struct{}

// NewCPUSampler starts a sampler.
func NewCPUSampler() *CPUSampler { return &CPUSampler{} }

// Load always returns 0 on this platform.
func (s *CPUSampler) Load() float64 { return 0 }
