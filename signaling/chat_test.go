package signaling

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/rooms"
)

const (
	burstSenders  = 20
	burstMessages = 50
)

// chatSeqs returns the seqs of the chats c received so far, in arrival order.
func chatSeqs(t testing.TB, c *client) []int64 {
	t.Helper()
	var out []int64
	for _, m := range c.all(TypeChat) {
		var cv rooms.ChatView
		m.decode(t, &cv)
		out = append(out, cv.Seq)
	}
	return out
}

// wantIncreasing fails unless seqs are strictly increasing.
func wantIncreasing(t testing.TB, who string, seqs []int64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("%s received seq %d after %d (position %d of %d)", who, seqs[i], seqs[i-1], i, len(seqs))
		}
	}
}

// burst makes every sender send n chats at once (without waiting for acks), all senders at
// the same time, and returns when every ack is in.
func burst(t testing.TB, senders []*client, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for si, c := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]string, n)
			for i := range n {
				ids[i] = fmt.Sprintf("b%d-%d", si, i)
				b := fmt.Appendf(nil, `{"type":%q,"id":%q,"data":{"text":"chat %d from %d"}}`, TypeChatMessage, ids[i], i, si)
				if err := c.sendRaw(b); err != nil {
					t.Errorf("sender %d: %v", si, err)
					return
				}
			}
			for _, id := range ids {
				m := c.waitFor("ack "+id, func(m msg) bool { return m.ID != nil && *m.ID == id })
				if m.Type != TypeAck {
					t.Errorf("sender %d: %s", si, m)
				}
			}
		}()
	}
	wg.Wait()
}

// waitChats waits until c has received n chats.
func waitChats(t testing.TB, c *client, n int) {
	t.Helper()
	check.ForErr(t, 30*time.Second, 10*time.Millisecond, func() error {
		if got := len(c.all(TypeChat)); got < n {
			if err := c.closeError(); err != nil {
				return fmt.Errorf("socket closed after %d chats: %v", got, err)
			}
			return fmt.Errorf("%d of %d chats", got, n)
		}
		return nil
	})
}

// Many senders at once: every socket receives the meeting's chats in strictly increasing seq.
func TestChatOrderConcurrentSenders(t *testing.T) {
	e := newEnv(t, envOpts{})
	host := user("host")
	mv := e.meeting(host, "")
	watcher := e.dial(host)
	watcher.join(mv.ID, nil)
	senders := make([]*client, burstSenders)
	for i := range senders {
		senders[i] = e.dial(user(fmt.Sprintf("s%d", i)))
		senders[i].join(mv.ID, nil)
	}
	burst(t, senders, burstMessages)
	total := burstSenders * burstMessages
	for i, c := range append([]*client{watcher}, senders...) {
		waitChats(t, c, total)
		seqs := chatSeqs(t, c)
		wantIncreasing(t, fmt.Sprintf("client %d", i), seqs)
		if len(seqs) != total || seqs[0] != 1 || seqs[len(seqs)-1] != int64(total) {
			t.Fatalf("client %d: %d chats, %d…%d", i, len(seqs), seqs[0], seqs[len(seqs)-1])
		}
	}
}

