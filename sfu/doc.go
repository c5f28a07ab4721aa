// Package sfu is the media plane of onstage: a selective forwarding unit built
// on Pion WebRTC.
//
// It owns peer connections, published tracks and their fan-out to
// subscribers: per-subscriber sequence number and timestamp rewriting,
// simulcast layer choice driven by the send-side bandwidth estimate, RTCP
// handling (PLI/FIR forwarding, NACK, TWCC) and audio-level based speaker
// detection. It knows tracks and peers, never users or meetings: callers map
// their own participants onto ParticipantIDs and carry Signals over whatever
// transport they like.
//
// The main types are Engine (shared Pion configuration), Router (one room's
// media), Participant (a publisher and a subscriber peer connection) and
// DownTrack (one published track as sent to one subscriber).
//
// liteTransport is the network side of a subscriber connection without a
// Pion PeerConnection (ICE-lite, DTLS only to make SRTP keys, SRTP out and
// SRTCP in), served from the single-port mux through liteMux; once
// connected it holds no goroutine and about 10 KB.
package sfu
