package sfu

import (
	"testing"
	"time"
)

func TestAudioLevelAverage(t *testing.T) {
	var a audioLevel
	if _, ok := a.take(); ok {
		t.Fatal("level without packets")
	}
	a.observe(0)        // 0 dBov: 1.0
	a.observe(0x80 | 0) // V bit ignored
	a.observe(127)      // silence
	lvl, ok := a.take()
	if !ok || lvl < 0.66 || lvl > 0.67 {
		t.Fatalf("level %v %v", lvl, ok)
	}
	if _, ok := a.take(); ok {
		t.Fatal("take did not reset")
	}
}

func TestSpeakerDetector(t *testing.T) {
	level := func(dBov int) float64 { return float64(dBovToLevel[dBov]) / levelScale }
	t0 := time.Unix(0, 0)
	type step struct {
		at      time.Duration
		samples map[ParticipantID]float64
		want    []ParticipantID // nil: no report expected
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"loudest first", []step{
			{0, map[ParticipantID]float64{"a": level(30), "b": level(10), "c": level(20)}, []ParticipantID{"b", "c", "a"}},
		}},
		{"silence is not speaking", []step{
			{0, map[ParticipantID]float64{"a": level(127), "b": level(90)}, nil},
		}},
		{"no report without change", []step{
			{0, map[ParticipantID]float64{"a": level(6)}, []ParticipantID{"a"}},
			{250 * time.Millisecond, map[ParticipantID]float64{"a": level(6)}, nil},
		}},
		{"rate limited to 4 per second", []step{
			{0, map[ParticipantID]float64{"a": level(6)}, []ParticipantID{"a"}},
			{100 * time.Millisecond, map[ParticipantID]float64{"b": level(0), "a": level(127)}, nil},
			{260 * time.Millisecond, map[ParticipantID]float64{"b": level(0)}, []ParticipantID{"b", "a"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newSpeakerDetector()
			for i, s := range tt.steps {
				got, changed := d.tick(t0.Add(s.at), s.samples)
				if s.want == nil {
					if changed {
						t.Fatalf("step %d: unexpected report %v", i, got)
					}
					continue
				}
				if !changed {
					t.Fatalf("step %d: no report, want %v", i, s.want)
				}
				if len(got) != len(s.want) {
					t.Fatalf("step %d: got %v, want %v", i, got, s.want)
				}
				for j := range got {
					if got[j].ParticipantID != s.want[j] || got[j].Level <= 0 || got[j].Level > 1 {
						t.Fatalf("step %d: got %v, want %v", i, got, s.want)
					}
					if j > 0 && got[j].Level > got[j-1].Level {
						t.Fatalf("step %d: not loudest first: %v", i, got)
					}
				}
			}
		})
	}
}

func TestSpeakerReportsPerSecond(t *testing.T) {
	d := newSpeakerDetector()
	t0 := time.Unix(0, 0)
	reports := 0
	// Changing levels every 10 ms for one second.
	for i := 0; i < 100; i++ {
		lvl := float64(i%10+1) / 10
		if _, ok := d.tick(t0.Add(time.Duration(i)*10*time.Millisecond), map[ParticipantID]float64{"a": lvl}); ok {
			reports++
		}
	}
	if reports > 4 {
		t.Fatalf("%d reports in one second", reports)
	}
}

func TestSpeakerDecaysAway(t *testing.T) {
	d := newSpeakerDetector()
	t0 := time.Unix(0, 0)
	if got, ok := d.tick(t0, map[ParticipantID]float64{"a": 0.1}); !ok || len(got) != 1 {
		t.Fatalf("got %v %v", got, ok)
	}
	var last []Speaker
	for i := 1; i <= 12; i++ {
		if got, ok := d.tick(t0.Add(time.Duration(i)*speakerInterval), nil); ok {
			last = got
		}
	}
	if last == nil || len(last) != 0 {
		t.Fatalf("last report %v, want empty", last)
	}
}
