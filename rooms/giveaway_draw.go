package rooms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"strconv"
)

// GiveawayAlgorithm names the draw algorithm that docs/giveaways.md specifies. A change to
// anything the document describes needs a new name; old draws keep theirs in the draw log.
const GiveawayAlgorithm = "onstage-giveaway-v1"

// WeightedEntry is one entry as the draw sees it: its number and its ticket count.
type WeightedEntry struct {
	EntryNumber int64 `json:"entry_number"`
	Weight      int   `json:"weight"`
}

// EntryListHash is the lowercase hex SHA-256 of the frozen entry list: the line
// "onstage-giveaway-v1", the giveaway id, then "<entry_number> <weight>" per entry in
// ascending entry number, each line ending in "\n".
func EntryListHash(giveawayID string, entries []WeightedEntry) string {
	h := sha256.New()
	h.Write([]byte(GiveawayAlgorithm + "\n" + giveawayID + "\n"))
	var line []byte
	for _, e := range entries {
		line = strconv.AppendInt(line[:0], e.EntryNumber, 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(e.Weight), 10)
		line = append(line, '\n')
		h.Write(line)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// drawStream is the draw's random stream: HMAC-SHA256 in counter mode, keyed by the server
// seed. Block i is HMAC(seed, list_hash || uint32be(round) || uint64be(i)); the stream is
// the blocks in order, read as big-endian uint64 words.
type drawStream struct {
	mac     hash.Hash
	msg     [32 + 4 + 8]byte
	counter uint64
	block   []byte
	off     int
}

func newDrawStream(seed, listHash []byte, round uint32) *drawStream {
	s := &drawStream{mac: hmac.New(sha256.New, seed)}
	copy(s.msg[:32], listHash)
	binary.BigEndian.PutUint32(s.msg[32:36], round)
	return s
}

func (s *drawStream) next() uint64 {
	if s.off == len(s.block) {
		binary.BigEndian.PutUint64(s.msg[36:], s.counter)
		s.counter++
		s.mac.Reset()
		s.mac.Write(s.msg[:])
		s.block = s.mac.Sum(s.block[:0])
		s.off = 0
	}
	v := binary.BigEndian.Uint64(s.block[s.off:])
	s.off += 8
	return v
}

// uniform returns an integer in [0, n) without modulo bias: a word x is rejected while
// x >= 2^64 - (2^64 mod n), and the first accepted one gives x mod n.
func (s *drawStream) uniform(n uint64) uint64 {
	rem := (math.MaxUint64%n + 1) % n // 2^64 mod n
	for {
		x := s.next()
		if rem == 0 || x <= math.MaxUint64-rem {
			return x % n
		}
	}
}

// drawWinners runs one round of the draw: every entry not in exclude becomes Weight tickets
// (in the order of entries), a Fisher–Yates shuffle from the last ticket down (swap ticket i
// with ticket uniform(i+1)) mixes them, and the owners of the shuffled tickets, first to
// last, are taken without repeats until count winners are found or the tickets run out.
func drawWinners(seed, listHash []byte, round uint32, entries []WeightedEntry, exclude map[int64]bool, count int) []int64 {
	n := 0
	for _, e := range entries {
		if !exclude[e.EntryNumber] {
			n += e.Weight
		}
	}
	tickets := make([]int64, 0, n)
	for _, e := range entries {
		if exclude[e.EntryNumber] {
			continue
		}
		for range e.Weight {
			tickets = append(tickets, e.EntryNumber)
		}
	}
	st := newDrawStream(seed, listHash, round)
	for i := len(tickets) - 1; i > 0; i-- {
		j := st.uniform(uint64(i + 1))
		tickets[i], tickets[j] = tickets[j], tickets[i]
	}
	out := make([]int64, 0, count)
	seen := make(map[int64]bool, count)
	for _, t := range tickets {
		if len(out) == count {
			break
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
