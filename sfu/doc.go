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
package sfu
