package sfu

// The subscriber connection's SDP without a PeerConnection: the offer the
// server makes (liteOffer.marshal) and the client's answer to it
// (parseLiteAnswer). The transport behind it (ICE-lite, DTLS, SRTP) is not
// here; this file only writes and checks descriptions.
//
// The offers follow what Pion made for the same tracks (see Participant.negotiate
// before the lite transport) line for line, with these differences:
//
//   - The published track's codec first in its m-section, then, if the
//     caller passes them (liteMedia.MoreCodecs), the kind's other engine
//     codecs; Pion listed every registered codec of the kind in
//     registration order (VP8 first). Only the first is ever sent: the SFU
//     does not transcode. Browsers are content with that one; Pion clients
//     need the others when the codec differs between sections (see
//     MoreCodecs).
//   - a=sendonly for a live track and a=inactive for a removed one. Pion's
//     AddTrack made sendrecv transceivers and RemoveTrack left them recvonly;
//     the server never receives media on this connection.
//   - The fingerprint is in every m-section (as JSEP and Chrome write it)
//     instead of once at session level. Every client reads either.
//   - a=msid-semantic:WMS * with the space RFC 8830's grammar has; Pion wrote
//     "WMS*". Browsers and Pion only look for the WMS token.
//   - No a=ssrc mslabel/label lines: they belong to Plan B, which no current
//     browser speaks; cname and msid per SSRC remain, with the a=msid line.
//   - No trailing space after an rtcp-fb type without parameter ("transport-cc ").
//
// Header extensions are the caller's. What the lead should offer
// (liteExtensions), with the ids today's Pion offers (newMediaEngine's
// registration order) use, so that a client that renegotiates from a
// Pion-made offer to a lite one sees the same ids:
//
//	audio: 1 urn:ietf:params:rtp-hdrext:ssrc-audio-level (DownTrack writes it)
//	       6 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
//	video: 6 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
//
// Pion also offered 2 sdes:mid and 5 abs-send-time on both kinds and
// 3 sdes:rtp-stream-id and 4 sdes:repaired-rtp-stream-id on video; the
// server writes none of them on subscriber streams (every stream's SSRC is
// signalled, so receivers need no mid to demultiplex, and a subscriber gets
// one stream per track, so no rid), and offering an extension nothing writes
// only costs SDP bytes. The transport-cc rtcp-fb in the codecs' feedback
// (newMediaEngine) goes with the transport-cc extension.
//
// For the transport behind these descriptions:
//
//   - The DTLS role is the client's: browsers answer active (we are the DTLS
//     server), but Pion answers an ICE-lite offer passive unless its
//     SettingEngine says otherwise (the test peer and the load tool set the
//     client role), so the server must be able to take either role.
//   - Keep SessionID, ICE credentials and the fingerprint for the
//     connection's life, and grow Version with every offer; new ICE
//     credentials are an ICE restart to every client.
//   - A section the answer did not accept is not an error; nothing is sent
//     there. With MoreCodecs a client may accept the section with another
//     codec only: that is not Accepted either.
//   - On a reused section browsers keep the receiver's MediaStreamTrack
//     (Chrome keeps even its id): the new msid is read from the SDP, as the
//     web client does (web/static/js/sdp.js), and the stream id changes.

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// liteExtension is one offered RTP header extension (a=extmap).
type liteExtension struct {
	ID  int
	URI string
}

