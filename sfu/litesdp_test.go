package sfu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand"
	"os"
	"strings"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// liteTestFingerprint is the sha-256 fingerprint of a fresh certificate, in
// the upper case Pion writes.
func liteTestFingerprint(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	fps, err := cert.GetFingerprints()
	if err != nil {
		t.Fatal(err)
	}
	for _, fp := range fps {
		if fp.Algorithm == "sha-256" {
			return strings.ToUpper(fp.Value)
		}
	}
	t.Fatal("no sha-256 fingerprint")
	return ""
}

func liteTestOffer(t *testing.T, media ...liteMedia) *liteOffer {
	t.Helper()
	return &liteOffer{
		SessionID: 4611686018427387905, Version: 2,
		ICEUfrag: "HfyOCItKVsyzpoVH", ICEPwd: "yBPRsmmSpVQJGcdkVcMIZMxHMsYCfjmV",
		FingerprintAlg: "sha-256", Fingerprint: liteTestFingerprint(t),
		// Nobody listens there: the clients' checks go nowhere.
		Candidates: []string{"candidate:2878742611 1 udp 2130706431 127.0.0.1 9 typ host"},
		Media:      media,
	}
}

func liteTestCodec(t *testing.T, kind webrtc.RTPCodecType, mime, fmtp string) webrtc.RTPCodecParameters {
	t.Helper()
	capa := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp}
	if kind == webrtc.RTPCodecTypeAudio {
		capa.ClockRate, capa.Channels = 48000, 2
	}
	c, ok := liteOfferCodec(kind, capa)
	if !ok {
		t.Fatalf("no engine codec for %s %q", mime, fmtp)
	}
	return c
}

func liteAudio(t *testing.T, mid string, ssrc uint32, stream, track string) liteMedia {
	return liteMedia{Mid: mid, Kind: webrtc.RTPCodecTypeAudio,
		Codec:      liteTestCodec(t, webrtc.RTPCodecTypeAudio, webrtc.MimeTypeOpus, "minptime=10;useinbandfec=1"),
		Extensions: liteExtensions(webrtc.RTPCodecTypeAudio),
		Active:     true, SSRC: ssrc, StreamID: stream, TrackID: track}
}

func liteVideo(t *testing.T, mid, mime, fmtp string, ssrc uint32, stream, track string) liteMedia {
	return liteMedia{Mid: mid, Kind: webrtc.RTPCodecTypeVideo,
		Codec:      liteTestCodec(t, webrtc.RTPCodecTypeVideo, mime, fmtp),
		Extensions: liteExtensions(webrtc.RTPCodecTypeVideo),
		Active:     true, SSRC: ssrc, StreamID: stream, TrackID: track}
}

const liteH264CB = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"

func mustMarshal(t *testing.T, o *liteOffer) string {
	t.Helper()
	s, err := o.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// liteSDPClient is a Pion client of the subscriber connection. role 0 is the
// default API (webrtc.NewPeerConnection); otherwise the client answers
// with that DTLS role and also speaks the audio level extension.
func liteSDPClient(t *testing.T, role webrtc.DTLSRole) *webrtc.PeerConnection {
	t.Helper()
	var pc *webrtc.PeerConnection
	var err error
	if role == 0 {
		pc, err = webrtc.NewPeerConnection(webrtc.Configuration{})
	} else {
		m := &webrtc.MediaEngine{}
		if err := m.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
		reg := &interceptor.Registry{}
		if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
			t.Fatal(err)
		}
		se := webrtc.SettingEngine{}
		if err := se.SetAnsweringDTLSRole(role); err != nil {
			t.Fatal(err)
		}
		pc, err = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg),
			webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// liteExchange gives the offer to the client and parses its answer.
func liteExchange(t *testing.T, pc *webrtc.PeerConnection, o *liteOffer) liteAnswer {
	t.Helper()
	text := mustMarshal(t, o)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: text}); err != nil {
		t.Fatalf("client refused the offer: %v\n%s", err, text)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	res, err := parseLiteAnswer(pc.LocalDescription().SDP, o)
	if err != nil {
		t.Fatalf("parse answer: %v\n%s", err, pc.LocalDescription().SDP)
	}
	return res
}

