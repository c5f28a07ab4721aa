package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
)

// globalKey is the version every snapshot also depends on: a role's grants changed.
const globalKey = "*"

// DefaultLocalEntries bounds the per-process snapshot cache.
const DefaultLocalEntries = 200_000

// ServiceParams are the Service's dependencies.
type ServiceParams struct {
	Store *Store
	// Cache holds the version counters; Redis makes them cluster-wide.
	Cache cache.Cache
	Log   *slog.Logger
	Now   func() time.Time
	// LocalEntries bounds the snapshot cache (default DefaultLocalEntries).
	LocalEntries int
}

// Service answers Can and runs the role administration.
type Service struct {
	store    *Store
	versions *cache.Versions
	local    *localCache
	log      *slog.Logger
	now      func() time.Time
	// onLock runs after a user is locked; set once while wiring, before any request.
	onLock func(ctx context.Context, userID string) error
}

// OnLock sets what runs after a user is locked: the auth service revokes the user's logins,
// which also closes the user's sockets. Call it while wiring, before serving.
func (s *Service) OnLock(f func(ctx context.Context, userID string) error) { s.onLock = f }

// NewService returns a Service over p.
func NewService(p ServiceParams) *Service {
	s := &Service{store: p.Store, versions: cache.NewVersions(p.Cache, "authz:v:"), log: p.Log, now: p.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	n := p.LocalEntries
	if n <= 0 {
		n = DefaultLocalEntries
	}
	s.local = newLocalCache(n)
	return s
}

// Seed writes the permissions and seeded roles and moves users' legacy single role into
// user_roles. It is idempotent.
func (s *Service) Seed(ctx context.Context) error {
	if err := s.store.seed(ctx, s.now().UTC()); err != nil {
		return err
	}
	// Backfilled users and super_admin's grants may have changed.
	return s.bump(ctx, globalKey)
}

// Can reports whether id may do p to target: nil when allowed, ErrForbidden when the
// permission is missing, ErrNotFound when the target lies outside a scoped grant (the
// caller must not learn it exists), or an unavailable error when the answer cannot be known.
// Guests and locked accounts hold nothing.
func (s *Service) Can(ctx context.Context, id authn.Identity, p Permission, target *Target) error {
	if id.UserID == "" {
		return apperr.ErrUnauthorized
	}
	if id.IsGuest() {
		return ErrForbidden
	}
	eff, err := s.Effective(ctx, id.UserID)
	if err != nil {
		return err
	}
	scope, ok := eff.Grants[p]
	if !ok || eff.Locked {
		return ErrForbidden
	}
	if target == nil || scope == ScopeAll {
		return nil
	}
	if target.Type == "user" && target.ParentID == id.UserID && target.ParentID != "" {
		return nil
	}
	return ErrNotFound
}

// Effective returns userID's permissions: from this process's snapshot when the versions
// in the shared cache still match it, from the database otherwise. The versions are read
// before the database, and writers bump them after committing, so a snapshot stored with
// stale data always carries a stale version too.
func (s *Service) Effective(ctx context.Context, userID string) (*Effective, error) {
	vs, err := s.versions.GetMany(ctx, userID, globalKey)
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	uv, gv := vs[0], vs[1]
	if snap, ok := s.local.get(userID); ok && snap.userVer == uv && snap.globalVer == gv {
		return snap.eff, nil
	}
	eff, err := s.store.effective(ctx, userID)
	if err != nil {
		return nil, err
	}
	s.local.put(userID, snapshot{userVer: uv, globalVer: gv, eff: eff})
	return eff, nil
}

// Changed invalidates userID's snapshot on every node; the auth domain calls it after
// locking or unlocking the account.
func (s *Service) Changed(ctx context.Context, userID string) error { return s.bump(ctx, userID) }

func (s *Service) bump(ctx context.Context, key string) error {
	if _, err := s.versions.Bump(ctx, key); err != nil {
		// The change is committed but other nodes may keep using the old snapshot; the
		// caller must learn that, not the client retry blindly.
		return s.unavailable(ctx, err)
	}
	return nil
}

func (s *Service) unavailable(ctx context.Context, err error) error {
	s.log.ErrorContext(ctx, "authz: cache", "err", err)
	return apperr.ErrUnavailable
}

// AssignInTx gives a new user its first role inside the transaction that creates it (the
// auth domain calls it). authn roles map to the seeded role names; admin is super_admin.
func AssignInTx(tx *gorm.DB, userID string, role authn.Role, now time.Time) error {
	name := string(role)
	if role == authn.RoleAdmin {
		name = RoleSuperAdmin
	}
	return grantIn(tx, userID, name, "", now)
}

// UnmarshalJSON takes a grant as "module:action" (scope all) or {"permission","scope"}.
func (g *Grant) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*g = Grant{Permission(name), ScopeAll}
		return nil
	}
	type plain Grant
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Scope == "" {
		p.Scope = ScopeAll
	}
	*g = Grant(p)
	return nil
}

