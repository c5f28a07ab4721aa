package authz

import (
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// Migrations returns the authz schema. Each step describes its tables with frozen types.
// The users table (and its parent_id and locked_at columns) belongs to the auth domain.
func Migrations() []db.Migration {
	return []db.Migration{{ID: "0121_authz_roles", Up: func(tx *gorm.DB) error {
		return tx.Migrator().CreateTable(&roleV1{}, &permissionV1{}, &rolePermissionV1{}, &userRoleV1{})
	}}}
}

type roleV1 struct {
	Name        string    `gorm:"primaryKey;size:64"`
	Description string    `gorm:"size:255;not null"`
	System      bool      `gorm:"not null"`
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

func (roleV1) TableName() string { return "roles" }

type permissionV1 struct {
	Name        string `gorm:"primaryKey;size:64"`
	Module      string `gorm:"size:32;not null"`
	Description string `gorm:"size:255;not null"`
}

func (permissionV1) TableName() string { return "permissions" }

type rolePermissionV1 struct {
	RoleName       string `gorm:"primaryKey;size:64"`
	PermissionName string `gorm:"primaryKey;size:64"`
	Scope          string `gorm:"size:16;not null"`
}

func (rolePermissionV1) TableName() string { return "role_permissions" }

type userRoleV1 struct {
	UserID    string    `gorm:"primaryKey;size:36"`
	RoleName  string    `gorm:"primaryKey;size:64;index:idx_user_roles_role"`
	GrantedBy string    `gorm:"size:36;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (userRoleV1) TableName() string { return "user_roles" }