// checkLiteClient checks the answer's transport parameters against the
// client's own, and its receivers against the offer's active sections.
func checkLiteClient(t *testing.T, pc *webrtc.PeerConnection, o *liteOffer, res liteAnswer) {
	t.Helper()
	dtls := pc.SCTP().Transport()
	// The client's credentials as its own description states them: its ICE
	// transport's (GetLocalParameters) cannot be read while Pion starts
	// that transport without a data race inside Pion.
	local, err := pc.LocalDescription().Unmarshal()
	if err != nil || len(local.MediaDescriptions) == 0 {
		t.Fatalf("client's description: %v", err)
	}
	ufrag, _ := local.MediaDescriptions[0].Attribute("ice-ufrag")
	pwd, _ := local.MediaDescriptions[0].Attribute("ice-pwd")
	if res.ICEUfrag != ufrag || res.ICEPwd != pwd || ufrag == "" {
		t.Errorf("ICE credentials %q %q, client has %q %q", res.ICEUfrag, res.ICEPwd, ufrag, pwd)
	}
	dp, err := dtls.GetLocalParameters()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fingerprints) != 1 || len(dp.Fingerprints) == 0 ||
		res.Fingerprints[0] != (liteFingerprint{Alg: dp.Fingerprints[0].Algorithm, Value: strings.ToUpper(dp.Fingerprints[0].Value)}) {
		t.Errorf("fingerprints %v, client has %v", res.Fingerprints, dp.Fingerprints)
	}
	byMid := map[string]*webrtc.RTPTransceiver{}
	for _, tr := range pc.GetTransceivers() {
		byMid[tr.Mid()] = tr
	}
	for _, m := range o.Media {
		am, ok := res.Media[m.Mid]
		if !ok {
			t.Errorf("mid %q missing from the answer", m.Mid)
			continue
		}
		tr := byMid[m.Mid]
		if tr == nil || tr.Kind() != m.Kind {
			t.Errorf("mid %q: client transceiver %v", m.Mid, tr)
			continue
		}
		if am.Accepted != m.Active {
			t.Errorf("mid %q: accepted %t, offered active %t", m.Mid, am.Accepted, m.Active)
		}
		if !m.Active {
			continue
		}
		if am.PayloadType != uint8(m.Codec.PayloadType) {
			t.Errorf("mid %q: payload type %d, offered %d", m.Mid, am.PayloadType, m.Codec.PayloadType)
		}
		if id := am.Extensions[sdp.TransportCCURI]; id != liteTransportCCID {
			t.Errorf("mid %q: transport-cc id %d (answered %v)", m.Mid, id, am.Extensions)
		}
		track := tr.Receiver().Track()
		if track == nil {
			t.Errorf("mid %q: no receiver track", m.Mid)
			continue
		}
		if track.StreamID() != m.StreamID || track.ID() != m.TrackID || uint32(track.SSRC()) != m.SSRC {
			t.Errorf("mid %q: client track %s %s ssrc %d, offered %s %s ssrc %d", m.Mid,
				track.StreamID(), track.ID(), track.SSRC(), m.StreamID, m.TrackID, m.SSRC)
		}
	}
}

// The lite offer uses the payload types and extension ids of the offers
// Pion makes from the engine today.
func TestLiteOfferMatchesPionIDs(t *testing.T) {
	e := newTestEngine(t)
	pc, _, err := e.newSubscriberPC()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, mime := range []string{webrtc.MimeTypeOpus, webrtc.MimeTypeVP8} {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime}, "TR_"+mime[6:], "P1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := offer.Unmarshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range parsed.MediaDescriptions {
		kind := webrtc.NewRTPCodecType(md.MediaName.Media)
		pion := map[string]bool{} // "extmap <id> <uri>", "codec <pt> <rtpmap> <fmtp>"
		fmtp := map[string]string{}
		for _, a := range md.Attributes {
			if a.Key == "fmtp" {
				pt, v, _ := strings.Cut(a.Value, " ")
				fmtp[pt] = v
			}
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "extmap":
				pion["extmap "+a.Value] = true
			case "rtpmap":
				pt, _, _ := strings.Cut(a.Value, " ")
				pion["codec "+a.Value+" "+fmtp[pt]] = true
			}
		}
		for _, x := range liteExtensions(kind) {
			if !pion[fmt.Sprintf("extmap %d %s", x.ID, x.URI)] {
				t.Errorf("%s: Pion does not offer %s as %d: %v", kind, x.URI, x.ID, pion)
			}
		}
		for _, ec := range engineCodecs() {
			if ec.kind != kind {
				continue
			}
			c := ec.c
			lite, ok := liteOfferCodec(kind, c.RTPCodecCapability)
			if !ok || lite.PayloadType != c.PayloadType {
				t.Errorf("%s: lite codec %v %t", c.MimeType, lite, ok)
			}
			if !pion[fmt.Sprintf("codec %d %s %s", lite.PayloadType, rtpmapValue(lite), lite.SDPFmtpLine)] {
				t.Errorf("%s %s: Pion does not offer payload type %d: %v", c.MimeType, c.SDPFmtpLine, lite.PayloadType, pion)
			}
			more := liteMoreCodecs(kind, lite)
			if len(more)+1 != len(md.MediaName.Formats) {
				t.Errorf("%s: %d more codecs, Pion offers %v", c.MimeType, len(more), md.MediaName.Formats)
			}
		}
	}
}

