package cards

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
)

// ProjectInput is a new project.
type ProjectInput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// UnitPrice is quota per key per valid day.
	UnitPrice   int64  `json:"unit_price"`
	CallbackURL string `json:"callback_url"`
}

// ProjectCreated is a new project with its secret, shown this once.
type ProjectCreated struct {
	Project
	Secret    string `json:"secret"`
	PublicKey []byte `json:"public_key"`
}

// CreateProject makes a project (cards:projects) with a fresh API key, HMAC secret and
// Ed25519 signing key; the secret is returned this once and stored sealed.
func (s *Service) CreateProject(ctx context.Context, actor authn.Identity, in ProjectInput) (*ProjectCreated, error) {
	if err := s.az.Can(ctx, actor, authz.CardsProjects, nil); err != nil {
		return nil, err
	}
	f := map[string]string{}
	name := clean(in.Name)
	if name == "" || len(name) > 100 {
		f["name"] = "required, at most 100 characters"
	}
	if len(in.Description) > 2000 {
		f["description"] = "at most 2000 characters"
	}
	if in.UnitPrice < 0 || in.UnitPrice > 1<<30 {
		f["unit_price"] = "must be a whole number of quota units, 0 or more"
	}
	if in.CallbackURL != "" {
		if u, err := url.Parse(in.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.CallbackURL) > 500 {
			f["callback_url"] = "must be an http or https URL"
		}
	}
	if err := fieldsErr(f); err != nil {
		return nil, err
	}
	now := s.clock()
	p := Project{ID: newID(), Name: name, Description: in.Description, UnitPrice: in.UnitPrice, CallbackURL: in.CallbackURL,
		APIKey: "pk_" + randomHex(16), CreatedBy: actor.UserID, CreatedAt: now, UpdatedAt: now}
	secret := "sk_" + randomHex(32)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cards: signing key: %w", err)
	}
	p.SecretEnc = s.seal.seal([]byte(secret), p.ID)
	p.SigningKeyEnc = s.seal.seal(priv.Seed(), p.ID)
	if err := s.db.WithContext(ctx).Create(&p).Error; err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "cards project created", "project_id", p.ID, "by", actor.UserID)
	return &ProjectCreated{Project: p, Secret: secret, PublicKey: pub}, nil
}

