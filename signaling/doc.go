// Package signaling is onstage's WebSocket hub: the transport side of docs/protocol.md.
//
// It owns the sockets (one reader and one writer goroutine each, a bounded send queue,
// read limits, rate limits, keep-alive), the protocol's message types and codec, the
// per-meeting rooms of this node (their members, their sfu.Router and the subscription to
// the meeting's domain events) and the reconnect grace with its signed resume tokens. It owns
// no meeting rule: every decision about who may join, chat, mute, kick or end is made by
// rooms.Service, and every change reaches the sockets through the domain events the service
// publishes on the bus, whichever node or API (REST or WebSocket) made it. Media is the sfu
// package's; signaling only relays SDP and candidates and announces tracks.
//
// # Cluster relay
//
// Any node accepts a socket. At join_room the hub asks the Placement which node owns the
// meeting; when another node does, the socket stays here (the edge) and its frames travel
// over NATS to the owner, which runs the very same per-connection handler for a relayed
// connection and sends its frames back (relay.go; subjects in docs/cluster.md). Both ends
// heartbeat, so a dead owner is noticed within seconds and the client is told to reconnect
// (1012), landing on a survivor with its resume token. Drain (drain.go) marks the node as
// draining, waits for its rooms to end or the drain timeout, then closes sockets with 1012.
//
// # Goroutines
//
// Per socket: the reader (the ServeHTTP goroutine) handles messages one at a time, in order;
// the writer drains the send queue and sends pings. Every other goroutine (bus callbacks,
// SFU callbacks, grace timers, other sockets' handlers) only enqueues, never blocking: a full
// queue closes that socket with 1008. The Hub's WaitGroup counts every goroutine it starts,
// and Shutdown waits for them.
//
// # Lock ordering
//
//	Hub.mu → room.mu → member.mu → conn.mu
//
// A goroutine holding one of these may take only those to its right. No lock of this package
// is held while calling rooms.Service, the bus or the SFU (whose callbacks take room.mu and
// member.mu), so the SFU's own locks never nest inside ours. room.subMu guards only the bus
// subscription; it may be taken before room.mu, never while holding any other lock.
package signaling