func TestLiteOfferMarshal(t *testing.T) {
	o := liteTestOffer(t,
		liteAudio(t, "0", 1111, "P1", "TR_a"),
		liteVideo(t, "1", webrtc.MimeTypeVP8, "", 2222, "P1", "TR_v"),
		liteMedia{Mid: "2", Kind: webrtc.RTPCodecTypeVideo, Codec: liteTestCodec(t, webrtc.RTPCodecTypeVideo, webrtc.MimeTypeH264, liteH264CB),
			Extensions: liteExtensions(webrtc.RTPCodecTypeVideo)})
	s := mustMarshal(t, o)
	t.Logf("offer:\n%s", s)
	if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") || !strings.HasSuffix(s, "\r\n") {
		t.Error("lines do not all end in CRLF")
	}
	for _, want := range []string{
		"v=0\r\no=- 4611686018427387905 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
		"\r\na=group:BUNDLE 0 1 2\r\n", "\r\na=ice-lite\r\n", "\r\na=msid-semantic:WMS *\r\n",
		"\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n",
		"\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtcp-fb:111 transport-cc\r\n",
		"\r\na=rtcp-fb:96 nack pli\r\n", "\r\na=fmtp:102 " + liteH264CB + "\r\n",
		"\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n",
		"\r\na=ssrc:1111 cname:P1\r\na=ssrc:1111 msid:P1 TR_a\r\na=msid:P1 TR_a\r\na=sendonly\r\n",
		"\r\na=msid:P1 TR_v\r\na=sendonly\r\n", "\r\na=inactive\r\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("offer lacks %q", want)
		}
	}
	for _, n := range []struct {
		what string
		want int
	}{{"a=setup:actpass\r\n", 3}, {"a=rtcp-mux\r\n", 3}, {"a=end-of-candidates\r\n", 3}, {"a=fingerprint:sha-256 ", 3},
		{"a=ice-ufrag:HfyOCItKVsyzpoVH\r\n", 3}, {"a=candidate:", 3}, {"a=sendonly", 2}, {"a=ssrc:", 4}} {
		if got := strings.Count(s, n.what); got != n.want {
			t.Errorf("%q %d times, want %d", n.what, got, n.want)
		}
	}
	if _, err := unmarshalSDP(s); err != nil {
		t.Errorf("pion/sdp cannot read the offer: %v", err)
	}
	o.Media[1].MoreCodecs = liteMoreCodecs(webrtc.RTPCodecTypeVideo, o.Media[1].Codec)
	s = mustMarshal(t, o)
	for _, want := range []string{"\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 102 104 98\r\n", "\r\na=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("offer with more codecs lacks %q", want)
		}
	}

	bad := []struct {
		name   string
		change func(o *liteOffer)
	}{
		{"no media", func(o *liteOffer) { o.Media = nil }},
		{"duplicate mid", func(o *liteOffer) { o.Media[1].Mid = "0" }},
		{"empty mid", func(o *liteOffer) { o.Media[0].Mid = "" }},
		{"mid with a space", func(o *liteOffer) { o.Media[0].Mid = "a b" }},
		{"bad kind", func(o *liteOffer) { o.Media[0].Kind = 0 }},
		{"audio codec in video", func(o *liteOffer) { o.Media[1].Codec = o.Media[0].Codec }},
		{"rtcp payload type", func(o *liteOffer) { o.Media[1].Codec.PayloadType = 72 }},
		{"payload type collision", func(o *liteOffer) { o.Media[2].Codec.PayloadType = 96 }},
		{"no ssrc", func(o *liteOffer) { o.Media[0].SSRC = 0 }},
		{"duplicate ssrc", func(o *liteOffer) { o.Media[1].SSRC = o.Media[0].SSRC }},
		{"msid with a space", func(o *liteOffer) { o.Media[0].StreamID = "P 1" }},
		{"no track id", func(o *liteOffer) { o.Media[0].TrackID = "" }},
		{"extension id 15", func(o *liteOffer) { o.Media[0].Extensions[0].ID = 15 }},
		{"extension id reused", func(o *liteOffer) { o.Media[1].Extensions = []liteExtension{{ID: 1, URI: sdp.TransportCCURI}} }},
		{"extension twice", func(o *liteOffer) { o.Media[1].Extensions = append(o.Media[1].Extensions, o.Media[1].Extensions[0]) }},
		{"short ice-pwd", func(o *liteOffer) { o.ICEPwd = "short" }},
		{"bad fingerprint", func(o *liteOffer) { o.Fingerprint = "XY:12" }},
		{"candidate with newline", func(o *liteOffer) { o.Candidates = []string{"candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=x"} }},
		{"no candidates", func(o *liteOffer) { o.Candidates = nil }},
		{"not a candidate", func(o *liteOffer) { o.Candidates = []string{"end-of-candidates"} }},
		{"session id above 2^63", func(o *liteOffer) { o.SessionID = 1 << 63 }},
		{"more codecs repeat the payload type", func(o *liteOffer) { o.Media[1].MoreCodecs = []webrtc.RTPCodecParameters{o.Media[1].Codec} }},
		{"audio among more video codecs", func(o *liteOffer) { o.Media[1].MoreCodecs = []webrtc.RTPCodecParameters{o.Media[0].Codec} }},
		{"fmtp with newline", func(o *liteOffer) { o.Media[0].Codec.SDPFmtpLine = "a=1\r\nb=2" }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			o := liteTestOffer(t, liteAudio(t, "0", 1111, "P1", "TR_a"), liteVideo(t, "1", webrtc.MimeTypeVP8, "", 2222, "P1", "TR_v"),
				liteVideo(t, "2", webrtc.MimeTypeH264, liteH264CB, 3333, "P1", "TR_s"))
			tc.change(o)
			if s, err := o.marshal(); !errors.Is(err, ErrInvalidOffer) {
				t.Fatalf("marshal: %v\n%s", err, s)
			}
		})
	}
}