// The same across nodes: the meeting's room is on node b, senders and watchers are on both
// nodes (node a relays its sockets to b), and a REST-style poster on node a (its rooms
// service, which is not the owner) chats at the same time. Every socket still receives every
// chat, in strictly increasing seq.
func TestChatOrderAcrossNodes(t *testing.T) {
	p := newPair(t)
	host := user("host")
	mv := p.b.meeting(host, "")
	p.placeOnB(t, mv.ID)
	watchA, watchB := p.a.dial(user("wa")), p.b.dial(host)
	watchA.join(mv.ID, nil)
	watchB.join(mv.ID, nil)
	senders := make([]*client, burstSenders)
	for i := range senders {
		e := p.a
		if i%2 == 1 {
			e = p.b
		}
		senders[i] = e.dial(user(fmt.Sprintf("s%d", i)))
		senders[i].join(mv.ID, nil)
	}
	poster := user("rest")
	ctx := context.Background()
	if _, err := p.a.svc.Join(ctx, poster, mv.ID, rooms.JoinInput{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var pw sync.WaitGroup
		for i := range burstMessages {
			pw.Add(1)
			go func() {
				defer pw.Done()
				if _, err := p.a.svc.PostChat(ctx, poster, mv.ID, fmt.Sprintf("rest %d", i), ""); err != nil {
					t.Errorf("rest chat: %v", err)
				}
			}()
		}
		pw.Wait()
	}()
	burst(t, senders, burstMessages)
	wg.Wait()
	total := (burstSenders + 1) * burstMessages
	for i, c := range append([]*client{watchA, watchB}, senders...) {
		waitChats(t, c, total)
		seqs := chatSeqs(t, c)
		wantIncreasing(t, fmt.Sprintf("client %d", i), seqs)
		if len(seqs) != total || seqs[len(seqs)-1] != int64(total) {
			t.Fatalf("client %d: %d chats, last %d", i, len(seqs), seqs[len(seqs)-1])
		}
	}
}

// Private messages keep their rules inside a burst: only their sender and recipient get
// them, everyone's seqs still increase, and the gaps are exactly the others' private ones.
func TestChatOrderWithPrivateMessages(t *testing.T) {
	e := newEnv(t, envOpts{})
	a, b, c := e.dial(user("a")), e.dial(user("b")), e.dial(user("c"))
	mv := e.meeting(user("a"), "")
	a.join(mv.ID, nil)
	jb := b.join(mv.ID, nil)
	c.join(mv.ID, nil)
	var wg sync.WaitGroup
	for _, s := range []*client{a, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				d := map[string]any{"text": fmt.Sprintf("m%d", i)}
				if i%3 == 0 {
					d["to"] = jb.Participant.ParticipantID
				}
				s.send(TypeChatMessage, ptr(fmt.Sprintf("p%d", i)), d)
			}
		}()
	}
	wg.Wait()
	// Each of a and c sent 30: 10 private to b. b sees all 60; a and c 40 public + their own 10.
	waitChats(t, b, 60)
	waitChats(t, a, 50)
	waitChats(t, c, 50)
	time.Sleep(100 * time.Millisecond) // nothing more may come
	for name, cl := range map[string]*client{"a": a, "b": b, "c": c} {
		seqs := chatSeqs(t, cl)
		wantIncreasing(t, name, seqs)
		if want := map[string]int{"a": 50, "b": 60, "c": 50}[name]; len(seqs) != want {
			t.Fatalf("%s got %d chats, want %d", name, len(seqs), want)
		}
	}
}

// A client that drops in the middle of a burst and resumes with last_seq = the highest seq
// it saw loses nothing: what it saw, plus the replay, plus what follows, is every seq once.
func TestChatResumeAfterBurstLosesNothing(t *testing.T) {
	e := newEnv(t, envOpts{grace: 30 * time.Second})
	host, watcher := user("host"), user("w")
	mv := e.meeting(host, "")
	senders := make([]*client, burstSenders)
	for i := range senders {
		senders[i] = e.dial(user(fmt.Sprintf("s%d", i)))
		senders[i].join(mv.ID, nil)
	}
	w := e.dial(watcher)
	jw := w.join(mv.ID, nil)
	total := burstSenders * burstMessages

	done := make(chan struct{})
	go func() {
		defer close(done)
		burst(t, senders, burstMessages)
	}()
	// Drop the watcher once it has seen a good part of the burst (and no more than the 500
	// chats a resume replays are left to miss).
	waitChats(t, w, total*2/3)
	_ = w.ws.CloseNow()
	<-w.done
	before := chatSeqs(t, w)
	last := int64(0)
	for _, s := range before {
		last = max(last, s)
	}

	w2 := e.dial(watcher)
	w2.join(mv.ID, map[string]any{"resume_token": jw.ResumeToken, "last_seq": last})
	<-done
	check.ForErr(t, 30*time.Second, 10*time.Millisecond, func() error {
		after := chatSeqs(t, w2)
		if len(after) == 0 || after[len(after)-1] < int64(total) {
			return fmt.Errorf("resumed socket has %d chats", len(after))
		}
		return nil
	})
	after := chatSeqs(t, w2)
	seen := map[int64]int{}
	for _, s := range append(before, after...) {
		seen[s]++
	}
	for s := int64(1); s <= int64(total); s++ {
		if seen[s] != 1 {
			t.Fatalf("seq %d seen %d times (dropped after seq %d, %d chats before, %d after)", s, seen[s], last, len(before), len(after))
		}
	}
	wantIncreasing(t, "before the drop", before)
	wantIncreasing(t, "after the resume", after)
}

