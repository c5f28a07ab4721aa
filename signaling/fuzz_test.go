package signaling

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	`{"type":"pong"}`,
	`{"type":"pong","id":"p1"}`,
	`{"type":"join_room","id":"j","data":{"meeting_id":"m","password":"x","display_name":"A"}}`,
	`{"type":"join_room","data":{"code":"ABCDEF","resume_token":"a.b","last_seq":3}}`,
	`{"type":"leave_room","id":"l"}`,
	`{"type":"chat_message","id":"c","data":{"text":"hello","to":"p"}}`,
	`{"type":"media_control","id":"m","data":{"source":"camera","muted":true,"target":"x"}}`,
	`{"type":"webrtc_signal","id":"s","data":{"pc":"publisher","sdp":{"type":"offer","sdp":"v=0\r\n"},"tracks":[{"mid":"0","source":"microphone"}]}}`,
	`{"type":"webrtc_signal","data":{"pc":"subscriber","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}}`,
	`{"type":"webrtc_signal","data":{"pc":"subscriber","restart":true}}`,
	`{"type":"subscribe","id":"q","data":{"track_id":"t","quality":"low","paused":true}}`,
	`{"type":"host_action","id":"h","data":{"action":"kick","target":"p"}}`,
	`{"type":"host_action","id":"h","data":{"action":"mute_all"}}`,
	`{"type":"host_action","id":"h","data":{"action":"end_meeting"}}`,
	`{"type":5,"id":"x"}`,
	`{"type":"chat_message","data":[1]}`,
	`[]`,
	`{"type":`,
	"\xff\xfe",
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := DecodeEnvelope(b)
		if env.ID != nil && utf8.RuneCountInString(*env.ID) > MaxIDLength {
			t.Fatalf("id of %d characters accepted", utf8.RuneCountInString(*env.ID))
		}
		if err != nil {
			return
		}
		if env.Type == "" {
			t.Fatal("empty type accepted")
		}
		if len(env.Data) == 0 || env.Data[0] != '{' {
			t.Fatalf("data %q is not an object", env.Data)
		}
		// A decoded envelope re-encodes and decodes to the same thing.
		out, err := EncodeMessage(env.Type, env.ID, env.Data)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := DecodeEnvelope(out)
		if err != nil || again.Type != env.Type || (again.ID == nil) != (env.ID == nil) {
			t.Fatalf("round trip: %+v vs %+v (%v)", again, env, err)
		}
		var compact bytes.Buffer
		_ = compact
	})
}

func FuzzHandleMessage(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	e := newEnv(f, envOpts{})
	host := user("fuzz-host")
	mv := e.meeting(host, "")
	hc := e.dial(host)
	hc.join(mv.ID, nil)

	who := user("fuzz")
	joined := newConn(e.hub, nil, 1_000_001, who)
	loose := newConn(e.hub, nil, 1_000_002, user("fuzz-loose"))
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-stop:
				return
			case <-joined.send.ready:
				joined.send.pop()
			case <-loose.send.ready:
				loose.send.pop()
			}
		}
	}()
	f.Cleanup(func() {
		close(stop)
		<-drained
		// The joined fuzz connection leaves, so the hub has nothing of it left.
		if m := joined.attached(); m != nil {
			e.hub.socketGone(joined)
		}
	})
	joinMsg := []byte(`{"type":"join_room","data":{"meeting_id":"` + mv.ID + `"}}`)

	f.Fuzz(func(t *testing.T, b []byte, inRoom bool) {
		c := loose
		if inRoom {
			c = joined
			if c.attached() == nil {
				c.bucket.tokens = c.bucket.burst
				e.hub.handle(e.hub.ctx, c, joinMsg)
			}
		}
		c.bucket.tokens = c.bucket.burst
		e.hub.handle(e.hub.ctx, c, b)
	})
}
