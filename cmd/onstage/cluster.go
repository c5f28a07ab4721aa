package main

import (
	"context"
	"github.com/onstagehq/onstage/api/booking"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/signaling"
)

// clusterHooks connects callbacks made before the hub exists (the rooms service's in-process
// events, placement's lost leases) to the hub once it is built.
type clusterHooks struct {
	hub     atomic.Pointer[signaling.Hub]
	booking atomic.Pointer[booking.Service]
}

func newClusterHooks() *clusterHooks { return &clusterHooks{} }

func (k *clusterHooks) event(ev rooms.Event) {
	if h := k.hub.Load(); h != nil {
		h.LocalEvent(ev)
	}
	if b := k.booking.Load(); b != nil {
		b.MeetingEvent(ev)
	}
}

func (k *clusterHooks) lost(meetingID string) {
	if h := k.hub.Load(); h != nil {
		h.RoomLost(meetingID)
	}
}

// providePlacer decides which node owns each meeting and keeps this node's leases (every
// room is local without Redis).
func providePlacer(cfg config.Config, c cache.Cache, reg *rooms.Registry, hooks *clusterHooks, log *slog.Logger) (*rooms.Placer, func()) {
	pl := rooms.NewPlacer(rooms.PlacerParams{
		Redis: rooms.RedisClient(c), Registry: reg, NodeID: nodeID(cfg), Strategy: cfg.Cluster.Placement,
		LeaseTTL: cfg.Cluster.LeaseTTL, OnLost: hooks.lost, Log: log,
	})
	pl.Start()
	return pl, pl.Close
}

// drainNode is the first step of a clustered node's shutdown: it takes no new rooms, keeps its
// rooms until they end or drain_timeout passes, then gives up their leases so that clients,
// asked to reconnect by the hub's shutdown, land on other nodes.
func drainNode(cfg config.Config, reg *rooms.Registry, pl *rooms.Placer, hub *signaling.Hub, log *slog.Logger) func() {
	return func() {
		if reg.Clustered() && cfg.Cluster.DrainTimeout > 0 {
			hub.StartDrain()
			pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := reg.Publish(pctx); err != nil {
				log.Warn("drain: cannot publish draining state", "err", err)
			}
			cancel()
			log.Info("draining: no new rooms; waiting for this node's rooms to end", "timeout", cfg.Cluster.DrainTimeout,
				"rooms", hub.Stats().Rooms)
			dctx, cancel := context.WithTimeout(context.Background(), cfg.Cluster.DrainTimeout)
			if err := hub.WaitRooms(dctx); err != nil {
				log.Info("drain timeout: asking the remaining clients to reconnect elsewhere", "rooms", hub.Stats().Rooms)
			}
			cancel()
		}
		pl.Close()
	}
}
