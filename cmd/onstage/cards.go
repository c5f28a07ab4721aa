package main

import (
	"context"
	"fmt"
	"log/slog"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/api/cards"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/idempotency"
	"github.com/onstagehq/onstage/rooms"
)

// cardAccounts lets the card-key domain create agents through the auth domain.
type cardAccounts struct{ users *auth.Service }

func (a cardAccounts) CreateManaged(ctx context.Context, parentID, email, displayName, role string) (string, error) {
	u, err := a.users.CreateManaged(ctx, parentID, email, displayName, role)
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// provideCards runs the card-key service and its callback worker. Project secrets are sealed
// under a key derived from the JWT secret, which every node of a cluster shares.
func provideCards(cfg config.Config, gdb *gorm.DB, az *authz.Service, c cache.Cache, users *auth.Service, log *slog.Logger) (*cards.Service, func(), error) {
	secret, err := cfg.JWTSecret()
	if err != nil {
		return nil, nil, err
	}
	svc, err := cards.New(cards.Params{DB: gdb, Authz: az, Cache: c, Accounts: cardAccounts{users}, ServerSecret: secret,
		Config: cfg.Cards, Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("cards: %w", err)
	}
	svc.Start()
	return svc, svc.Close, nil
}

// provideCardGate is the meeting domain's view of the card-key service.
func provideCardGate(svc *cards.Service) rooms.CardGate { return svc.Gate() }

func provideCardsHandler(svc *cards.Service, keeper *idempotency.Keeper) *cards.Handler {
	return cards.NewHandler(svc, keeper.Middleware)
}
