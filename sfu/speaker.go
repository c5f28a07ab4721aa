package sfu

import (
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Speaker detection tuning.
const (
	// speakerInterval is both the detector tick and the minimum time between
	// two OnSpeakers calls (at most 4 per second).
	speakerInterval = 250 * time.Millisecond
	// speakingThreshold is the smoothed linear level (about -40 dBov) above
	// which a participant counts as speaking.
	speakingThreshold = 0.01
	// levelSmoothing weighs the previous smoothed level against the new
	// window's average.
	levelSmoothing = 0.6
	// levelQuantum rounds reported levels so that tiny fluctuations do not
	// count as a change.
	levelQuantum = 0.01
	// levelScale turns a linear level into an integer for atomic sums.
	levelScale = 1 << 20
)

// dBovToLevel converts the RFC 6464 level (0 loudest .. 127 silent, -dBov)
// into linear amplitude, scaled by levelScale.
var dBovToLevel = func() (t [128]uint64) {
	for i := range t {
		t[i] = uint64(math.Pow(10, -float64(i)/20) * levelScale)
	}
	return t
}()

// audioLevel accumulates the levels of one audio track between detector
// ticks. observe is called from the track's reader goroutine and take from
// the detector goroutine, so both use atomics and never allocate.
type audioLevel struct {
	sum   atomic.Uint64
	count atomic.Uint64
}

// observe records one packet's RFC 6464 level byte (the V bit is ignored).
func (a *audioLevel) observe(b byte) {
	a.sum.Add(dBovToLevel[b&0x7f])
	a.count.Add(1)
}

// take returns the average linear level since the previous take, and whether
// any packet carried a level.
func (a *audioLevel) take() (float64, bool) {
	n := a.count.Swap(0)
	s := a.sum.Swap(0)
	if n == 0 {
		return 0, false
	}
	return float64(s) / float64(n) / levelScale, true
}

// speakerDetector smooths per-participant levels and decides when the
// ordered list of speakers changed. It is driven by one goroutine.
type speakerDetector struct {
	smoothed map[ParticipantID]float64
	last     []Speaker
	lastEmit time.Time
}

func newSpeakerDetector() *speakerDetector {
	return &speakerDetector{smoothed: map[ParticipantID]float64{}}
}

// update folds one window of samples (participants that sent audio in the
// window and their average level) into the smoothed levels. A participant
// without a sample decays towards silence.
func (d *speakerDetector) update(samples map[ParticipantID]float64) {
	for id, s := range d.smoothed {
		if _, ok := samples[id]; !ok {
			s *= levelSmoothing
			if s < speakingThreshold/10 {
				delete(d.smoothed, id)
				continue
			}
			d.smoothed[id] = s
		}
	}
	for id, v := range samples {
		if old, ok := d.smoothed[id]; ok {
			v = levelSmoothing*old + (1-levelSmoothing)*v
		}
		d.smoothed[id] = v
	}
}

// speakers returns the current speakers, loudest first, with levels rounded
// to levelQuantum; ties are broken by ID so the order is stable.
func (d *speakerDetector) speakers() []Speaker {
	out := []Speaker{} // non-nil: an empty report means "nobody speaks"
	for id, s := range d.smoothed {
		if s < speakingThreshold {
			continue
		}
		q := math.Round(s/levelQuantum) * levelQuantum
		if q == 0 {
			q = levelQuantum
		}
		out = append(out, Speaker{ParticipantID: id, Level: math.Min(q, 1)})
	}
	slices.SortFunc(out, func(a, b Speaker) int {
		if a.Level != b.Level {
			if a.Level > b.Level {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.ParticipantID), string(b.ParticipantID))
	})
	return out
}

// tick updates the detector and returns the speaker list to report, if it
// changed and the rate limit allows a report at now.
func (d *speakerDetector) tick(now time.Time, samples map[ParticipantID]float64) ([]Speaker, bool) {
	d.update(samples)
	if !d.lastEmit.IsZero() && now.Sub(d.lastEmit) < speakerInterval {
		return nil, false
	}
	cur := d.speakers()
	if slices.Equal(cur, d.last) {
		return nil, false
	}
	d.last = cur
	d.lastEmit = now
	return slices.Clone(cur), true
}