// A Pion client (the test peer and the load tool are Pion) accepts the
// offers, and its answers parse to what it negotiated.
func TestLiteSDPPionRoundTrip(t *testing.T) {
	cases := []struct {
		name  string
		media func(t *testing.T) []liteMedia
	}{
		{"opus and vp8", func(t *testing.T) []liteMedia {
			return []liteMedia{liteAudio(t, "0", 3735928559, "PA_alice", "TR_a1"),
				liteVideo(t, "1", webrtc.MimeTypeVP8, "", 12345678, "PA_alice", "TR_v1")}
		}},
		{"h264 and an inactive section", func(t *testing.T) []liteMedia {
			inactive := liteVideo(t, "2", webrtc.MimeTypeVP8, "", 0, "", "")
			inactive.Active = false
			return []liteMedia{liteAudio(t, "0", 1, "PA_bob", "TR_a2"),
				liteVideo(t, "1", webrtc.MimeTypeH264, liteH264CB, 2, "PA_bob", "TR_v2"), inactive}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pc := liteSDPClient(t, 0)
			o := liteTestOffer(t, tc.media(t)...)
			res := liteExchange(t, pc, o)
			checkLiteClient(t, pc, o, res)
			// Pion answers an ICE-lite offer passive unless told otherwise
			// (the test peer and the load tool set the client role).
			if res.DTLSServer {
				t.Error("a default Pion client answered active")
			}
		})
	}
}