// BenchmarkRoomBroadcastChat measures a public chat's delivery to every member of a room.
func BenchmarkRoomBroadcastChat(b *testing.B) {
	h := NewHub(HubParams{Rooms: nil})
	r := newRoom(h, "m")
	const members = 100
	conns := make([]*conn, members)
	for i := range conns {
		c := newConn(h, nil, uint64(i), user(fmt.Sprint(i)))
		conns[i] = c
		m := &member{room: r, pid: fmt.Sprintf("p%d", i), uid: fmt.Sprint(i), conn: c}
		r.members[m.pid] = m
	}
	ev := rooms.Event{Type: rooms.EventChat, MeetingID: "m", Chat: &rooms.ChatView{Seq: 1, From: "p1", FromName: "User 1",
		Text: "hello everyone, this is a chat message of ordinary length", SentAt: time.Now()}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// Each chat a new one: a member drops a chat whose seq it has had (resume dedup).
		ev.Chat.Seq = int64(i) + 1
		r.onEvent(ev)
		for _, c := range conns {
			<-c.send.ready
			c.send.pop()
		}
	}
}

// A socket's messages take effect in order: chats sent back to back, then leave_room, are all
// stored (acked in the order sent, with increasing seqs) before the leave.
func TestChatBackToBackThenLeave(t *testing.T) {
	e := newEnv(t, envOpts{})
	host, g := user("host"), user("g")
	mv := e.meeting(host, "")
	w := e.dial(host)
	w.join(mv.ID, nil)
	c := e.dial(g)
	c.join(mv.ID, nil)
	const n = 40
	for i := range n {
		c.send(TypeChatMessage, ptr(fmt.Sprintf("c%d", i)), map[string]any{"text": fmt.Sprintf("m%d", i)})
	}
	c.send(TypeLeaveRoom, ptr("leave"), nil)
	if m := c.waitFor("leave ack", func(m msg) bool { return m.ID != nil && *m.ID == "leave" }); m.Type != TypeAck {
		t.Fatalf("leave: %s", m)
	}
	var ids []string
	last := int64(0)
	c.mu.Lock()
	for _, m := range c.msgs {
		if m.ID == nil || m.Type != TypeAck || (*m.ID)[0] != 'c' {
			continue
		}
		var a ChatAckData
		m.decode(t, &a)
		if a.Seq <= last {
			t.Errorf("ack %s has seq %d after %d", *m.ID, a.Seq, last)
		}
		last = a.Seq
		ids = append(ids, *m.ID)
	}
	c.mu.Unlock()
	if len(ids) != n || last != n {
		t.Fatalf("%d chat acks before the leave's, last seq %d: %v", len(ids), last, ids)
	}
	for i, id := range ids {
		if id != fmt.Sprintf("c%d", i) {
			t.Fatalf("acks out of order: %v", ids)
		}
	}
	waitChats(t, w, n)
	wantIncreasing(t, "watcher", chatSeqs(t, w))
}