// RoleInput creates a role.
type RoleInput struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Permissions []Grant `json:"permissions"`
}

// RoleUpdate changes a role; nil fields stay.
type RoleUpdate struct {
	Description *string  `json:"description,omitempty"`
	Permissions *[]Grant `json:"permissions,omitempty"`
}

var roleName = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)

// checkGrants validates grants and that actor holds each of them at least as widely: an
// admin may only hand out what it has itself.
func (s *Service) checkGrants(ctx context.Context, actor authn.Identity, grants []Grant, f map[string]string) ([]Grant, error) {
	seen := map[Permission]bool{}
	out := make([]Grant, 0, len(grants))
	for _, g := range grants {
		if !Known(g.Permission) {
			f["permissions"] = fmt.Sprintf("unknown permission %q", g.Permission)
			continue
		}
		if g.Scope != ScopeAll && g.Scope != ScopeOwn {
			f["permissions"] = fmt.Sprintf("scope of %s must be all or own", g.Permission)
			continue
		}
		if !seen[g.Permission] {
			seen[g.Permission] = true
			out = append(out, g)
		}
	}
	if len(f) > 0 {
		return nil, apperr.Invalidf(f)
	}
	eff, err := s.Effective(ctx, actor.UserID)
	if err != nil {
		return nil, err
	}
	for _, g := range out {
		if have, ok := eff.Grants[g.Permission]; !ok || !have.covers(g.Scope) {
			return nil, ErrGrantBeyondOwn.WithMessage("you do not hold " + string(g.Permission) + " (" + string(g.Scope) + ") yourself")
		}
	}
	return out, nil
}

// Roles lists the roles.
func (s *Service) Roles(ctx context.Context, actor authn.Identity) ([]Role, error) {
	if err := s.Can(ctx, actor, RolesManage, nil); err != nil {
		return nil, err
	}
	return s.store.roles(ctx)
}

// CreateRole creates a role with the given grants.
func (s *Service) CreateRole(ctx context.Context, actor authn.Identity, in RoleInput) (*Role, error) {
	if err := s.Can(ctx, actor, RolesManage, nil); err != nil {
		return nil, err
	}
	f := map[string]string{}
	in.Name = strings.TrimSpace(in.Name)
	if !roleName.MatchString(in.Name) {
		f["name"] = "2 to 64 characters: a-z, 0-9 and _, starting with a letter"
	}
	if len(in.Description) > 255 {
		f["description"] = "at most 255 characters"
	}
	grants, err := s.checkGrants(ctx, actor, in.Permissions, f)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if err := s.store.createRole(ctx, roleRow{Name: in.Name, Description: in.Description, CreatedAt: now, UpdatedAt: now}, grants); err != nil {
		return nil, err
	}
	return s.store.role(ctx, in.Name)
}

