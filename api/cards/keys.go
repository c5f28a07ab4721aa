package cards

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/db"
)

// MaxBatch bounds the keys of one batch.
const MaxBatch = 10000

// MaxValidDays bounds a key's validity.
const MaxValidDays = 3650

// BatchInput asks for count keys of a project, each valid valid_days from first use.
type BatchInput struct {
	ProjectID string `json:"project_id"`
	Count     int    `json:"count"`
	ValidDays int    `json:"valid_days"`
}

// CreateBatch generates keys for a project granted to the actor, charging
// count × valid_days × unit_price in the transaction that inserts them: all or nothing.
func (s *Service) CreateBatch(ctx context.Context, actor authn.Identity, in BatchInput) (*Batch, error) {
	if err := s.az.Can(ctx, actor, authz.CardsGenerate, nil); err != nil {
		return nil, err
	}
	f := map[string]string{}
	if in.Count < 1 || in.Count > MaxBatch {
		f["count"] = fmt.Sprintf("must be from 1 to %d", MaxBatch)
	}
	if in.ValidDays < 1 || in.ValidDays > MaxValidDays {
		f["valid_days"] = fmt.Sprintf("must be from 1 to %d", MaxValidDays)
	}
	if err := fieldsErr(f); err != nil {
		return nil, err
	}
	p, err := s.project(ctx, s.db, in.ProjectID)
	if err != nil {
		return nil, err
	}
	ok, err := s.grantActive(ctx, s.db, p.ID, actor.UserID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoGrant
	}
	cost := int64(in.Count) * int64(in.ValidDays) * p.UnitPrice
	var b *Batch
	// A duplicate key (100 random bits: practically never) fails the whole transaction;
	// generating again is the fix.
	for attempt := 0; attempt < 3; attempt++ {
		b, err = s.insertBatch(ctx, actor.UserID, p, in, cost)
		if !db.IsUniqueViolation(err) {
			break
		}
	}
	return b, err
}