// liteMedia is one m-section of a subscriber offer, in order; a section is
// never removed, only made inactive, and an inactive section may be reused
// for a new track of the same kind (same mid, new SSRC/msid), as Pion does
// with transceivers.
type liteMedia struct {
	Mid  string
	Kind webrtc.RTPCodecType
	// Codec is the codec sent, offered first: the published track's, with
	// PayloadType, fmtp and RTCPFeedback as registered in newMediaEngine
	// (liteOfferCodec). An inactive section still needs one for its m= line.
	Codec webrtc.RTPCodecParameters
	// MoreCodecs, optional, are offered after Codec and never sent: the
	// kind's other engine codecs (liteMoreCodecs), as Pion offered every
	// registered codec in every section. Browsers need none. A Pion client
	// (the test peer, the load tool) fixes its codecs of a kind from the
	// first m-section of that kind it ever sees
	// (MediaEngine.updateFromRemoteDescription in pion/webrtc v3) and
	// answers every later section with those: offered one codec per
	// section, it refuses an H264 track once it has seen a VP8 one.
	MoreCodecs []webrtc.RTPCodecParameters
	// Extensions are the offered header extensions of this section, ids 1
	// to 14 (one-byte headers), each id naming the same URI in every section.
	Extensions []liteExtension
	// Active false writes a=inactive and no ssrc/msid lines (track removed).
	Active            bool
	SSRC              uint32
	StreamID, TrackID string // msid: "<StreamID> <TrackID>"; StreamID is also the cname
}

// liteOffer is a subscriber offer: the server is ICE-lite and offers
// setup:actpass, every m-section in one BUNDLE group.
type liteOffer struct {
	SessionID, Version          uint64 // o= line; Version grows with every offer; SessionID < 2^63
	ICEUfrag, ICEPwd            string
	FingerprintAlg, Fingerprint string // "sha-256", "AB:CD:..."
	// Candidates are "candidate:..." attribute values, put in every
	// m-section (bundle), followed by a=end-of-candidates.
	Candidates []string
	Media      []liteMedia
}

// liteFingerprint is one a=fingerprint of an answer: Alg lower case, Value
// upper-case hex pairs.
type liteFingerprint struct {
	Alg, Value string
}

// liteAnswer is what the transport needs from a client's answer.
type liteAnswer struct {
	ICEUfrag, ICEPwd string
	// Fingerprints are the answer's distinct fingerprints (session level
	// and those of its open m-sections); the client's certificate must
	// match one of them.
	Fingerprints []liteFingerprint
	// DTLSServer is true when the answer says a=setup:active (we are the
	// DTLS server) and false for a=setup:passive.
	DTLSServer bool
	Media      map[string]liteAnswerMedia // by mid
}

// liteAnswerMedia is the answer to one m-section.
type liteAnswerMedia struct {
	// Accepted: the offer sent a track there (Active), the answer's port is
	// not 0, its direction is recvonly or sendrecv, and it kept the codec.
	Accepted bool
	// PayloadType is the answer's payload type for the offered codec
	// (matched by name, clock rate and channels, for H264 also
	// packetization-mode and profile-level-id); 0 when the codec was refused.
	PayloadType uint8
	// Extensions maps each offered URI the answer kept to its answered id.
	Extensions map[string]int
}

const crlf = "\r\n"

// liteMoreCodecs returns the engine's other codecs of kind, to offer after
// sent in liteMedia.MoreCodecs.
func liteMoreCodecs(kind webrtc.RTPCodecType, sent webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	var out []webrtc.RTPCodecParameters
	for _, ec := range engineCodecs() {
		if ec.kind == kind && ec.c.PayloadType != sent.PayloadType {
			out = append(out, ec.c)
		}
	}
	return out
}

// Header extension ids of subscriber offers: those of today's Pion offers
// (newMediaEngine registers audio level first, transport-cc sixth).
const (
	liteAudioLevelID  = 1
	liteTransportCCID = 6
)

// liteExtensions returns the header extensions a subscriber offer carries
// for a track of kind.
func liteExtensions(kind webrtc.RTPCodecType) []liteExtension {
	if kind == webrtc.RTPCodecTypeAudio {
		return []liteExtension{{ID: liteAudioLevelID, URI: audioLevelURI}, {ID: liteTransportCCID, URI: sdp.TransportCCURI}}
	}
	return []liteExtension{{ID: liteTransportCCID, URI: sdp.TransportCCURI}}
}

