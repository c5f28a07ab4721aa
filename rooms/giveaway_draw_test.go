package rooms

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
)

// The worked example of docs/giveaways.md; an independent implementation of the document
// gave the same numbers.
func TestGiveawayTestVector(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	sum := sha256.Sum256(seed)
	if got := hex.EncodeToString(sum[:]); got != "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd" {
		t.Fatalf("commitment %s", got)
	}
	entries := []WeightedEntry{{1, 1}, {2, 1}, {3, 3}, {4, 1}, {5, 2}}
	lh := EntryListHash("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", entries)
	if lh != "712d2afee0305202ca734d45a53d5eb53d39dcbf3161bd852baf865050e0f4f8" {
		t.Fatalf("entry list hash %s", lh)
	}
	lhb, _ := hex.DecodeString(lh)
	st := newDrawStream(seed, lhb, 0)
	if a, b := st.next(), st.next(); a != 0x21b7dc1f85dbc92f || b != 0xa93afb086e0a348e {
		t.Fatalf("stream words %x %x", a, b)
	}
	w0 := drawWinners(seed, lhb, 0, entries, nil, 2)
	if !slices.Equal(w0, []int64{3, 2}) {
		t.Fatalf("round 0 winners %v", w0)
	}
	w1 := drawWinners(seed, lhb, 1, entries, map[int64]bool{3: true, 2: true}, 1)
	if !slices.Equal(w1, []int64{1}) {
		t.Fatalf("round 1 winners %v", w1)
	}
}

// uniform never answers out of range and rejects the biased tail: with n = 2^63 + 1 about
// half of all words are rejected, and an accepted one is below 2^64 - (2^64 mod n).
func TestGiveawayUniformRejects(t *testing.T) {
	st := newDrawStream(make([]byte, 32), make([]byte, 32), 0)
	n := uint64(1)<<63 + 1
	for range 1000 {
		if v := st.uniform(n); v >= n {
			t.Fatalf("uniform(%d) = %d", n, v)
		}
	}
	// Every word was either used or rejected: more than 1000 words means rejections happened.
	if st.counter*4 < 1200 {
		t.Fatalf("only %d blocks for 1000 draws: no rejection sampling?", st.counter)
	}
	for _, n := range []uint64{1, 2, 3, 7, 10} {
		for range 100 {
			if v := st.uniform(n); v >= n {
				t.Fatalf("uniform(%d) = %d", n, v)
			}
		}
	}
}

// chiSquareCrit9 is the chi-square critical value for 9 degrees of freedom at p = 0.001:
// a statistic below it means p > 0.001.
const chiSquareCrit9 = 27.877

// chiSquare runs draws of one winner among entries, each with its own seed, and returns the
// statistic against the expected shares weight/total.
func chiSquare(t *testing.T, entries []WeightedEntry, draws int, label string) float64 {
	t.Helper()
	counts := map[int64]int{}
	total := 0
	for _, e := range entries {
		total += e.Weight
	}
	lh := make([]byte, 32)
	var seedBuf [40]byte
	for i := range draws {
		// Seeds are fixed, so the test is reproducible; SHA-256 makes them unrelated.
		copy(seedBuf[:], label)
		binary.BigEndian.PutUint64(seedBuf[32:], uint64(i))
		seed := sha256.Sum256(seedBuf[:])
		w := drawWinners(seed[:], lh, 0, entries, nil, 1)
		counts[w[0]]++
	}
	chi := 0.0
	for _, e := range entries {
		exp := float64(draws) * float64(e.Weight) / float64(total)
		d := float64(counts[e.EntryNumber]) - exp
		chi += d * d / exp
	}
	return chi
}

// 100,000 draws of 10 entrants: the winners' distribution fits the uniform one (p > 0.001),
// and with weights it fits weight/total.
func TestGiveawayChiSquare(t *testing.T) {
	uniform := make([]WeightedEntry, 10)
	weighted := make([]WeightedEntry, 10)
	for i := range uniform {
		uniform[i] = WeightedEntry{EntryNumber: int64(i + 1), Weight: 1}
		weighted[i] = WeightedEntry{EntryNumber: int64(i + 1), Weight: 1 + i%3}
	}
	for _, tc := range []struct {
		name    string
		entries []WeightedEntry
	}{{"uniform", uniform}, {"weighted", weighted}} {
		t.Run(tc.name, func(t *testing.T) {
			chi := chiSquare(t, tc.entries, 100_000, "chi-square "+tc.name)
			t.Logf("chi-square %.2f (df 9, critical %.3f at p=0.001)", chi, chiSquareCrit9)
			if chi >= chiSquareCrit9 {
				t.Fatalf("chi-square %.2f >= %.3f: the draw is biased", chi, chiSquareCrit9)
			}
		})
	}
}

// A biased draw is caught: picking uniform(n) by a plain modulo of a byte would fail the
// same test, so the test has teeth.
func TestGiveawayChiSquareCatchesBias(t *testing.T) {
	counts := make([]int, 10)
	for i := range 100_000 {
		b := sha256.Sum256([]byte(fmt.Sprint("bias", i)))
		counts[int(b[0])%10]++ // 256 % 10 != 0: 0..5 are likelier
	}
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - 10_000
		chi += d * d / 10_000
	}
	if chi < chiSquareCrit9 {
		t.Fatalf("a modulo-biased draw passed with chi-square %.2f", chi)
	}
}

func BenchmarkGiveawayDraw10(b *testing.B) {
	entries := make([]WeightedEntry, 10)
	for i := range entries {
		entries[i] = WeightedEntry{EntryNumber: int64(i + 1), Weight: 1}
	}
	seed, lh := make([]byte, 32), make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		drawWinners(seed, lh, 0, entries, nil, 1)
	}
}

func TestMasking(t *testing.T) {
	for _, tc := range []struct{ in, name, contact string }{
		{"Kimberly", "Ki**", ""},
		{"Kim", "K**", ""},
		{"김철수", "김**", ""},
		{"", "**", ""},
	} {
		if got := maskName(tc.in); got != tc.name {
			t.Errorf("maskName(%q) = %q, want %q", tc.in, got, tc.name)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"010-1234-5678", "010-****-5678"},
		{"01012345678", "010****5678"},
		{"alice@example.com", "a***@example.com"},
		{"+1 415 555 0123", "+1 41* *** 0123"},
	} {
		if got := maskContact(tc.in); got != tc.want {
			t.Errorf("maskContact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, c := range []string{"010-1234-5678", "a@b.co", "+44 20 7946 0958"} {
		if !validContact(c) {
			t.Errorf("validContact(%q) = false", c)
		}
	}
	for _, c := range []string{"12", "abc", "a@b", "@b.com", "a b@c.com", "010-1234-5678x"} {
		if validContact(c) {
			t.Errorf("validContact(%q) = true", c)
		}
	}
}
