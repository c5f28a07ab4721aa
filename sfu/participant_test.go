package sfu

import (
	"sync"
	"testing"

	"github.com/pion/webrtc/v3"
)

// Subscribe reads a subscription's state under the participant's lock: run
// with -race, a removal racing with Subscribe is reported otherwise.
func TestSubscribeRacesRemoval(t *testing.T) {
	tr, _ := newBenchTrack(0, nil)
	defer tr.fan.close()
	r := &Router{}
	p := &Participant{router: r, downs: map[TrackID]*subscription{}, kick: make(chan struct{}, 1)}
	for i := 0; i < 100; i++ {
		d := newDownTrack(tr, &p.subConnected)
		p.mu.Lock()
		p.downs[tr.info.TrackID] = &subscription{dt: d, sender: &webrtc.RTPSender{}}
		p.mu.Unlock()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_ = p.Subscribe(tr.info.TrackID, QualityLow, false)
		}()
		go func() {
			defer wg.Done()
			p.removeDownTrack(tr.info.TrackID)
		}()
		wg.Wait()
	}
}