func TestLiteSDPPionDTLSRole(t *testing.T) {
	for _, tc := range []struct {
		role       webrtc.DTLSRole
		wantServer bool
	}{{webrtc.DTLSRoleClient, true}, {webrtc.DTLSRoleServer, false}} {
		t.Run(tc.role.String(), func(t *testing.T) {
			pc := liteSDPClient(t, tc.role)
			o := liteTestOffer(t, liteAudio(t, "0", 7, "P1", "TR_a"), liteVideo(t, "1", webrtc.MimeTypeVP8, "", 8, "P1", "TR_v"))
			res := liteExchange(t, pc, o)
			checkLiteClient(t, pc, o, res)
			if res.DTLSServer != tc.wantServer {
				t.Errorf("DTLSServer %t, want %t", res.DTLSServer, tc.wantServer)
			}
			if id := res.Media["0"].Extensions[audioLevelURI]; id != liteAudioLevelID {
				t.Errorf("audio level id %d, answered %v", id, res.Media["0"].Extensions)
			}
		})
	}
}

// Renegotiation: sections are made inactive, added, and reused for a new
// track of the same kind (new SSRC and msid, even a new codec).
func TestLiteSDPPionRenegotiation(t *testing.T) {
	// Every codec of the kind in every section, as Pion offered: see
	// liteMedia.MoreCodecs and TestLiteSDPPionOneCodec.
	more := func(m liteMedia) liteMedia {
		m.MoreCodecs = liteMoreCodecs(m.Kind, m.Codec)
		return m
	}
	pc := liteSDPClient(t, 0)
	o := liteTestOffer(t, more(liteAudio(t, "0", 100, "PA_1", "TR_a1")), more(liteVideo(t, "1", webrtc.MimeTypeVP8, "", 101, "PA_1", "TR_v1")))
	checkLiteClient(t, pc, o, liteExchange(t, pc, o))

	steps := []struct {
		name   string
		change func(o *liteOffer)
	}{
		{"remove audio, add video", func(o *liteOffer) {
			o.Media[0].Active = false
			o.Media = append(o.Media, more(liteVideo(t, "2", webrtc.MimeTypeVP8, "", 102, "PA_2", "TR_v2")))
		}},
		{"reuse the audio section, remove a video", func(o *liteOffer) {
			o.Media[0] = more(liteAudio(t, "0", 103, "PA_3", "TR_a3"))
			o.Media[1].Active = false
		}},
		{"reuse a VP8 section for H264", func(o *liteOffer) {
			o.Media[1] = more(liteVideo(t, "1", webrtc.MimeTypeH264, liteH264CB, 104, "PA_3", "TR_v3"))
		}},
		{"remove everything", func(o *liteOffer) {
			for i := range o.Media {
				o.Media[i].Active = false
			}
		}},
	}
	for _, st := range steps {
		o.Version++
		st.change(o)
		res := liteExchange(t, pc, o)
		checkLiteClient(t, pc, o, res)
		if t.Failed() {
			t.Fatalf("after %q", st.name)
		}
	}
}

// A Pion client takes its codecs of a kind from the first section of that
// kind it sees: offered one codec per section, it answers a later H264
// section with VP8, which parses as refused, not as an error.
func TestLiteSDPPionOneCodec(t *testing.T) {
	pc := liteSDPClient(t, 0)
	o := liteTestOffer(t, liteVideo(t, "0", webrtc.MimeTypeVP8, "", 1, "P1", "TR_v"))
	checkLiteClient(t, pc, o, liteExchange(t, pc, o))
	o.Version++
	o.Media = append(o.Media, liteVideo(t, "1", webrtc.MimeTypeH264, liteH264CB, 2, "P2", "TR_h"))
	res := liteExchange(t, pc, o)
	if !res.Media["0"].Accepted || res.Media["1"].Accepted || res.Media["1"].PayloadType != 0 {
		t.Errorf("answer %+v", res.Media)
	}
	// With the other codecs offered too, the same client accepts it.
	pc = liteSDPClient(t, 0)
	o.Media = o.Media[:1]
	o.Media[0].MoreCodecs = liteMoreCodecs(webrtc.RTPCodecTypeVideo, o.Media[0].Codec)
	checkLiteClient(t, pc, o, liteExchange(t, pc, o))
	o.Version++
	h := liteVideo(t, "1", webrtc.MimeTypeH264, liteH264CB, 2, "P2", "TR_h")
	h.MoreCodecs = liteMoreCodecs(webrtc.RTPCodecTypeVideo, h.Codec)
	o.Media = append(o.Media, h)
	checkLiteClient(t, pc, o, liteExchange(t, pc, o))
}

