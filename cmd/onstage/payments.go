package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/idempotency"
	"github.com/onstagehq/onstage/internal/payments"
)

// provideIdempotency runs the Idempotency-Key store and its expiry cleaner.
func provideIdempotency(cfg config.Config, gdb *gorm.DB, log *slog.Logger) (*idempotency.Keeper, func()) {
	k := idempotency.New(idempotency.Params{DB: gdb, TTL: cfg.Idempotency.TTL, Log: log})
	k.Start()
	return k, k.Close
}

// sandboxSecret is the sandbox's webhook secret: the configured one, or one derived from the
// JWT secret, which every node of a cluster shares (a webhook may reach any node).
func sandboxSecret(cfg config.Config) (string, error) {
	if cfg.Payments.Sandbox.WebhookSecret != "" {
		return cfg.Payments.Sandbox.WebhookSecret, nil
	}
	jwt, err := cfg.JWTSecret()
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, jwt)
	m.Write([]byte("onstage/payments-sandbox-webhook"))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// providePaymentsSandbox runs the sandbox provider when it is the configured one; otherwise
// the sandbox is nil and its routes are not served.
func providePaymentsSandbox(cfg config.Config, gdb *gorm.DB, log *slog.Logger) (*payments.Sandbox, func(), error) {
	pc := cfg.Payments
	if pc.Provider != payments.SandboxName {
		return nil, func() {}, nil
	}
	secret, err := sandboxSecret(cfg)
	if err != nil {
		return nil, nil, err
	}
	sandbox, err := payments.NewSandbox(payments.SandboxParams{DB: gdb, Secrets: []string{secret},
		PublicURL: cfg.HTTP.PublicURL, WebhookURL: pc.Sandbox.WebhookURL,
		DuplicateRate: float64(pc.Sandbox.DuplicatePercent) / 100, Log: log})
	if err != nil {
		return nil, nil, err
	}
	sandbox.Start()
	return sandbox, sandbox.Close, nil
}

// providePayments builds the payments service over the configured provider and runs its
// reconciler.
func providePayments(cfg config.Config, gdb *gorm.DB, sandbox *payments.Sandbox, log *slog.Logger) (*payments.Service, func(), error) {
	pc := cfg.Payments
	var provider payments.Provider = sandbox
	if pc.Provider == payments.StripeName {
		st, err := payments.NewStripe(payments.StripeParams{SecretKey: pc.Stripe.SecretKey, BaseURL: pc.Stripe.BaseURL,
			WebhookSecrets: []string{pc.Stripe.WebhookSecret, pc.Stripe.PreviousWebhookSecret}})
		if err != nil {
			return nil, nil, err
		}
		provider = st
	}
	svc, err := payments.NewService(payments.ServiceParams{Store: payments.NewStore(gdb), Providers: []payments.Provider{provider},
		Default: provider.Name(), ReconcileAfter: pc.ReconcileAfter, IntentTTL: pc.IntentTTL, Interval: pc.ReconcileInterval,
		EventRetention: pc.EventRetention, Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("payments: %w", err)
	}
	svc.Start()
	return svc, svc.Close, nil
}

func providePaymentsHandler(cfg config.Config, svc *payments.Service, sandbox *payments.Sandbox, mw authn.Middleware,
	c cache.Cache, keeper *idempotency.Keeper) *payments.Handler {
	return payments.NewHandler(payments.HandlerParams{
		Service: svc, Middleware: mw, Sandbox: sandbox, Idempotent: keeper.Middleware,
		Limiter: cache.NewLimiter(c, "payments:rate:", cfg.Payments.WebhookRatePerMinute, time.Minute),
	})
}
