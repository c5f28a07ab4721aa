// Package authz is onstage's permission model: roles made of `module:action` permissions,
// users holding several roles, grants scoped to the users an actor created, and the one
// question every domain asks before acting — Can(ctx, identity, permission, target).
//
// A user's effective permissions are computed from the database once and kept in process
// memory together with the user's version number, which lives in the shared cache (Redis in a
// cluster). A grant, a revoke or a role edit bumps a version after its transaction commits,
// so the next check on any node sees the change; nothing waits for a TTL.
package authz

import (
	"slices"
	"time"
)

// Permission names one thing an actor may do, as `module:action`.
type Permission string

// The permissions. Later domains add theirs here, in one place.
const (
	UsersManage         Permission = "users:manage"
	RolesManage         Permission = "roles:manage"
	StreamersApprove    Permission = "streamers:approve"
	AdsPackages         Permission = "ads:packages"
	CardsProjects       Permission = "cards:projects"
	CardsQuota          Permission = "cards:quota"
	CardsGenerate       Permission = "cards:generate"
	ContentReview       Permission = "content:review"
	AuditRead           Permission = "audit:read"
	MeetingsModerateAny Permission = "meetings:moderate_any"
	NodesRead           Permission = "nodes:read"
	DebugPprof          Permission = "debug:pprof"
	OrdersReadAny       Permission = "orders:read_any"
)

// PermissionInfo describes a permission for GET /admin/permissions.
type PermissionInfo struct {
	Name        Permission `json:"name"`
	Module      string     `json:"module"`
	Description string     `json:"description"`
}

// Permissions is every permission the code knows, in display order.
var Permissions = []PermissionInfo{
	{UsersManage, "users", "List, lock and unlock user accounts"},
	{RolesManage, "roles", "Create, change and delete roles; grant and revoke them"},
	{StreamersApprove, "streamers", "Approve or reject streamer applications"},
	{AdsPackages, "ads", "Sell and manage ad packages"},
	{CardsProjects, "cards", "Manage card-key projects"},
	{CardsQuota, "cards", "Assign card-key quotas to agents"},
	{CardsGenerate, "cards", "Generate card keys"},
	{ContentReview, "content", "Review profiles and content"},
	{AuditRead, "audit", "Read and verify the admin audit log"},
	{MeetingsModerateAny, "meetings", "Moderate any meeting"},
	{NodesRead, "nodes", "Read the cluster's node registry"},
	{DebugPprof, "debug", "Read the Go runtime profiles"},
	{OrdersReadAny, "orders", "Read any booking order"},
}

// Known reports whether p is a permission of the code.
func Known(p Permission) bool {
	return slices.ContainsFunc(Permissions, func(i PermissionInfo) bool { return i.Name == p })
}

// Scope limits a grant. ScopeAll covers every target; ScopeOwn only users whose parent is
// the actor (the accounts an agent admin created).
type Scope string

// The scopes.
const (
	ScopeAll Scope = "all"
	ScopeOwn Scope = "own"
)

// covers reports whether a grant of scope s includes everything a grant of o does.
func (s Scope) covers(o Scope) bool { return s == ScopeAll || s == o }

// Grant is one permission of a role with its scope.
type Grant struct {
	Permission Permission `json:"permission"`
	Scope      Scope      `json:"scope"`
}

// The seeded roles.
const (
	RoleSuperAdmin     = "super_admin"
	RoleAdmin          = "admin"
	RoleContentManager = "content_manager"
	RoleAgentAdmin     = "agent_admin"
	RoleAgent          = "agent"
	RoleAgency         = "agency"
	RoleStreamer       = "streamer"
	RolePlayer         = "player"
)

// seededRoles are created on first start with these grants; later edits through the API are
// kept, and a permission new to the database reaches the roles listed with it here (see
// Store.seed). super_admin is the exception: it always holds every permission and cannot be
// edited.
var seededRoles = []struct {
	name, description string
	grants            []Grant
}{
	{RoleSuperAdmin, "Everything, including roles", nil},
	{RoleAdmin, "Runs the platform: users, streamers, ads, cards, audit", all(UsersManage, StreamersApprove, AdsPackages,
		CardsProjects, CardsQuota, ContentReview, AuditRead, MeetingsModerateAny, NodesRead, OrdersReadAny)},
	{RoleContentManager, "Reviews profiles and content", all(ContentReview)},
	{RoleAgentAdmin, "Manages the agents it created", []Grant{{UsersManage, ScopeOwn}, {CardsQuota, ScopeOwn}}},
	{RoleAgent, "Generates card keys", all(CardsGenerate)},
	{RoleAgency, "An agency account", nil},
	{RoleStreamer, "A streamer account", nil},
	{RolePlayer, "A player account", nil},
}

func all(ps ...Permission) []Grant {
	out := make([]Grant, len(ps))
	for i, p := range ps {
		out[i] = Grant{p, ScopeAll}
	}
	return out
}

// Role is a role as the API shows it.
type Role struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	System      bool      `json:"system"`
	Grants      []Grant   `json:"permissions"`
	Users       int64     `json:"users"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Target is what an action is aimed at, for scoped grants. A nil target asks whether the
// actor holds the permission at all (any scope).
type Target struct {
	Type string
	ID   string
	// ParentID is the user that created the target user ("" for none).
	ParentID string
}

// Effective is a user's permissions as one snapshot.
type Effective struct {
	Roles  []string
	Grants map[Permission]Scope
	// Locked accounts hold no permission, whatever their roles.
	Locked bool
}

// PermissionList returns the grants sorted by name, for display.
func (e *Effective) PermissionList() []Grant {
	out := make([]Grant, 0, len(e.Grants))
	for p, s := range e.Grants {
		out = append(out, Grant{p, s})
	}
	slices.SortFunc(out, func(a, b Grant) int {
		if a.Permission < b.Permission {
			return -1
		}
		if a.Permission > b.Permission {
			return 1
		}
		return 0
	})
	return out
}
