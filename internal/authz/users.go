package authz

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
)

// UserQuery filters the admin user list.
type UserQuery struct {
	// Q matches the email or display name (substring, case-insensitive).
	Q string
	// Role keeps users holding this role.
	Role string
	// Status is "active", "locked" or "" (both).
	Status   string
	Page     int
	PageSize int
}

// UserSummary is a user in the admin list.
type UserSummary struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	Roles       []string   `json:"roles"`
	Status      string     `json:"status"`
	ParentID    *string    `json:"parent_id"`
	LockedAt    *time.Time `json:"locked_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// UserPage is one page of users.
type UserPage struct {
	Items    []UserSummary `json:"items"`
	Total    int64         `json:"total"`
	Page     int           `json:"page"`
	PageSize int           `json:"page_size"`
}

// Users lists users the actor manages: all of them with users:manage, or with a grant scoped
// to its own only those it created.
func (s *Service) Users(ctx context.Context, actor authn.Identity, q UserQuery) (*UserPage, error) {
	if err := s.Can(ctx, actor, UsersManage, nil); err != nil {
		return nil, err
	}
	eff, err := s.Effective(ctx, actor.UserID)
	if err != nil {
		return nil, err
	}
	if q.Status != "" && q.Status != "active" && q.Status != "locked" {
		return nil, apperr.Invalidf(map[string]string{"status": "must be active or locked"})
	}
	tx := s.store.db.WithContext(ctx).Table("users u")
	if eff.Grants[UsersManage] != ScopeAll {
		tx = tx.Where("u.parent_id = ?", actor.UserID)
	}
	if q.Q != "" {
		like := "%" + strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(strings.ToLower(q.Q)) + "%"
		tx = tx.Where("(LOWER(u.email) LIKE ? ESCAPE '!' OR LOWER(u.display_name) LIKE ? ESCAPE '!')", like, like)
	}
	if q.Role != "" {
		tx = tx.Where("EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.id AND ur.role_name = ?)", q.Role)
	}
	switch q.Status {
	case "active":
		tx = tx.Where("u.locked_at IS NULL")
	case "locked":
		tx = tx.Where("u.locked_at IS NOT NULL")
	}
	page := &UserPage{Items: []UserSummary{}, Page: q.Page, PageSize: q.PageSize}
	if err := tx.Count(&page.Total).Error; err != nil {
		return nil, fmt.Errorf("count users: %w", err)
	}
	var rows []struct {
		ID, Email, DisplayName string
		ParentID               *string
		LockedAt               *time.Time
		CreatedAt              time.Time
	}
	err = tx.Select("u.id, u.email, u.display_name, u.parent_id, u.locked_at, u.created_at").
		Order("u.created_at DESC, u.id").Limit(q.PageSize).Offset((q.Page - 1) * q.PageSize).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	roles := map[string][]string{}
	if len(ids) > 0 {
		var urs []userRoleRow
		if err := s.store.db.WithContext(ctx).Where("user_id IN ?", ids).Order("role_name").Find(&urs).Error; err != nil {
			return nil, fmt.Errorf("list user roles: %w", err)
		}
		for _, ur := range urs {
			roles[ur.UserID] = append(roles[ur.UserID], ur.RoleName)
		}
	}
	for _, r := range rows {
		u := UserSummary{ID: r.ID, Email: r.Email, DisplayName: r.DisplayName, Roles: roles[r.ID], Status: "active",
			ParentID: r.ParentID, LockedAt: r.LockedAt, CreatedAt: r.CreatedAt.UTC()}
		if u.Roles == nil {
			u.Roles = []string{}
		}
		if r.LockedAt != nil {
			u.Status = "locked"
			t := r.LockedAt.UTC()
			u.LockedAt = &t
		}
		page.Items = append(page.Items, u)
	}
	return page, nil
}
