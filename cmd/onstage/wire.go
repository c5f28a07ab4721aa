//go:build wireinject

package main

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/onstagehq/onstage/api/admin"
	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/api/meetings"
	"github.com/onstagehq/onstage/api/nodes"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/rooms"
)

// initApp assembles a node from its configuration.
func initApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, func(), error) {
	wire.Build(
		provideDatabase, provideCache, provideBus, provideIssuer, provideMiddleware, provideRegistry, provideChecks,
		provideMailer, provideAuthz, provideAudit, admin.NewHandler,
		wire.Bind(new(nodes.Authorizer), new(*authz.Service)),
		auth.NewStore, provideAuthService, auth.NewHandler,
		rooms.NewStore, provideRooms, meetings.NewHandler,
		newClusterHooks, providePlacer,
		provideEngine, provideHub,
		provideNodeRegistry, provideNodeLoad, nodes.NewHandler,
		provideCards, provideCardGate, provideCardsHandler,
		provideIdempotency, providePaymentsSandbox, providePayments, providePaymentsHandler,
		provideAds, provideAdsPlacer, provideAdsHandler,
		provideNotifier, provideStorage, provideBooking, provideBookingHandler,
		provideRouter, provideServer, provideMetricsServer, provideApp,
	)
	return nil, nil, nil
}

// initAuth assembles just what the user and token commands need.
func initAuth(ctx context.Context, cfg config.Config, log *slog.Logger) (*auth.Service, func(), error) {
	wire.Build(provideDatabase, provideCache, provideIssuer, provideMailer, provideAuthz, auth.NewStore, provideAuthService)
	return nil, nil, nil
}
