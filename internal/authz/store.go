package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/db"
)

// Store reads and writes roles, permissions and grants. Row locks on the role row
// serialize the writes that check a count first (delete while assigned, last super admin);
// on SQLite the immediate write transaction is the lock.
type Store struct {
	db *gorm.DB
}

// NewStore returns a store over gdb (migrated with Migrations and the auth domain's).
func NewStore(gdb *gorm.DB) *Store { return &Store{db: gdb} }

type roleRow struct {
	Name        string `gorm:"primaryKey"`
	Description string
	System      bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (roleRow) TableName() string { return "roles" }

type permissionRow struct {
	Name        string `gorm:"primaryKey"`
	Module      string
	Description string
}

func (permissionRow) TableName() string { return "permissions" }

type rolePermissionRow struct {
	RoleName       string `gorm:"primaryKey"`
	PermissionName string `gorm:"primaryKey"`
	Scope          string
}

func (rolePermissionRow) TableName() string { return "role_permissions" }

type userRoleRow struct {
	UserID    string `gorm:"primaryKey"`
	RoleName  string `gorm:"primaryKey"`
	GrantedBy string
	CreatedAt time.Time
}

func (userRoleRow) TableName() string { return "user_roles" }

// seed writes the code's permissions, creates the seeded roles that are missing, keeps
// super_admin holding every permission, and gives every user without a role its single
// legacy role (an admin becomes super_admin: admins were only ever made by the operator).
// A permission new to this database (a release added it) is also granted to the existing
// seeded roles the code gives it to: their other grants are the admins' business, but a
// permission that did not exist cannot have been taken away. Every step is idempotent, so
// every node runs it at start.
func (s *Store) seed(ctx context.Context, now time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		added := map[Permission]bool{}
		for _, p := range Permissions {
			row := permissionRow{Name: string(p.Name), Module: p.Module, Description: p.Description}
			// Insert first to learn whether the permission is new here; nodes starting
			// together wait on the row, so exactly one of them sees it new.
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
			if res.Error != nil {
				return fmt.Errorf("seed permission %s: %w", p.Name, res.Error)
			}
			if res.RowsAffected == 1 {
				added[p.Name] = true
				continue
			}
			err := tx.Model(&permissionRow{}).Where("name = ?", row.Name).
				Updates(map[string]any{"module": row.Module, "description": row.Description}).Error
			if err != nil {
				return fmt.Errorf("seed permission %s: %w", p.Name, err)
			}
		}
		for _, r := range seededRoles {
			row := roleRow{Name: r.name, Description: r.description, System: r.name == RoleSuperAdmin, CreatedAt: now, UpdatedAt: now}
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
			if res.Error != nil {
				return fmt.Errorf("seed role %s: %w", r.name, res.Error)
			}
			grants := r.grants
			if r.name == RoleSuperAdmin {
				grants = all(permissionNames()...)
			} else if res.RowsAffected == 0 {
				grants = newGrants(grants, added) // exists: only what is new to the database
			}
			for _, g := range grants {
				rp := rolePermissionRow{RoleName: r.name, PermissionName: string(g.Permission), Scope: string(g.Scope)}
				if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rp).Error; err != nil {
					return fmt.Errorf("seed grant %s %s: %w", r.name, g.Permission, err)
				}
			}
		}
		// Nodes starting together run this at once: a row another node inserted meanwhile
		// is skipped, not an error.
		insert, conflict := "INSERT INTO", " ON CONFLICT DO NOTHING"
		if db.Dialect(tx) == db.DialectMySQL {
			insert, conflict = "INSERT IGNORE INTO", ""
		}
		err := tx.Exec(insert+` user_roles (user_id, role_name, granted_by, created_at)
SELECT u.id, CASE WHEN u.role = 'admin' THEN 'super_admin' ELSE u.role END, '', ? FROM users u
WHERE u.role IN ('admin', 'player', 'streamer', 'agency')
AND NOT EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.id)`+conflict, now).Error
		if err != nil {
			return fmt.Errorf("seed user roles: %w", err)
		}
		return nil
	})
}

// newGrants returns the grants of gs whose permission is in added.
func newGrants(gs []Grant, added map[Permission]bool) []Grant {
	var out []Grant
	for _, g := range gs {
		if added[g.Permission] {
			out = append(out, g)
		}
	}
	return out
}

func permissionNames() []Permission {
	out := make([]Permission, len(Permissions))
	for i, p := range Permissions {
		out[i] = p.Name
	}
	return out
}