// RotateSecret gives the project a new secret; the old one keeps verifying for the
// configured grace period, so clients can be updated without an outage.
func (s *Service) RotateSecret(ctx context.Context, actor authn.Identity, id string) (*ProjectCreated, error) {
	if err := s.az.Can(ctx, actor, authz.CardsProjects, nil); err != nil {
		return nil, err
	}
	p, err := s.project(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	secret := "sk_" + randomHex(32)
	now := s.clock()
	until := now.Add(s.cfg.SecretGrace)
	res := s.db.WithContext(ctx).Model(&Project{}).Where("id = ? AND secret_enc = ?", p.ID, p.SecretEnc).Updates(map[string]any{
		"secret_enc": s.seal.seal([]byte(secret), p.ID), "prev_secret_enc": p.SecretEnc, "prev_valid_until": until, "updated_at": now})
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected != 1 {
		return nil, ErrNotPending.WithMessage("the secret was rotated meanwhile; try again")
	}
	p, err = s.project(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	return &ProjectCreated{Project: *p, Secret: secret}, nil
}

// Projects lists projects: every one for those who manage projects or grant them
// (cards:projects, cards:quota: admins and agent admins), else those granted to the caller
// (unexpired).
func (s *Service) Projects(ctx context.Context, actor authn.Identity) ([]Project, error) {
	out := []Project{}
	q := s.db.WithContext(ctx).Order("created_at DESC, id")
	if s.az.Can(ctx, actor, authz.CardsProjects, nil) != nil && s.az.Can(ctx, actor, authz.CardsQuota, nil) != nil {
		q = q.Where("id IN (SELECT project_id FROM cards_grants WHERE agent_id = ? AND expires_at > ?)", actor.UserID, s.clock())
	}
	return out, q.Find(&out).Error
}

// PublicKey returns the project's Ed25519 public key, for checking offline licenses.
func (s *Service) PublicKey(ctx context.Context, id string) (ed25519.PublicKey, error) {
	p, err := s.project(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	priv, err := s.signingKey(p)
	if err != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}

func (s *Service) signingKey(p *Project) (ed25519.PrivateKey, error) {
	seed, err := s.seal.open(p.SigningKeyEnc, p.ID)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// GrantInput grants a project to an agent.
type GrantInput struct {
	ProjectID string    `json:"project_id"`
	AgentID   string    `json:"agent_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Grant lets agentID generate keys of the project until ExpiresAt: an admin, or the agent's
// own agent admin (cards:quota over it). Granting again moves the expiry.
func (s *Service) Grant(ctx context.Context, actor authn.Identity, in GrantInput) (*Grant, error) {
	f := map[string]string{}
	if in.ProjectID == "" {
		f["project_id"] = "required"
	}
	if in.AgentID == "" {
		f["agent_id"] = "required"
	}
	if !in.ExpiresAt.After(s.clock()) {
		f["expires_at"] = "must be a future RFC 3339 time"
	}
	if err := fieldsErr(f); err != nil {
		return nil, err
	}
	if _, err := s.canOnUser(ctx, actor, authz.CardsQuota, in.AgentID); err != nil {
		return nil, err
	}
	if _, err := s.project(ctx, s.db, in.ProjectID); err != nil {
		return nil, err
	}
	return s.upsertGrant(ctx, s.db, in.ProjectID, in.AgentID, actor.UserID, in.ExpiresAt.UTC())
}

func (s *Service) upsertGrant(ctx context.Context, tx *gorm.DB, projectID, agentID, by string, expires time.Time) (*Grant, error) {
	now := s.clock()
	g := Grant{ID: newID(), ProjectID: projectID, AgentID: agentID, GrantedBy: by, ExpiresAt: expires, CreatedAt: now, UpdatedAt: now}
	err := tx.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Insert, or move the existing grant's expiry: the unique (project, agent) index
		// decides between two racing first grants. (Rows "affected" is not a test of
		// existence: MySQL counts only changed rows.)
		err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "project_id"}, {Name: "agent_id"}},
			DoUpdates: clause.Assignments(map[string]any{"expires_at": expires, "granted_by": by, "updated_at": now}),
		}).Create(&g).Error
		if err != nil {
			return err
		}
		// Read back into a fresh value: g's new id would be added to the condition.
		var got Grant
		if err := tx.Where("project_id = ? AND agent_id = ?", projectID, agentID).Take(&got).Error; err != nil {
			return err
		}
		g = got
		return nil
	})
	return &g, err
}

// Grants lists grants the actor gave or holds (all for an admin).
func (s *Service) Grants(ctx context.Context, actor authn.Identity) ([]Grant, error) {
	out := []Grant{}
	q := s.db.WithContext(ctx).Order("created_at DESC, id")
	scope, err := s.scopeOf(ctx, actor, authz.CardsQuota)
	if err != nil {
		return nil, err
	}
	if scope != authz.ScopeAll {
		q = q.Where("agent_id = ? OR agent_id IN (SELECT id FROM users WHERE parent_id = ?)", actor.UserID, actor.UserID)
	}
	return out, q.Find(&out).Error
}

// grantActive reports whether agentID holds an unexpired grant of projectID.
func (s *Service) grantActive(ctx context.Context, tx *gorm.DB, projectID, agentID string) (bool, error) {
	var n int64
	err := tx.WithContext(ctx).Model(&Grant{}).Where("project_id = ? AND agent_id = ? AND expires_at > ?", projectID, agentID, s.clock()).Count(&n).Error
	return n > 0, err
}

// ApplicationInput is an agent asking for a project.
type ApplicationInput struct {
	ProjectID string `json:"project_id"`
	Reason    string `json:"reason"`
}

// Apply records an agent's request for a project, for its superior to decide.
func (s *Service) Apply(ctx context.Context, actor authn.Identity, in ApplicationInput) (*Application, error) {
	if err := s.az.Can(ctx, actor, authz.CardsGenerate, nil); err != nil {
		return nil, err
	}
	if len(in.Reason) > 2000 {
		return nil, fieldsErr(map[string]string{"reason": "at most 2000 characters"})
	}
	if _, err := s.project(ctx, s.db, in.ProjectID); err != nil {
		return nil, err
	}
	now := s.clock()
	a := Application{ID: newID(), ProjectID: in.ProjectID, AgentID: actor.UserID, Reason: in.Reason, Status: StatusPending,
		CreatedAt: now, UpdatedAt: now}
	return &a, s.db.WithContext(ctx).Create(&a).Error
}

// DecisionInput approves (with the grant's expiry) or rejects an application.
type DecisionInput struct {
	Approve   bool      `json:"approve"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Decide approves or rejects an application: the agent's superior or an admin. Approving
// grants the project until ExpiresAt, in the same transaction.
func (s *Service) Decide(ctx context.Context, actor authn.Identity, id string, in DecisionInput) (*Application, error) {
	var a Application
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&a).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if _, err := s.canOnUser(ctx, actor, authz.CardsQuota, a.AgentID); err != nil {
		return nil, err
	}
	if in.Approve && !in.ExpiresAt.After(s.clock()) {
		return nil, fieldsErr(map[string]string{"expires_at": "must be a future RFC 3339 time"})
	}
	now := s.clock()
	status := "rejected"
	var exp *time.Time
	if in.Approve {
		status = "approved"
		e := in.ExpiresAt.UTC()
		exp = &e
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Application{}).Where("id = ? AND status = ?", id, StatusPending).
			Updates(map[string]any{"status": status, "decided_by": actor.UserID, "decided_at": now, "expires_at": exp, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotPending
		}
		if in.Approve {
			if _, err := s.upsertGrant(ctx, tx, a.ProjectID, a.AgentID, actor.UserID, *exp); err != nil {
				return err
			}
		}
		return tx.Where("id = ?", id).Take(&a).Error
	})
	return &a, err
}

// Applications lists applications the actor made or may decide.
func (s *Service) Applications(ctx context.Context, actor authn.Identity, status string) ([]Application, error) {
	out := []Application{}
	q := s.db.WithContext(ctx).Order("created_at DESC, id")
	scope, err := s.scopeOf(ctx, actor, authz.CardsQuota)
	if err != nil {
		return nil, err
	}
	if scope != authz.ScopeAll {
		q = q.Where("agent_id = ? OR agent_id IN (SELECT id FROM users WHERE parent_id = ?)", actor.UserID, actor.UserID)
	}
	if status != "" {
		q = q.Where("status = ?", status)
	}
	return out, q.Find(&out).Error
}

// AgentInput is a new agent.
type AgentInput struct {
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	// Role is "agent" (default); an admin (users:manage over everyone) may create an
	// "agent_admin" instead.
	Role string `json:"role"`
}

// CreateAgent creates an agent whose parent is the actor (an agent admin, or an admin).
func (s *Service) CreateAgent(ctx context.Context, actor authn.Identity, in AgentInput) (string, error) {
	if err := s.az.Can(ctx, actor, authz.UsersManage, nil); err != nil {
		return "", err
	}
	role := in.Role
	if role == "" {
		role = authz.RoleAgent
	}
	switch role {
	case authz.RoleAgent:
	case authz.RoleAgentAdmin:
		scope, err := s.scopeOf(ctx, actor, authz.UsersManage)
		if err != nil {
			return "", err
		}
		if scope != authz.ScopeAll {
			return "", authz.ErrForbidden.WithMessage("only an admin creates agent admins")
		}
	default:
		return "", fieldsErr(map[string]string{"role": "must be agent or agent_admin"})
	}
	if s.accounts == nil {
		return "", authz.ErrForbidden
	}
	return s.accounts.CreateManaged(ctx, actor.UserID, in.Email, in.DisplayName, role)
}

// Agents lists the actor's agents (every agent for an admin).
func (s *Service) Agents(ctx context.Context, actor authn.Identity, page, size int) (*authz.UserPage, error) {
	return s.az.Users(ctx, actor, authz.UserQuery{Role: authz.RoleAgent, Page: page, PageSize: size})
}