// UpdateRole changes a role; new grants take effect on every node at the next request.
func (s *Service) UpdateRole(ctx context.Context, actor authn.Identity, name string, in RoleUpdate) (*Role, error) {
	if err := s.Can(ctx, actor, RolesManage, nil); err != nil {
		return nil, err
	}
	f := map[string]string{}
	if in.Description != nil && len(*in.Description) > 255 {
		f["description"] = "at most 255 characters"
	}
	var grants []Grant
	if in.Permissions != nil {
		g, err := s.checkGrants(ctx, actor, *in.Permissions, f)
		if err != nil {
			return nil, err
		}
		grants = g
	} else if len(f) > 0 {
		return nil, apperr.Invalidf(f)
	}
	if err := s.store.updateRole(ctx, name, in.Description, grants, s.now().UTC()); err != nil {
		return nil, err
	}
	if err := s.bump(ctx, globalKey); err != nil {
		return nil, err
	}
	return s.store.role(ctx, name)
}

// DeleteRole deletes a role no one holds.
func (s *Service) DeleteRole(ctx context.Context, actor authn.Identity, name string) error {
	if err := s.Can(ctx, actor, RolesManage, nil); err != nil {
		return err
	}
	if err := s.store.deleteRole(ctx, name); err != nil {
		return err
	}
	return s.bump(ctx, globalKey)
}

// targetUser returns the user id as a Target for a scoped check, or ErrNotFound.
func (s *Service) targetUser(ctx context.Context, userID string) (*Target, error) {
	parent, ok, err := s.store.userParent(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound.WithMessage("no such user")
	}
	return &Target{Type: "user", ID: userID, ParentID: parent}, nil
}

// TargetUser returns userID as a Target for Can, or ErrNotFound when no such user exists.
func (s *Service) TargetUser(ctx context.Context, userID string) (*Target, error) {
	return s.targetUser(ctx, userID)
}

// GrantRole gives user the role; the actor must hold every permission of the role.
func (s *Service) GrantRole(ctx context.Context, actor authn.Identity, userID, role string) error {
	t, err := s.targetUser(ctx, userID)
	if err != nil {
		return err
	}
	if err := s.Can(ctx, actor, RolesManage, t); err != nil {
		return err
	}
	r, err := s.store.role(ctx, role)
	if err != nil {
		return err
	}
	if _, err := s.checkGrants(ctx, actor, r.Grants, map[string]string{}); err != nil {
		return err
	}
	if err := s.store.grant(ctx, userID, role, actor.UserID, s.now().UTC()); err != nil {
		return err
	}
	return s.bump(ctx, userID)
}

// RevokeRole takes the role from user; the last super_admin keeps it.
func (s *Service) RevokeRole(ctx context.Context, actor authn.Identity, userID, role string) error {
	t, err := s.targetUser(ctx, userID)
	if err != nil {
		return err
	}
	if err := s.Can(ctx, actor, RolesManage, t); err != nil {
		return err
	}
	r, err := s.store.role(ctx, role)
	if err != nil {
		return err
	}
	if _, err := s.checkGrants(ctx, actor, r.Grants, map[string]string{}); err != nil {
		return err
	}
	if err := s.store.revoke(ctx, userID, role); err != nil {
		return err
	}
	return s.bump(ctx, userID)
}

// SetLocked locks (lock true) or unlocks a user: users:manage over the user (an agent
// admin only over the users it created). A locked user holds no permission from the next
// request on; the last super admin cannot be locked.
func (s *Service) SetLocked(ctx context.Context, actor authn.Identity, userID string, lock bool) error {
	t, err := s.targetUser(ctx, userID)
	if err != nil {
		return err
	}
	if err := s.Can(ctx, actor, UsersManage, t); err != nil {
		return err
	}
	if lock && userID == actor.UserID {
		return apperr.Invalidf(map[string]string{"id": "you cannot lock yourself"})
	}
	var at *time.Time
	if lock {
		now := s.now().UTC()
		at = &now
	}
	if err := s.store.setLocked(ctx, userID, at); err != nil {
		return err
	}
	if err := s.bump(ctx, userID); err != nil {
		return err
	}
	if lock && s.onLock != nil {
		if err := s.onLock(ctx, userID); err != nil {
			return fmt.Errorf("revoke the locked user's logins: %w", err)
		}
	}
	return nil
}

// IsNotFound reports whether err is ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