// effective reads a user's roles, grants and lock state. A permission granted by several
// roles takes the widest scope.
func (s *Store) effective(ctx context.Context, userID string) (*Effective, error) {
	var rows []struct {
		RoleName       string
		PermissionName *string
		Scope          *string
	}
	err := s.db.WithContext(ctx).Table("user_roles ur").
		Select("ur.role_name, rp.permission_name, rp.scope").
		Joins("LEFT JOIN role_permissions rp ON rp.role_name = ur.role_name").
		Where("ur.user_id = ?", userID).Order("ur.role_name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read grants: %w", err)
	}
	e := &Effective{Grants: make(map[Permission]Scope, len(rows))}
	for _, r := range rows {
		if n := len(e.Roles); n == 0 || e.Roles[n-1] != r.RoleName {
			e.Roles = append(e.Roles, r.RoleName)
		}
		if r.PermissionName == nil {
			continue
		}
		p, sc := Permission(*r.PermissionName), Scope(*r.Scope)
		if old, ok := e.Grants[p]; !ok || !old.covers(sc) {
			e.Grants[p] = sc
		}
	}
	var locked []struct{ LockedAt *time.Time }
	if err := s.db.WithContext(ctx).Table("users").Select("locked_at").Where("id = ?", userID).Scan(&locked).Error; err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	e.Locked = len(locked) == 1 && locked[0].LockedAt != nil
	return e, nil
}

// userParent returns the parent of user id, and whether the user exists.
func (s *Store) userParent(ctx context.Context, id string) (string, bool, error) {
	var rows []struct{ ParentID *string }
	if err := s.db.WithContext(ctx).Table("users").Select("parent_id").Where("id = ?", id).Scan(&rows).Error; err != nil {
		return "", false, fmt.Errorf("read user: %w", err)
	}
	if len(rows) == 0 {
		return "", false, nil
	}
	if rows[0].ParentID == nil {
		return "", true, nil
	}
	return *rows[0].ParentID, true, nil
}

// roles returns every role with its grants and number of holders.
func (s *Store) roles(ctx context.Context) ([]Role, error) {
	var rows []roleRow
	if err := s.db.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	var grants []rolePermissionRow
	if err := s.db.WithContext(ctx).Order("role_name, permission_name").Find(&grants).Error; err != nil {
		return nil, fmt.Errorf("read grants: %w", err)
	}
	var counts []struct {
		RoleName string
		N        int64
	}
	if err := s.db.WithContext(ctx).Model(&userRoleRow{}).Select("role_name, COUNT(*) AS n").Group("role_name").Scan(&counts).Error; err != nil {
		return nil, fmt.Errorf("count holders: %w", err)
	}
	byName := map[string]*Role{}
	out := make([]Role, len(rows))
	for i, r := range rows {
		out[i] = Role{Name: r.Name, Description: r.Description, System: r.System, Grants: []Grant{},
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
		byName[r.Name] = &out[i]
	}
	for _, g := range grants {
		if r := byName[g.RoleName]; r != nil {
			r.Grants = append(r.Grants, Grant{Permission(g.PermissionName), Scope(g.Scope)})
		}
	}
	for _, c := range counts {
		if r := byName[c.RoleName]; r != nil {
			r.Users = c.N
		}
	}
	return out, nil
}

// role returns one role, or ErrNotFound.
func (s *Store) role(ctx context.Context, name string) (*Role, error) {
	all, err := s.roles(ctx) // small table; one code path for the shape
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == name {
			return &all[i], nil
		}
	}
	return nil, ErrNotFound
}

// lockRole takes the row lock of role name inside tx, or returns ErrNotFound.
func lockRole(tx *gorm.DB, name string) (*roleRow, error) {
	var r roleRow
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("name = ?", name).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("lock role: %w", err)
	}
	return &r, nil
}

func (s *Store) createRole(ctx context.Context, r roleRow, grants []Grant) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		return insertGrants(tx, r.Name, grants)
	})
	if db.IsUniqueViolation(err) {
		return ErrRoleExists
	}
	if err != nil {
		return fmt.Errorf("create role: %w", err)
	}
	return nil
}

func insertGrants(tx *gorm.DB, role string, grants []Grant) error {
	for _, g := range grants {
		if err := tx.Create(&rolePermissionRow{RoleName: role, PermissionName: string(g.Permission), Scope: string(g.Scope)}).Error; err != nil {
			return err
		}
	}
	return nil
}