// chromeAnswer is what Chrome answers to an offer of an audio (mid 0) and a
// video (mid 1) track: transport attributes in each m-section, none at
// session level.
const chromeAnswer = `v=0
o=- 6230470116307227372 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:k3Xb
a=ice-pwd:Wq7pAR2rBzCZ0o8Pl0fyG3aD
a=ice-options:trickle
a=fingerprint:sha-256 1D:5F:2C:9A:77:0B:E4:41:56:C8:3A:90:B2:6E:11:F7:0C:AA:52:19:8D:E3:64:7B:20:9F:C1:45:D6:38:EE:02
a=setup:active
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:6 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=recvonly
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
m=video 9 UDP/TLS/RTP/SAVPF 96
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:k3Xb
a=ice-pwd:Wq7pAR2rBzCZ0o8Pl0fyG3aD
a=ice-options:trickle
a=fingerprint:sha-256 1D:5F:2C:9A:77:0B:E4:41:56:C8:3A:90:B2:6E:11:F7:0C:AA:52:19:8D:E3:64:7B:20:9F:C1:45:D6:38:EE:02
a=setup:active
a=mid:1
a=extmap:6 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=recvonly
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
`

func chromeOffer(t *testing.T) (*liteOffer, string) {
	o := liteTestOffer(t, liteAudio(t, "0", 1, "P1", "TR_a"), liteVideo(t, "1", webrtc.MimeTypeVP8, "", 2, "P1", "TR_v"))
	return o, strings.ReplaceAll(chromeAnswer, "\n", "\r\n")
}

func TestLiteAnswerChrome(t *testing.T) {
	o, answer := chromeOffer(t)
	res, err := parseLiteAnswer(answer, o)
	if err != nil {
		t.Fatal(err)
	}
	want := liteAnswer{
		ICEUfrag: "k3Xb", ICEPwd: "Wq7pAR2rBzCZ0o8Pl0fyG3aD", DTLSServer: true,
		Fingerprints: []liteFingerprint{{"sha-256", "1D:5F:2C:9A:77:0B:E4:41:56:C8:3A:90:B2:6E:11:F7:0C:AA:52:19:8D:E3:64:7B:20:9F:C1:45:D6:38:EE:02"}},
		Media: map[string]liteAnswerMedia{
			"0": {Accepted: true, PayloadType: 111, Extensions: map[string]int{audioLevelURI: 1, sdp.TransportCCURI: 6}},
			"1": {Accepted: true, PayloadType: 96, Extensions: map[string]int{sdp.TransportCCURI: 6}},
		},
	}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", res, want)
	}
	// Session-level transport attributes (as Firefox may write them) and a
	// single unbundled section are read too.
	session := answer
	for _, key := range []string{"ice-ufrag", "ice-pwd", "setup"} {
		session = removeLines(session, "a="+key+":")
	}
	session = strings.Replace(session, "t=0 0\r\n", "t=0 0\r\na=ice-ufrag:sEsS\r\na=ice-pwd:SessionLevelPassword00000\r\na=fingerprint:sha-256 AA:BB\r\na=setup:passive\r\n", 1)
	res, err = parseLiteAnswer(session, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.ICEUfrag != "sEsS" || res.DTLSServer || len(res.Fingerprints) != 2 {
		t.Errorf("session level: %+v", res)
	}
	one, _ := parseLiteAnswer(strings.Replace(removeLines(answer, "a=group:"), "m=video 9", "m=video 0", 1), o)
	if !one.Media["0"].Accepted || one.Media["1"].Accepted {
		t.Errorf("unbundled single section: %+v", one)
	}
}