// liteOfferCodec returns the codec to offer for a published track's codec:
// the engine's (payload type, fmtp and RTCP feedback as newMediaEngine
// registers them, as Pion offered them), matched as answers are (MIME type,
// clock rate, channels, for H264 packetization-mode and profile). The
// publisher's own payload type is not the subscriber's: Pion offered the
// engine's numbers, and a BUNDLE needs one codec per number.
func liteOfferCodec(kind webrtc.RTPCodecType, c webrtc.RTPCodecCapability) (webrtc.RTPCodecParameters, bool) {
	_, name, _ := strings.Cut(c.MimeType, "/")
	for _, ec := range engineCodecs() {
		e := ec.c
		if ec.kind != kind || !strings.EqualFold(e.MimeType, c.MimeType) || e.ClockRate != c.ClockRate ||
			max(e.Channels, 1) != max(c.Channels, 1) || !fmtpMatches(name, c.SDPFmtpLine, e.SDPFmtpLine) {
			continue
		}
		return e, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// marshal writes the offer, or says what makes it unusable.
func (o *liteOffer) marshal() (string, error) {
	if err := o.validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(600 + 900*len(o.Media) + 80*len(o.Media)*len(o.Candidates))
	line := func(parts ...string) {
		for _, p := range parts {
			b.WriteString(p)
		}
		b.WriteString(crlf)
	}
	line("v=0")
	line("o=- ", strconv.FormatUint(o.SessionID, 10), " ", strconv.FormatUint(o.Version, 10), " IN IP4 0.0.0.0")
	line("s=-")
	line("t=0 0")
	line("a=msid-semantic:WMS *")
	line("a=ice-lite")
	line("a=extmap-allow-mixed")
	b.WriteString("a=group:BUNDLE")
	for i := range o.Media {
		b.WriteString(" ")
		b.WriteString(o.Media[i].Mid)
	}
	b.WriteString(crlf)

	for i := range o.Media {
		m := &o.Media[i]
		b.WriteString("m=")
		b.WriteString(m.Kind.String())
		b.WriteString(" 9 UDP/TLS/RTP/SAVPF ")
		b.WriteString(strconv.Itoa(int(m.Codec.PayloadType)))
		for _, c := range m.MoreCodecs {
			b.WriteString(" ")
			b.WriteString(strconv.Itoa(int(c.PayloadType)))
		}
		b.WriteString(crlf)
		line("c=IN IP4 0.0.0.0")
		line("a=setup:actpass")
		line("a=mid:", m.Mid)
		line("a=ice-ufrag:", o.ICEUfrag)
		line("a=ice-pwd:", o.ICEPwd)
		line("a=fingerprint:", o.FingerprintAlg, " ", o.Fingerprint)
		line("a=rtcp-mux")
		line("a=rtcp-rsize")
		for j := -1; j < len(m.MoreCodecs); j++ {
			c := m.Codec
			if j >= 0 {
				c = m.MoreCodecs[j]
			}
			pt := strconv.Itoa(int(c.PayloadType))
			line("a=rtpmap:", pt, " ", rtpmapValue(c))
			if c.SDPFmtpLine != "" {
				line("a=fmtp:", pt, " ", c.SDPFmtpLine)
			}
			for _, fb := range c.RTCPFeedback {
				if fb.Parameter == "" {
					line("a=rtcp-fb:", pt, " ", fb.Type)
				} else {
					line("a=rtcp-fb:", pt, " ", fb.Type, " ", fb.Parameter)
				}
			}
		}
		for _, x := range m.Extensions {
			line("a=extmap:", strconv.Itoa(x.ID), " ", x.URI)
		}
		if m.Active {
			ssrc := strconv.FormatUint(uint64(m.SSRC), 10)
			line("a=ssrc:", ssrc, " cname:", m.StreamID)
			line("a=ssrc:", ssrc, " msid:", m.StreamID, " ", m.TrackID)
			line("a=msid:", m.StreamID, " ", m.TrackID)
			line("a=sendonly")
		} else {
			line("a=inactive")
		}
		for _, c := range o.Candidates {
			line("a=", c)
		}
		line("a=end-of-candidates")
	}
	return b.String(), nil
}

// rtpmapValue is "<encoding>/<clock>[/<channels>]", the encoding name being
// the MIME subtype as registered ("opus", "VP8", "H264").
func rtpmapValue(c webrtc.RTPCodecParameters) string {
	_, name, _ := strings.Cut(c.MimeType, "/")
	v := name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
	if c.Channels > 0 {
		v += "/" + strconv.FormatUint(uint64(c.Channels), 10)
	}
	return v
}

func (o *liteOffer) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOffer, fmt.Sprintf(format, args...))
	}
	if len(o.Media) == 0 {
		return bad("no media sections")
	}
	// JSEP 5.2.1: the session id fits a signed 64-bit integer.
	if o.SessionID > math.MaxInt64 {
		return bad("session id %d above 2^63-1", o.SessionID)
	}
	if err := checkICECredentials(o.ICEUfrag, o.ICEPwd); err != nil {
		return bad("%v", err)
	}
	if !isToken(o.FingerprintAlg) || !isFingerprintValue(o.Fingerprint) {
		return bad("fingerprint %q %q", o.FingerprintAlg, o.Fingerprint)
	}
	// A lite agent offers every candidate it has at once (RFC 8445 5.1.1):
	// with none, end-of-candidates tells the client there is nothing to check.
	if len(o.Candidates) == 0 {
		return bad("no candidates")
	}
	for _, c := range o.Candidates {
		if !strings.HasPrefix(c, "candidate:") || !isLineSafe(c) {
			return bad("candidate %q", c)
		}
	}
	mids := make(map[string]bool, len(o.Media))
	ssrcs := make(map[uint32]string, len(o.Media))
	extURI := map[int]string{}                                    // id → URI over the bundle
	ptCodec := map[webrtc.PayloadType]webrtc.RTPCodecParameters{} // payload type → codec over the bundle
	for i := range o.Media {
		m := &o.Media[i]
		// A mid is an SDP token; 16 bytes at most, the most a one-byte
		// sdes:mid header extension carries.
		if len(m.Mid) == 0 || len(m.Mid) > 16 || !isToken(m.Mid) {
			return bad("m-section %d: mid %q", i, m.Mid)
		}
		if mids[m.Mid] {
			return bad("duplicate mid %q", m.Mid)
		}
		mids[m.Mid] = true
		if m.Kind != webrtc.RTPCodecTypeAudio && m.Kind != webrtc.RTPCodecTypeVideo {
			return bad("mid %q: kind %d", m.Mid, m.Kind)
		}
		seenPT := map[webrtc.PayloadType]bool{}
		for j := -1; j < len(m.MoreCodecs); j++ {
			c := m.Codec
			if j >= 0 {
				c = m.MoreCodecs[j]
			}
			if err := checkOfferCodec(m.Kind, c); err != nil {
				return bad("mid %q: %v", m.Mid, err)
			}
			if seenPT[c.PayloadType] {
				return bad("mid %q: payload type %d twice", m.Mid, c.PayloadType)
			}
			seenPT[c.PayloadType] = true
			// BUNDLE: a payload type means one codec in every section
			// (browsers refuse a "codec collision").
			if prev, ok := ptCodec[c.PayloadType]; ok && !sameCodec(prev, c) {
				return bad("payload type %d is %s in one section and %s in mid %q", c.PayloadType, prev.MimeType, c.MimeType, m.Mid)
			}
			ptCodec[c.PayloadType] = c
		}
		seenID, seenURI := map[int]bool{}, map[string]bool{}
		for _, x := range m.Extensions {
			if x.ID < 1 || x.ID > 14 || !isWord(x.URI) {
				return bad("mid %q: extension %d %q", m.Mid, x.ID, x.URI)
			}
			if seenID[x.ID] || seenURI[x.URI] {
				return bad("mid %q: extension %d %q offered twice", m.Mid, x.ID, x.URI)
			}
			seenID[x.ID], seenURI[x.URI] = true, true
			if prev, ok := extURI[x.ID]; ok && prev != x.URI {
				return bad("extension id %d is %q in one section and %q in mid %q", x.ID, prev, x.URI, m.Mid)
			}
			extURI[x.ID] = x.URI
		}
		if !m.Active {
			continue
		}
		if m.SSRC == 0 {
			return bad("mid %q: no SSRC", m.Mid)
		}
		if other, dup := ssrcs[m.SSRC]; dup {
			return bad("SSRC %d in mids %q and %q", m.SSRC, other, m.Mid)
		}
		ssrcs[m.SSRC] = m.Mid
		// RFC 8830 2: msid-id = 1*64token-char.
		if !isToken(m.StreamID) || len(m.StreamID) > 64 || !isToken(m.TrackID) || len(m.TrackID) > 64 {
			return bad("mid %q: msid %q %q", m.Mid, m.StreamID, m.TrackID)
		}
	}
	return nil
}

