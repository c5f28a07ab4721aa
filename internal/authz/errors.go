package authz

import "github.com/onstagehq/onstage/internal/apperr"

// The authz domain's errors.
var (
	// ErrForbidden is an actor without the permission the action needs.
	ErrForbidden = apperr.New(apperr.Forbidden, "forbidden", "you do not have the permission for this")
	// ErrNotFound is a target outside the actor's scope, or a role or user that does not exist:
	// another tenant's object answers 404, never 403.
	ErrNotFound = apperr.New(apperr.NotFound, "not_found", "no such object")
	// ErrRoleExists is a new role whose name is taken.
	ErrRoleExists = apperr.New(apperr.Conflict, "role_exists", "a role with this name exists")
	// ErrRoleAssigned is a role that is still held by users.
	ErrRoleAssigned = apperr.New(apperr.Conflict, "role_assigned", "the role is still assigned to users")
	// ErrSystemRole is an edit of super_admin, which always holds every permission.
	ErrSystemRole = apperr.New(apperr.Conflict, "system_role", "super_admin cannot be changed or deleted")
	// ErrLastSuperAdmin is an attempt to remove or lock the last super admin.
	ErrLastSuperAdmin = apperr.New(apperr.Conflict, "last_super_admin", "the last super_admin cannot be removed")
	// ErrGrantBeyondOwn is an actor granting a permission it does not hold itself.
	ErrGrantBeyondOwn = apperr.New(apperr.Forbidden, "grant_beyond_own", "you may only grant permissions you hold yourself")
	// ErrAlreadyHeld is a grant of a role the user already holds.
	ErrAlreadyHeld = apperr.New(apperr.Conflict, "role_held", "the user already holds this role")
)
