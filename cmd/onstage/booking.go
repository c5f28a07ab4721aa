package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/api/admin"
	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/api/booking"
	"github.com/onstagehq/onstage/internal/audit"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/idempotency"
	"github.com/onstagehq/onstage/internal/mail"
	"github.com/onstagehq/onstage/internal/payments"
	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/signaling"
)

// notificationSubject carries user notifications to every node, each of which delivers them to
// the user's sockets it holds.
const notificationSubject = "onstage.users.notifications"

type userNotification struct {
	UserID string               `json:"user_id"`
	Data   booking.Notification `json:"data"`
}

// notifier delivers booking notifications to a user's sockets on any node: over the bus when
// there is one, else straight to this node's hub. Signaling stays an adapter: it knows no
// booking type.
type notifier struct {
	hub *signaling.Hub
	nc  *nats.Conn
	log *slog.Logger
}

func (n *notifier) Notify(userID string, d booking.Notification) {
	if n.nc != nil {
		raw, _ := json.Marshal(userNotification{UserID: userID, Data: d})
		if err := n.nc.Publish(notificationSubject, raw); err == nil {
			return
		}
	}
	n.hub.NotifyUser(userID, d)
}

func provideNotifier(hub *signaling.Hub, b *bus.Bus, log *slog.Logger) (booking.Notifier, func(), error) {
	n := &notifier{hub: hub, log: log}
	if b == nil || b.Conn() == nil {
		return n, func() {}, nil
	}
	sub, err := b.Conn().Subscribe(notificationSubject, func(m *nats.Msg) {
		var un userNotification
		if json.Unmarshal(m.Data, &un) == nil {
			hub.NotifyUser(un.UserID, un.Data)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	n.nc = b.Conn()
	return n, func() { _ = sub.Unsubscribe() }, nil
}

func provideStorage(cfg config.Config) booking.Storage {
	if s3 := cfg.Storage.S3; cfg.Storage.Driver == "s3" {
		return &booking.S3Storage{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Region: s3.Region, AccessKey: s3.AccessKey,
			SecretKey: s3.SecretKey}
	}
	dir := cfg.Storage.Dir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "uploads")
	}
	return booking.DiskStorage{Dir: dir}
}

func provideBooking(cfg config.Config, gdb *gorm.DB, c cache.Cache, az *authz.Service, rs *rooms.Service,
	pay *payments.Service, m mail.Mailer, n booking.Notifier, users *auth.Service, hooks *clusterHooks,
	log *slog.Logger) (*booking.Service, func(), error) {
	svc := booking.NewService(booking.Params{DB: gdb, Cache: c, Authz: az, Meetings: rs, Payments: pay, Mailer: m,
		Notifier: n, Log: log, HoldTTL: cfg.Booking.HoldTTL, CatalogTTL: cfg.Booking.CatalogTTL,
		SweepInterval: cfg.Booking.SweepInterval,
		Contact: func(ctx context.Context, id string) (string, string, error) {
			u, err := users.UserByID(ctx, id)
			if err != nil {
				return "", "", err
			}
			return u.Email, u.DisplayName, nil
		}})
	if err := svc.Start(); err != nil {
		return nil, nil, err
	}
	hooks.booking.Store(svc)
	return svc, svc.Close, nil
}

func provideBookingHandler(svc *booking.Service, st booking.Storage, keeper *idempotency.Keeper) *booking.Handler {
	return booking.NewHandler(svc, st, keeper.Middleware)
}

// adminOperations names every audited admin route.
func adminOperations() map[string]audit.Operation {
	ops := maps.Clone(admin.Operations)
	maps.Copy(ops, booking.AdminOperations)
	return ops
}