func (s *Service) insertBatch(ctx context.Context, owner string, p *Project, in BatchInput, cost int64) (*Batch, error) {
	now := s.clock()
	b := &Batch{ID: newID(), ProjectID: p.ID, OwnerID: owner, Count: in.Count, ValidDays: in.ValidDays, Cost: cost, CreatedAt: now}
	keys := make([]Key, in.Count)
	for i := range keys {
		keys[i] = Key{ID: newID(), Key: newCardKey(), ProjectID: p.ID, BatchID: b.ID, OwnerID: owner, Status: KeyUnused,
			ValidDays: in.ValidDays, CreatedAt: now, UpdatedAt: now}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if cost > 0 {
			t, err := post(tx, TypeBatch, owner, "", owner, b.ID, cost, now)
			if err != nil {
				return err
			}
			b.TransferID = t.ID
		}
		if err := tx.Create(b).Error; err != nil {
			return err
		}
		return tx.CreateInBatches(keys, 500).Error
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// batch returns a batch the actor may see (its own; an admin's or agent admin's over its
// agents), or ErrNotFound.
func (s *Service) batch(ctx context.Context, actor authn.Identity, id string) (*Batch, error) {
	var b Batch
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&b).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if b.OwnerID != actor.UserID {
		if _, err := s.canOnUser(ctx, actor, authz.CardsQuota, b.OwnerID); err != nil {
			return nil, ErrNotFound
		}
	}
	return &b, nil
}

// BatchKeys returns the keys of a batch in creation order.
func (s *Service) BatchKeys(ctx context.Context, actor authn.Identity, id string) (*Batch, []Key, error) {
	b, err := s.batch(ctx, actor, id)
	if err != nil {
		return nil, nil, err
	}
	var keys []Key
	err = s.db.WithContext(ctx).Where("batch_id = ?", b.ID).Order("id").Find(&keys).Error
	return b, keys, err
}

// KeyQuery filters the key list.
type KeyQuery struct {
	ProjectID string
	// Status is unused, active, expired or disabled ("" for all).
	Status   string
	Q        string
	Page     int
	PageSize int
}

// KeyPage is one page of keys.
type KeyPage struct {
	Items    []Key `json:"items"`
	Total    int64 `json:"total"`
	Page     int   `json:"page"`
	PageSize int   `json:"page_size"`
}

// ownersScope narrows q (with an owner column named col) to what the actor sees: its own
// for an agent, its own and its agents' for an agent admin, everything for an admin.
func (s *Service) ownersScope(ctx context.Context, actor authn.Identity, q *gorm.DB, col string) (*gorm.DB, error) {
	scope, err := s.scopeOf(ctx, actor, authz.CardsQuota)
	if err != nil {
		return nil, err
	}
	switch scope {
	case authz.ScopeAll:
		return q, nil
	case authz.ScopeOwn:
		return q.Where(col+" = ? OR "+col+" IN (SELECT id FROM users WHERE parent_id = ?)", actor.UserID, actor.UserID), nil
	default:
		return q.Where(col+" = ?", actor.UserID), nil
	}
}

// Keys lists and searches keys the actor sees.
func (s *Service) Keys(ctx context.Context, actor authn.Identity, kq KeyQuery) (*KeyPage, error) {
	q, err := s.ownersScope(ctx, actor, s.db.WithContext(ctx).Model(&Key{}), "owner_id")
	if err != nil {
		return nil, err
	}
	if kq.ProjectID != "" {
		q = q.Where("project_id = ?", kq.ProjectID)
	}
	now := s.clock()
	switch kq.Status {
	case "":
	case KeyUnused, KeyDisabled:
		q = q.Where("status = ?", kq.Status)
	case KeyActive:
		q = q.Where("status = ? AND expires_at > ?", KeyActive, now)
	case KeyExpired:
		q = q.Where("status = ? AND expires_at <= ?", KeyActive, now)
	default:
		return nil, fieldsErr(map[string]string{"status": "must be unused, active, expired or disabled"})
	}
	if v := clean(kq.Q); v != "" {
		esc := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(v)
		// Keys are upper case however typed; device ids are matched as given.
		q = q.Where("(card_key LIKE ? ESCAPE '!' OR device_id LIKE ? ESCAPE '!')", "%"+strings.ToUpper(esc)+"%", "%"+esc+"%")
	}
	page := &KeyPage{Items: []Key{}, Page: kq.Page, PageSize: kq.PageSize}
	if err := q.Count(&page.Total).Error; err != nil {
		return nil, err
	}
	if err := q.Order("created_at DESC, id").Limit(kq.PageSize).Offset((kq.Page - 1) * kq.PageSize).Find(&page.Items).Error; err != nil {
		return nil, err
	}
	for i := range page.Items {
		page.Items[i].Status = page.Items[i].status(now)
	}
	return page, nil
}

// normalizeKey upper-cases and trims a key as typed.
func normalizeKey(k string) string { return strings.ToUpper(clean(k)) }

// Unbind clears an active, unexpired key's device (its owner only), keeping the expiry, at
// most cfg.UnbindsPer30Days times per key in 30 days. The count and the clear run in one
// transaction that locks the key row first, so racing unbinds cannot exceed the limit.
func (s *Service) Unbind(ctx context.Context, actor authn.Identity, key string) (*Key, error) {
	if err := s.az.Can(ctx, actor, authz.CardsGenerate, nil); err != nil {
		return nil, err
	}
	key = normalizeKey(key)
	var k Key
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.clock()
		// FOR UPDATE holds the key's row on PostgreSQL and MySQL until the count and the
		// clear are done; SQLite's write transaction already excludes other writers.
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("card_key = ? AND owner_id = ?", key, actor.UserID).Take(&k).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound.WithMessage("no such key")
		}
		if err != nil {
			return err
		}
		if k.status(now) != KeyActive || k.DeviceID == nil {
			return ErrKeyNotActive
		}
		var n int64
		if err := tx.Model(&unbindRow{}).Where("key_id = ? AND created_at > ?", k.ID, now.Add(-30*24*time.Hour)).Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(s.cfg.UnbindsPer30Days) {
			return ErrUnbindLimit
		}
		if err := tx.Create(&unbindRow{KeyID: k.ID, DeviceID: *k.DeviceID, ActorID: actor.UserID, CreatedAt: now}).Error; err != nil {
			return err
		}
		if err := tx.Model(&Key{}).Where("id = ?", k.ID).Updates(map[string]any{"device_id": nil, "updated_at": now}).Error; err != nil {
			return err
		}
		s.log.InfoContext(ctx, "cards key unbound", "key_id", k.ID, "by", actor.UserID)
		k.DeviceID = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}
