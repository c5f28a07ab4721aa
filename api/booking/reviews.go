package booking

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/db"
)

// MaxComment bounds a review's comment.
const MaxComment = 2000

// ReviewInput is POST /reviews.
type ReviewInput struct {
	OrderID string `json:"order_id"`
	Rating  int    `json:"rating"`
	Comment string `json:"comment"`
}

// AddReview records the buyer's review of a completed order, once, and moves the streamer's
// rating in the same transaction. The unique index on order_id refuses a second review even
// when two race.
func (s *Service) AddReview(ctx context.Context, caller authn.Identity, in ReviewInput) (ReviewView, error) {
	bad := map[string]string{}
	if in.Rating < 1 || in.Rating > 5 {
		bad["rating"] = "must be 1 to 5"
	}
	in.Comment = strings.TrimSpace(in.Comment)
	if utf8.RuneCountInString(in.Comment) > MaxComment {
		bad["comment"] = fmt.Sprintf("at most %d characters", MaxComment)
	}
	if in.OrderID == "" || len(in.OrderID) > 64 {
		bad["order_id"] = "required"
	}
	if len(bad) > 0 {
		return ReviewView{}, apperr.Invalidf(bad)
	}
	name := caller.Name
	if _, n, err := s.contact(ctx, caller.UserID); err == nil && n != "" {
		name = n
	}
	var r *Review
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		o, err := lockOrder(tx, in.OrderID)
		if err != nil {
			return err
		}
		if o.BuyerID != caller.UserID {
			return ErrOrderNotFound
		}
		if o.Status != OrderCompleted {
			return ErrNotCompleted
		}
		// A read first keeps the common repeat quiet; the unique index still decides a race.
		var n int64
		if err := tx.Model(&Review{}).Where("order_id = ?", o.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrAlreadyReviewed
		}
		r = &Review{ID: uuid.NewString(), OrderID: o.ID, StreamerID: o.StreamerID, BuyerID: o.BuyerID,
			BuyerName: truncate(name, 64), Rating: in.Rating, Comment: in.Comment, CreatedAt: s.clock()}
		if err := tx.Create(r).Error; err != nil {
			if db.IsUniqueViolation(err) {
				return ErrAlreadyReviewed
			}
			return err
		}
		return tx.Model(&Profile{}).Where("user_id = ?", o.StreamerID).Updates(map[string]any{
			"rating_sum": gorm.Expr("rating_sum + ?", in.Rating), "review_count": gorm.Expr("review_count + 1")}).Error
	})
	if err != nil {
		return ReviewView{}, err
	}
	s.invalidate(ctx)
	return r.view(), nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Reviews pages a listed streamer's reviews, newest first.
func (s *Service) Reviews(ctx context.Context, streamerID string, page, size int) ([]ReviewView, int64, error) {
	p, err := s.profile(ctx, s.db, streamerID)
	if err != nil {
		return nil, 0, err
	}
	if !p.listed() {
		return nil, 0, ErrStreamerNotFound
	}
	return s.reviews(ctx, streamerID, page, size)
}

func (s *Service) reviews(ctx context.Context, streamerID string, page, size int) ([]ReviewView, int64, error) {
	q := s.db.WithContext(ctx).Model(&Review{}).Where("streamer_id = ?", streamerID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rs []Review
	if err := q.Order("created_at DESC").Order("id").Offset((page - 1) * size).Limit(size).Find(&rs).Error; err != nil {
		return nil, 0, err
	}
	out := make([]ReviewView, 0, len(rs))
	for i := range rs {
		out = append(out, rs[i].view())
	}
	return out, total, nil
}