// A room broadcast encodes an event's JSON once and hands every member the same bytes; a
// private chat goes to its sender and recipient only, and a joiner does not get its own
// participant_joined.
func TestBroadcastEncodesOnce(t *testing.T) {
	h := NewHub(HubParams{})
	r := newRoom(h, "m")
	const members = 20
	conns := map[string]*conn{}
	for i := range members {
		pid := fmt.Sprintf("p%d", i)
		c := newConn(h, nil, uint64(i), user(fmt.Sprint(i)))
		conns[pid] = c
		r.members[pid] = &member{room: r, pid: pid, uid: fmt.Sprint(i), conn: c}
	}
	received := func() map[string][][]byte {
		out := map[string][][]byte{}
		for pid, c := range conns {
			for {
				fs, ok := c.send.pop()
				if !ok {
					break
				}
				out[pid] = append(out[pid], fs...)
			}
		}
		return out
	}
	now := time.Now()
	r.onEvent(rooms.Event{Type: rooms.EventChat, MeetingID: "m", Chat: &rooms.ChatView{Seq: 1, From: "p1", Text: "hi", SentAt: now}})
	var ref *byte
	for pid, fs := range received() {
		if len(fs) != 1 {
			t.Fatalf("%s got %d frames", pid, len(fs))
		}
		if ref == nil {
			ref = &fs[0][0]
		} else if &fs[0][0] != ref {
			t.Fatalf("%s got its own encoding of the chat, not the room's", pid)
		}
	}
	r.onEvent(rooms.Event{Type: rooms.EventChat, MeetingID: "m", Chats: []rooms.ChatView{
		{Seq: 2, From: "p1", Text: "public", SentAt: now},
		{Seq: 3, From: "p1", To: "p2", Text: "private", SentAt: now},
		{Seq: 4, From: "p3", Text: "public again", SentAt: now},
	}})
	got := received()
	var first [][]byte
	for pid, fs := range got {
		want := 2
		if pid == "p1" || pid == "p2" {
			want = 3
		}
		if len(fs) != want {
			t.Fatalf("%s got %d frames, want %d", pid, len(fs), want)
		}
		if first == nil {
			first = fs
		}
		if &fs[0][0] != &first[0][0] {
			t.Fatalf("%s got its own encoding of the chat, not the room's", pid)
		}
	}
	if len(got) != members {
		t.Fatalf("%d members got the chats", len(got))
	}
	r.onEvent(rooms.Event{Type: rooms.EventParticipantJoined, MeetingID: "m",
		Participant: &rooms.ParticipantView{ParticipantID: "p5", DisplayName: "five"}})
	got = received()
	if len(got["p5"]) != 0 || len(got) != members-1 {
		t.Fatalf("participant_joined reached %d members, p5 got %d", len(got), len(got["p5"]))
	}
	ref = nil
	for _, fs := range got {
		if ref == nil {
			ref = &fs[0][0]
		} else if &fs[0][0] != ref {
			t.Fatal("participant_joined encoded more than once")
		}
	}
}

// A resume whose last_seq is ahead of the meeting's chat (a client's stale or wrong count)
// still gets every chat sent afterwards.
func TestChatResumeWithLastSeqAhead(t *testing.T) {
	e := newEnv(t, envOpts{grace: 30 * time.Second})
	host, g := user("host"), user("g")
	mv := e.meeting(host, "")
	h := e.dial(host)
	h.join(mv.ID, nil)
	c := e.dial(g)
	jc := c.join(mv.ID, nil)
	h.mustAck(TypeChatMessage, map[string]any{"text": "one"})
	c.waitType(TypeChat)
	_ = c.ws.CloseNow()
	<-c.done
	c2 := e.dial(g)
	c2.join(mv.ID, map[string]any{"resume_token": jc.ResumeToken, "last_seq": 50})
	h.mustAck(TypeChatMessage, map[string]any{"text": "two"})
	var cv rooms.ChatView
	c2.waitType(TypeChat).decode(t, &cv)
	if cv.Seq != 2 || cv.Text != "two" {
		t.Fatalf("after the resume: %+v", cv)
	}
}