// removeLines drops the lines starting with prefix.
func removeLines(s, prefix string) string {
	lines := strings.SplitAfter(s, "\r\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func TestLiteAnswerBad(t *testing.T) {
	cases := []struct {
		name   string
		change func(s string) string
		// accepted, when set, means no error and these Accepted values by
		// mid "0", "1".
		accepted []bool
	}{
		{"not SDP", func(string) string { return "hello" }, nil},
		{"empty", func(string) string { return "" }, nil},
		{"fewer m-sections", func(s string) string { return s[:strings.Index(s, "m=video")] }, nil},
		{"mids swapped", func(s string) string {
			return strings.NewReplacer("a=mid:0", "a=mid:1", "a=mid:1", "a=mid:0").Replace(s)
		}, nil},
		{"kinds swapped", func(s string) string {
			return strings.NewReplacer("m=audio", "m=video", "m=video", "m=audio").Replace(s)
		}, nil},
		{"missing mid", func(s string) string { return removeLines(s, "a=mid:1") }, nil},
		{"no ufrag", func(s string) string { return removeLines(s, "a=ice-ufrag") }, nil},
		{"no pwd", func(s string) string { return removeLines(s, "a=ice-pwd") }, nil},
		{"no fingerprint", func(s string) string { return removeLines(s, "a=fingerprint") }, nil},
		{"bad fingerprint", func(s string) string { return strings.ReplaceAll(s, "sha-256 1D:5F", "sha-256 1D5F") }, nil},
		{"setup actpass", func(s string) string { return strings.ReplaceAll(s, "setup:active", "setup:actpass") }, nil},
		{"setup holdconn", func(s string) string { return strings.ReplaceAll(s, "setup:active", "setup:holdconn") }, nil},
		{"no setup", func(s string) string { return removeLines(s, "a=setup") }, nil},
		{"no rtcp-mux", func(s string) string { return removeLines(s, "a=rtcp-mux") }, nil},
		{"no BUNDLE", func(s string) string { return removeLines(s, "a=group") }, nil},
		{"video not bundled", func(s string) string { return strings.Replace(s, "BUNDLE 0 1", "BUNDLE 0", 1) }, nil},
		{"unknown mid bundled", func(s string) string { return strings.Replace(s, "BUNDLE 0 1", "BUNDLE 0 1 7", 1) }, nil},
		{"client is lite", func(s string) string { return strings.Replace(s, "t=0 0\r\n", "t=0 0\r\na=ice-lite\r\n", 1) }, nil},
		{"bad extmap", func(s string) string { return strings.Replace(s, "a=extmap:6 ", "a=extmap:x ", 1) }, nil},
		{"extmap id past the one-byte form", func(s string) string { return strings.Replace(s, "a=extmap:6 ", "a=extmap:17 ", 1) }, nil},
		{"extmap id 15", func(s string) string { return strings.Replace(s, "a=extmap:6 ", "a=extmap:15 ", 1) }, nil},
		{"two extensions on one id", func(s string) string { return strings.Replace(s, "a=extmap:6 ", "a=extmap:1 ", 1) }, nil},
		{"video payload type in the RTCP range", func(s string) string {
			return strings.NewReplacer("SAVPF 96", "SAVPF 72", "a=rtpmap:96 VP8", "a=rtpmap:72 VP8").Replace(s)
		}, []bool{true, false}},
		{"every section rejected", func(s string) string {
			return strings.NewReplacer("m=audio 9", "m=audio 0", "m=video 9", "m=video 0").Replace(s)
		}, nil},
		{"bundle tag rejected", func(s string) string { return strings.Replace(s, "m=audio 9", "m=audio 0", 1) }, nil},
		{"video port 0", func(s string) string {
			return strings.Replace(strings.Replace(s, "m=video 9", "m=video 0", 1), "BUNDLE 0 1", "BUNDLE 0", 1)
		}, []bool{true, false}},
		{"video payload type not offered", func(s string) string {
			return strings.NewReplacer("m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 UDP/TLS/RTP/SAVPF 98", "a=rtpmap:96 VP8", "a=rtpmap:98 VP9").Replace(s)
		}, []bool{true, false}},
		{"audio inactive", func(s string) string { return strings.Replace(s, "a=recvonly", "a=inactive", 1) }, []bool{false, true}},
		{"audio sendonly", func(s string) string { return strings.Replace(s, "a=recvonly", "a=sendonly", 1) }, []bool{false, true}},
		{"no direction is sendrecv", func(s string) string { return removeLines(s, "a=recvonly") }, []bool{true, true}},
		{"other payload type number", func(s string) string {
			return strings.NewReplacer("SAVPF 96", "SAVPF 100", "a=rtpmap:96 VP8", "a=rtpmap:100 VP8").Replace(s)
		}, []bool{true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, answer := chromeOffer(t)
			res, err := parseLiteAnswer(tc.change(answer), o)
			if tc.accepted == nil {
				if !errors.Is(err, ErrInvalidAnswer) {
					t.Fatalf("want ErrInvalidAnswer, got %v (%+v)", err, res)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.accepted {
				mid := fmt.Sprint(i)
				if got := res.Media[mid]; got.Accepted != want || (want && got.PayloadType == 0) {
					t.Errorf("mid %s: %+v, want accepted %t", mid, got, want)
				}
			}
		})
	}
	if _, err := parseLiteAnswer(chromeAnswer, nil); !errors.Is(err, ErrInvalidAnswer) {
		t.Errorf("nil offer: %v", err)
	}
}

// Truncated and corrupted answers return an answer or an ErrInvalidAnswer,
// never panic.
func TestLiteAnswerTruncated(t *testing.T) {
	o, answer := chromeOffer(t)
	inputs := []string{}
	for n := 0; n <= len(answer); n += 3 {
		inputs = append(inputs, answer[:n])
	}
	rng := mrand.New(mrand.NewSource(1))
	junk := []byte(" \r\n:/=0a\x00\xff")
	for i := 0; i < 500; i++ {
		b := []byte(answer)
		for j := 0; j < 1+rng.Intn(4); j++ {
			b[rng.Intn(len(b))] = junk[rng.Intn(len(junk))]
		}
		inputs = append(inputs, string(b))
	}
	// Line-level edits: a line dropped or doubled.
	lines := strings.SplitAfter(answer, "\r\n")
	for i := range lines {
		inputs = append(inputs, strings.Join(append(append([]string{}, lines[:i]...), lines[i+1:]...), ""))
		inputs = append(inputs, strings.Join(append(append([]string{}, lines[:i+1]...), lines[i:]...), ""))
	}
	for _, in := range inputs {
		if _, err := parseLiteAnswer(in, o); err != nil && !errors.Is(err, ErrInvalidAnswer) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// Real browsers' answers to lite offers (testdata/litesdp_browsers.json,
// recorded with headless browsers that were given each offer in turn on one
// RTCPeerConnection: a first offer, a section made inactive and one added, an
// inactive section reused for a new track, a VP8 section reused for H264, a
// section with MoreCodecs) parse to what the offers asked for. Refused lists
// the mids a client could not take (Firefox without OpenH264 rejects an
// H264-only section with port 0): those parse as not accepted, not as errors.
func TestLiteAnswerBrowsers(t *testing.T) {
	b, err := os.ReadFile("testdata/litesdp_browsers.json")
	if err != nil {
		t.Fatal(err)
	}
	var clients []struct {
		Client    string
		Exchanges []struct {
			Offer   liteOffer
			Answer  string
			Refused []string
		}
	}
	if err := json.Unmarshal(b, &clients); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		t.Run(c.Client, func(t *testing.T) {
			if len(c.Exchanges) == 0 {
				t.Fatal("no exchanges")
			}
			for i, ex := range c.Exchanges {
				o := &ex.Offer
				if _, err := o.marshal(); err != nil {
					t.Fatalf("offer %d: %v", i, err)
				}
				res, err := parseLiteAnswer(ex.Answer, o)
				if err != nil {
					t.Fatalf("answer %d: %v\n%s", i, err, ex.Answer)
				}
				if !res.DTLSServer || res.ICEUfrag == "" || len(res.Fingerprints) != 1 {
					t.Errorf("answer %d: setup active %t, ufrag %q, fingerprints %v", i, res.DTLSServer, res.ICEUfrag, res.Fingerprints)
				}
				for _, m := range o.Media {
					am := res.Media[m.Mid]
					for _, mid := range ex.Refused {
						if mid == m.Mid {
							m.Active = false // expected refused
						}
					}
					if am.Accepted != m.Active || (m.Active && am.PayloadType != uint8(m.Codec.PayloadType)) {
						t.Errorf("answer %d, mid %q: %+v, offered active %t with payload type %d", i, m.Mid, am, m.Active, m.Codec.PayloadType)
					}
					for _, x := range m.Extensions {
						if id, ok := am.Extensions[x.URI]; m.Active && (!ok || id != x.ID) {
							t.Errorf("answer %d, mid %q: %s answered as %d %t", i, m.Mid, x.URI, id, ok)
						}
					}
				}
			}
		})
	}
}
