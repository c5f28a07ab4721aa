package cards

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
)

// Accounts creates the accounts a superior manages (api/auth implements it).
type Accounts interface {
	// CreateManaged creates a user with parent parentID holding role, and mails it a link to
	// choose its password; it returns the new user's id.
	CreateManaged(ctx context.Context, parentID, email, displayName, role string) (string, error)
}

// Params are the Service's dependencies.
type Params struct {
	DB    *gorm.DB
	Authz *authz.Service
	Cache cache.Cache
	// Accounts creates agents; nil refuses POST /agents.
	Accounts Accounts
	// ServerSecret is the node's JWT secret, shared by the cluster; project secrets are
	// sealed under a key derived from it.
	ServerSecret []byte
	Config       config.Cards
	Log          *slog.Logger
	Now          func() time.Time
	// HTTPClient delivers callbacks (default: 10 s timeout).
	HTTPClient *http.Client
}

// Service holds the card-key domain's rules; REST handlers and the meeting gate call it.
type Service struct {
	db       *gorm.DB
	az       *authz.Service
	cache    cache.Cache
	accounts Accounts
	seal     *sealer
	cfg      config.Cards
	log      *slog.Logger
	now      func() time.Time

	projectLimit *cache.Limiter
	keyLimit     *cache.Limiter

	hooks callbacks
	prune pruner

	closeOnce sync.Once
}

// New returns a Service over p.
func New(p Params) (*Service, error) {
	seal, err := newSealer(p.ServerSecret)
	if err != nil {
		return nil, err
	}
	def := config.Default().Cards
	cfg := p.Config
	if cfg.UnbindsPer30Days <= 0 {
		cfg.UnbindsPer30Days = def.UnbindsPer30Days
	}
	if cfg.SecretGrace <= 0 {
		cfg.SecretGrace = def.SecretGrace
	}
	if cfg.VerifyRatePerProject <= 0 {
		cfg.VerifyRatePerProject = def.VerifyRatePerProject
	}
	if cfg.VerifyRatePerKey <= 0 {
		cfg.VerifyRatePerKey = def.VerifyRatePerKey
	}
	if cfg.MinAmount <= 0 {
		cfg.MinAmount = def.MinAmount
	}
	if cfg.CallbackAttempts <= 0 {
		cfg.CallbackAttempts = def.CallbackAttempts
	}
	if cfg.VerificationRetention <= 0 {
		cfg.VerificationRetention = def.VerificationRetention
	}
	s := &Service{db: p.DB, az: p.Authz, cache: p.Cache, accounts: p.Accounts, seal: seal, cfg: cfg, log: p.Log, now: p.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.projectLimit = cache.NewLimiter(p.Cache, "cards:rate:p:", cfg.VerifyRatePerProject, time.Minute)
	s.keyLimit = cache.NewLimiter(p.Cache, "cards:rate:k:", cfg.VerifyRatePerKey, time.Minute)
	client := p.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	s.hooks = newCallbacks(s, client)
	return s, nil
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// clock is the current time as stored: UTC, microsecond precision (what PostgreSQL keeps).
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// scopeOf returns the scope of actor's grant of p ("" when it holds none).
func (s *Service) scopeOf(ctx context.Context, actor authn.Identity, p authz.Permission) (authz.Scope, error) {
	if actor.UserID == "" || actor.IsGuest() {
		return "", nil
	}
	eff, err := s.az.Effective(ctx, actor.UserID)
	if err != nil {
		return "", err
	}
	if eff.Locked {
		return "", nil
	}
	return eff.Grants[p], nil
}

// canOnUser checks p over the user userID (scope own: only users actor created). An unknown
// user, or one outside the actor's scope, is ErrNotFound.
func (s *Service) canOnUser(ctx context.Context, actor authn.Identity, p authz.Permission, userID string) (*authz.Target, error) {
	t, err := s.az.TargetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.az.Can(ctx, actor, p, t); err != nil {
		return nil, err
	}
	return t, nil
}

// project returns the project with id, or ErrNotFound.
func (s *Service) project(ctx context.Context, tx *gorm.DB, id string) (*Project, error) {
	var p Project
	err := tx.WithContext(ctx).Where("id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound.WithMessage("no such project")
	}
	return &p, err
}

// Close stops the callback worker and the pruner.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.hooks.close()
		s.prune.close()
	})
}

// Start runs the callback worker and the verification log's pruner.
func (s *Service) Start() {
	s.hooks.start()
	s.prune.start(s)
}

func fieldsErr(f map[string]string) error {
	if len(f) == 0 {
		return nil
	}
	return apperr.Invalidf(f)
}

func clean(s string) string { return strings.TrimSpace(s) }