// updateRole changes a role's description and, when grants is not nil, replaces its grants.
func (s *Store) updateRole(ctx context.Context, name string, description *string, grants []Grant, now time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r, err := lockRole(tx, name)
		if err != nil {
			return err
		}
		if r.System {
			return ErrSystemRole
		}
		cols := map[string]any{"updated_at": now}
		if description != nil {
			cols["description"] = *description
		}
		if err := tx.Model(&roleRow{}).Where("name = ?", name).Updates(cols).Error; err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		if grants == nil {
			return nil
		}
		if err := tx.Where("role_name = ?", name).Delete(&rolePermissionRow{}).Error; err != nil {
			return fmt.Errorf("replace grants: %w", err)
		}
		return insertGrants(tx, name, grants)
	})
}

// deleteRole removes a role no user holds.
func (s *Store) deleteRole(ctx context.Context, name string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r, err := lockRole(tx, name)
		if err != nil {
			return err
		}
		if r.System {
			return ErrSystemRole
		}
		var n int64
		if err := tx.Model(&userRoleRow{}).Where("role_name = ?", name).Count(&n).Error; err != nil {
			return fmt.Errorf("count holders: %w", err)
		}
		if n > 0 {
			return ErrRoleAssigned
		}
		if err := tx.Where("role_name = ?", name).Delete(&rolePermissionRow{}).Error; err != nil {
			return fmt.Errorf("delete grants: %w", err)
		}
		return tx.Where("name = ?", name).Delete(&roleRow{}).Error
	})
}

// grant gives user the role. The role's row lock keeps a concurrent delete from orphaning it.
func grantIn(tx *gorm.DB, userID, role, by string, now time.Time) error {
	if _, err := lockRole(tx, role); err != nil {
		return err
	}
	err := tx.Create(&userRoleRow{UserID: userID, RoleName: role, GrantedBy: by, CreatedAt: now}).Error
	if db.IsUniqueViolation(err) {
		return ErrAlreadyHeld
	}
	return err
}

func (s *Store) grant(ctx context.Context, userID, role, by string, now time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return grantIn(tx, userID, role, by, now) })
}

// revoke takes the role from user. Taking super_admin from its last holder is refused; the
// role row lock makes two concurrent revokes of the last two holders leave one.
func (s *Store) revoke(ctx context.Context, userID, role string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockRole(tx, role); err != nil {
			return err
		}
		if role == RoleSuperAdmin {
			if err := checkNotLastSuperAdmin(tx, userID); err != nil {
				return err
			}
		}
		res := tx.Where("user_id = ? AND role_name = ?", userID, role).Delete(&userRoleRow{})
		if res.Error != nil {
			return fmt.Errorf("revoke: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// checkNotLastSuperAdmin refuses when userID is the only unlocked super admin.
func checkNotLastSuperAdmin(tx *gorm.DB, userID string) error {
	var others int64
	err := tx.Table("user_roles ur").Joins("JOIN users u ON u.id = ur.user_id").
		Where("ur.role_name = ? AND ur.user_id <> ? AND u.locked_at IS NULL", RoleSuperAdmin, userID).Count(&others).Error
	if err != nil {
		return fmt.Errorf("count super admins: %w", err)
	}
	if others == 0 {
		return ErrLastSuperAdmin
	}
	return nil
}

// setLocked locks or unlocks a user; locking the last super admin is refused.
func (s *Store) setLocked(ctx context.Context, userID string, at *time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if at != nil {
			if _, err := lockRole(tx, RoleSuperAdmin); err != nil {
				return err
			}
			var held int64
			if err := tx.Model(&userRoleRow{}).Where("user_id = ? AND role_name = ?", userID, RoleSuperAdmin).Count(&held).Error; err != nil {
				return err
			}
			if held > 0 {
				if err := checkNotLastSuperAdmin(tx, userID); err != nil {
					return err
				}
			}
		}
		res := tx.Table("users").Where("id = ?", userID).Update("locked_at", at)
		if res.Error != nil {
			return fmt.Errorf("lock user: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// holders returns the ids of the users holding role.
func (s *Store) holders(ctx context.Context, role string) ([]string, error) {
	var ids []string
	err := s.db.WithContext(ctx).Model(&userRoleRow{}).Where("role_name = ?", role).Pluck("user_id", &ids).Error
	return ids, err
}