// checkOfferCodec checks one codec of a section of kind.
func checkOfferCodec(kind webrtc.RTPCodecType, c webrtc.RTPCodecParameters) error {
	k, name, ok := strings.Cut(c.MimeType, "/")
	if !ok || !strings.EqualFold(k, kind.String()) || !isToken(name) {
		return fmt.Errorf("codec %q for %s", c.MimeType, kind)
	}
	if !muxablePayloadType(uint64(c.PayloadType)) {
		return fmt.Errorf("payload type %d", c.PayloadType)
	}
	if c.ClockRate == 0 || !isLineSafe(c.SDPFmtpLine) {
		return fmt.Errorf("%s clock rate %d, fmtp %q", c.MimeType, c.ClockRate, c.SDPFmtpLine)
	}
	for _, fb := range c.RTCPFeedback {
		if !isToken(fb.Type) || (fb.Parameter != "" && !isLineSafe(fb.Parameter)) {
			return fmt.Errorf("rtcp-fb %q %q", fb.Type, fb.Parameter)
		}
	}
	return nil
}

// muxablePayloadType reports whether pt may carry media on a connection
// with rtcp-mux: 0-127 without 64-95, where RTCP packet types sit (RFC 5761
// 4).
func muxablePayloadType(pt uint64) bool {
	return pt <= 127 && (pt < 64 || pt > 95)
}

