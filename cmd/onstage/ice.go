package main

import (
	"strings"

	"github.com/pion/webrtc/v3"
)

// iceServers parses the configured STUN/TURN servers: "stun:host:3478" or
// "turn:user:pass@host:3478" (also turns:). Credentials go into the RTCIceServer fields, never
// into the URL handed to browsers.
func iceServers(items []string) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(items))
	for _, s := range items {
		scheme, rest, ok := strings.Cut(s, ":")
		if !ok {
			continue
		}
		srv := webrtc.ICEServer{}
		if at := strings.LastIndex(rest, "@"); at >= 0 && (scheme == "turn" || scheme == "turns") {
			user, pass, _ := strings.Cut(rest[:at], ":")
			srv.Username, srv.Credential, srv.CredentialType = user, pass, webrtc.ICECredentialTypePassword
			rest = rest[at+1:]
		}
		srv.URLs = []string{scheme + ":" + rest}
		out = append(out, srv)
	}
	return out
}