func sameCodec(a, b webrtc.RTPCodecParameters) bool {
	return strings.EqualFold(a.MimeType, b.MimeType) && a.ClockRate == b.ClockRate &&
		a.Channels == b.Channels && a.SDPFmtpLine == b.SDPFmtpLine
}

// isToken reports whether s is a non-empty RFC 4566 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0x21, c >= 0x23 && c <= 0x27, c == 0x2a, c == 0x2b, c == 0x2d, c == 0x2e,
			c >= 0x30 && c <= 0x39, c >= 0x41 && c <= 0x5a, c >= 0x5e && c <= 0x7e:
		default:
			return false
		}
	}
	return true
}

// isWord reports whether s is non-empty printable ASCII without spaces (a
// URI, say): one field of an attribute.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isLineSafe reports whether s can stand inside one SDP line.
func isLineSafe(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// isICEChars reports whether s is made of RFC 8839 ice-chars.
func isICEChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// checkICECredentials applies RFC 8839 5.4: a ufrag of 4 to 256 and a
// password of 22 to 256 ice-chars.
func checkICECredentials(ufrag, pwd string) error {
	if len(ufrag) < 4 || len(ufrag) > 256 || !isICEChars(ufrag) {
		return fmt.Errorf("ice-ufrag %q", ufrag)
	}
	if len(pwd) < 22 || len(pwd) > 256 || !isICEChars(pwd) {
		return fmt.Errorf("ice-pwd of %d characters or not ice-chars", len(pwd))
	}
	return nil
}

// isFingerprintValue reports whether v is colon-separated hex pairs.
func isFingerprintValue(v string) bool {
	if len(v) < 2 || (len(v)+1)%3 != 0 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// parseLiteAnswer checks an answer against the offer it answers: same number
// and order of m-sections and mids, BUNDLE of the open mids (if the answer
// bundles nothing but has one open section, that is accepted), ICE
// credentials (session or media level; with BUNDLE the tagged section's, the
// first of the group), a fingerprint, a DTLS role (active or passive) and
// rtcp-mux. An m-section the client rejected (port 0), does not receive on or
// whose codec it refused is not an error: its Accepted is false. Malformed or
// mismatched input returns an error wrapping ErrInvalidAnswer.
func parseLiteAnswer(answer string, offer *liteOffer) (liteAnswer, error) {
	bad := func(format string, args ...any) (liteAnswer, error) {
		return liteAnswer{}, fmt.Errorf("%w: %s", ErrInvalidAnswer, fmt.Sprintf(format, args...))
	}
	if offer == nil || len(offer.Media) == 0 {
		return bad("no offer to answer")
	}
	sd, err := unmarshalSDP(answer)
	if err != nil {
		return bad("not SDP: %v", err)
	}
	if len(sd.MediaDescriptions) != len(offer.Media) {
		return bad("%d m-sections answer an offer of %d", len(sd.MediaDescriptions), len(offer.Media))
	}
	if _, lite := sd.Attribute(sdp.AttrKeyICELite); lite {
		// Two lite agents never check, so they never connect.
		return bad("the client is ICE-lite too")
	}

	var bundle []string
	groups := 0
	for _, a := range sd.Attributes {
		if a.Key != sdp.AttrKeyGroup {
			continue
		}
		f := strings.Fields(a.Value)
		if len(f) > 0 && f[0] == "BUNDLE" {
			groups++
			bundle = f[1:]
		}
	}
	if groups > 1 {
		return bad("%d BUNDLE groups", groups)
	}

	res := liteAnswer{Media: make(map[string]liteAnswerMedia, len(offer.Media))}
	open := make([]int, 0, len(offer.Media)) // indexes of sections with a port
	for i, md := range sd.MediaDescriptions {
		om := &offer.Media[i]
		if md.MediaName.Media != om.Kind.String() {
			return bad("m-section %d is %q, offered %s", i, md.MediaName.Media, om.Kind)
		}
		port := md.MediaName.Port.Value
		mid, hasMid := md.Attribute(sdp.AttrKeyMID)
		switch {
		case hasMid && mid != om.Mid:
			return bad("m-section %d has mid %q, offered %q", i, mid, om.Mid)
		case !hasMid && port != 0:
			return bad("m-section %d (mid %q) has no mid", i, om.Mid)
		}
		am := liteAnswerMedia{}
		if port != 0 {
			open = append(open, i)
			if am.Extensions, err = answeredExtensions(md, om); err != nil {
				return bad("mid %q: %v", om.Mid, err)
			}
			pt, ok := answeredPayloadType(md, om.Codec)
			if ok {
				am.PayloadType = pt
			}
			dir := mediaDirection(md)
			am.Accepted = om.Active && ok && (dir == sdp.AttrKeyRecvOnly || dir == sdp.AttrKeySendRecv)
		}
		res.Media[om.Mid] = am
	}
	if len(open) == 0 {
		return bad("every m-section rejected")
	}

	// The transport is the BUNDLE's: every open section must be in it.
	tagged := open[0]
	if len(bundle) == 0 {
		if len(open) > 1 {
			return bad("no BUNDLE group for %d open m-sections", len(open))
		}
	} else {
		inBundle := make(map[string]bool, len(bundle))
		for _, mid := range bundle {
			if _, offered := res.Media[mid]; !offered || inBundle[mid] {
				return bad("BUNDLE names mid %q not offered or twice", mid)
			}
			inBundle[mid] = true
		}
		for _, i := range open {
			if !inBundle[offer.Media[i].Mid] {
				return bad("mid %q is open but not in the BUNDLE group", offer.Media[i].Mid)
			}
		}
		tagged = -1
		for i := range offer.Media {
			if offer.Media[i].Mid == bundle[0] {
				tagged = i
			}
		}
		if sd.MediaDescriptions[tagged].MediaName.Port.Value == 0 {
			return bad("the BUNDLE-tagged m-section (mid %q) is rejected", bundle[0])
		}
	}
	tmd := sd.MediaDescriptions[tagged]

	attr := func(key string) (string, bool) {
		if v, ok := tmd.Attribute(key); ok {
			return strings.TrimSpace(v), true
		}
		v, ok := sd.Attribute(key)
		return strings.TrimSpace(v), ok
	}
	res.ICEUfrag, _ = attr("ice-ufrag")
	res.ICEPwd, _ = attr("ice-pwd")
	if err := checkICECredentials(res.ICEUfrag, res.ICEPwd); err != nil {
		return bad("ICE credentials of mid %q: %v", offer.Media[tagged].Mid, err)
	}

	switch setup, _ := attr(sdp.AttrKeyConnectionSetup); setup {
	case "active":
		res.DTLSServer = true
	case "passive":
		res.DTLSServer = false
	case "":
		return bad("no a=setup")
	default:
		return bad("a=setup:%s in an answer", setup)
	}

	for _, i := range open {
		if _, ok := sd.MediaDescriptions[i].Attribute(sdp.AttrKeyRTCPMux); !ok {
			return bad("mid %q without rtcp-mux", offer.Media[i].Mid)
		}
	}

	addFingerprints := func(attrs []sdp.Attribute) error {
		for _, a := range attrs {
			if a.Key != "fingerprint" {
				continue
			}
			alg, value, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
			value = strings.TrimSpace(value)
			if !ok || !isToken(alg) || !isFingerprintValue(value) {
				return fmt.Errorf("fingerprint %q", a.Value)
			}
			fp := liteFingerprint{Alg: strings.ToLower(alg), Value: strings.ToUpper(value)}
			dup := false
			for _, have := range res.Fingerprints {
				dup = dup || have == fp
			}
			if !dup {
				res.Fingerprints = append(res.Fingerprints, fp)
			}
		}
		return nil
	}
	if err := addFingerprints(sd.Attributes); err != nil {
		return bad("%v", err)
	}
	for _, i := range open {
		if err := addFingerprints(sd.MediaDescriptions[i].Attributes); err != nil {
			return bad("mid %q: %v", offer.Media[i].Mid, err)
		}
	}
	if len(res.Fingerprints) == 0 {
		return bad("no fingerprint")
	}
	return res, nil
}

// unmarshalSDP parses s, turning a panic of the parser on hostile input into
// an error: an answer comes straight from a client.
func unmarshalSDP(s string) (sd *sdp.SessionDescription, err error) {
	defer func() {
		if r := recover(); r != nil {
			sd, err = nil, fmt.Errorf("sdp parser: %v", r)
		}
	}()
	sd = &sdp.SessionDescription{}
	if err := sd.UnmarshalString(s); err != nil {
		return nil, err
	}
	return sd, nil
}

// mediaDirection is the section's direction attribute, sendrecv without one
// (RFC 4566 6).
func mediaDirection(md *sdp.MediaDescription) string {
	for _, a := range md.Attributes {
		switch a.Key {
		case sdp.AttrKeySendOnly, sdp.AttrKeyRecvOnly, sdp.AttrKeySendRecv, sdp.AttrKeyInactive:
			return a.Key
		}
	}
	return sdp.AttrKeySendRecv
}

// answeredExtensions maps each URI offered in om that the answer kept to
// its answered id. Extensions the offer did not make are ignored. A kept
// one's id must fit the one-byte header form the server writes (1-14, RFC
// 8285 4.2) and name one extension: a larger id would be cut to another on
// the wire, and two URIs on one id would overwrite each other.
func answeredExtensions(md *sdp.MediaDescription, om *liteMedia) (map[string]int, error) {
	var out map[string]int
	var used [15]bool
	for _, a := range md.Attributes {
		if a.Key != sdp.AttrKeyExtMap {
			continue
		}
		f := strings.Fields(a.Value)
		if len(f) < 2 {
			return nil, fmt.Errorf("extmap %q", a.Value)
		}
		idStr, _, _ := strings.Cut(f[0], "/") // "id[/direction]"
		id, err := strconv.Atoi(idStr)
		if err != nil || id < 1 || id > 255 {
			return nil, fmt.Errorf("extmap %q", a.Value)
		}
		for _, x := range om.Extensions {
			if x.URI == f[1] {
				if id > 14 || used[id] {
					return nil, fmt.Errorf("extmap %q", a.Value)
				}
				used[id] = true
				if out == nil {
					out = make(map[string]int, len(om.Extensions))
				}
				out[x.URI] = id
			}
		}
	}
	return out, nil
}

// answeredPayloadType finds the answer's payload type for the offered codec
// among the formats of the section's m= line.
func answeredPayloadType(md *sdp.MediaDescription, offered webrtc.RTPCodecParameters) (uint8, bool) {
	_, name, _ := strings.Cut(offered.MimeType, "/")
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		ptStr, enc, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptStr, 10, 7)
		if err != nil || pt == 0 || !muxablePayloadType(pt) || !hasFormat(md, ptStr) {
			continue
		}
		parts := strings.Split(strings.TrimSpace(enc), "/")
		if len(parts) < 2 || len(parts) > 3 || !strings.EqualFold(parts[0], name) {
			continue
		}
		clock, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil || uint32(clock) != offered.ClockRate {
			continue
		}
		ch := uint64(1)
		if len(parts) == 3 {
			if ch, err = strconv.ParseUint(parts[2], 10, 16); err != nil {
				continue
			}
		}
		if ch != uint64(max(offered.Channels, 1)) {
			continue
		}
		if !fmtpMatches(name, fmtpOf(md, ptStr), offered.SDPFmtpLine) {
			continue
		}
		return uint8(pt), true
	}
	return 0, false
}

func hasFormat(md *sdp.MediaDescription, pt string) bool {
	for _, f := range md.MediaName.Formats {
		if f == pt {
			return true
		}
	}
	return false
}

// fmtpOf returns the a=fmtp parameters of payload type pt in md.
func fmtpOf(md *sdp.MediaDescription, pt string) string {
	for _, a := range md.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		if p, params, ok := strings.Cut(strings.TrimSpace(a.Value), " "); ok && p == pt {
			return params
		}
	}
	return ""
}

// fmtpMatches compares the parameters that make a different codec, as Pion
// does (internal/fmtp): for H264 packetization-mode and the profile part
// (first two bytes) of profile-level-id, for VP9 profile-id. The level and
// the other parameters are the receiver's to state.
func fmtpMatches(name, answered, offered string) bool {
	a, o := fmtpParams(answered), fmtpParams(offered)
	get := func(m map[string]string, key, def string) string {
		if v, ok := m[key]; ok {
			return v
		}
		return def
	}
	switch strings.ToLower(name) {
	case "h264":
		if get(a, "packetization-mode", "0") != get(o, "packetization-mode", "0") {
			return false
		}
		// RFC 6184 8.1: 420010 without the parameter.
		ap, op := get(a, "profile-level-id", "420010"), get(o, "profile-level-id", "420010")
		return len(ap) == 6 && len(op) == 6 && strings.EqualFold(ap[:4], op[:4])
	case "vp9":
		return get(a, "profile-id", "0") == get(o, "profile-id", "0")
	}
	return true
}

func fmtpParams(line string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			out[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return out
}
