package payments

import (
	"context"

	"gorm.io/gorm"
)

// RefundSubject gives back the fulfilled payment of a subject (an order cancelled in time):
// the payment is marked as owing a refund in one transaction, then the provider is asked. A
// provider that fails is asked again by the reconciler, as for any owed refund, so the
// refund is never lost; refunded reports whether there was a payment to give back. Calling
// it again for the same subject is harmless.
func (s *Service) RefundSubject(ctx context.Context, kind, subjectID, reason string) (refunded bool, err error) {
	if len(reason) > 250 {
		reason = reason[:250]
	}
	if reason == "" {
		reason = "refunded on request"
	}
	var owed *Payment
	err = s.store.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ps []Payment
		if err := tx.Where("kind = ? AND subject_id = ? AND status IN ?", kind, subjectID,
			[]Status{StatusSucceeded, StatusRefunded}).Find(&ps).Error; err != nil {
			return err
		}
		for _, cand := range ps {
			p, err := lockByID(tx, cand.ID)
			if err != nil {
				return err
			}
			switch {
			case p.Status == StatusRefunded:
				refunded = true
			case p.RefundReason != "":
				owed, refunded = p, true // owed already; ask the provider again below
			default:
				refunded = true
				if err := tx.Model(&Payment{}).Where("id = ?", p.ID).Updates(map[string]any{
					"refund_reason": reason, "active_key": nil, "updated_at": s.now().UTC()}).Error; err != nil {
					return err
				}
				p.RefundReason, p.ActiveKey = reason, nil
				owed = p
			}
		}
		return nil
	})
	if err != nil || owed == nil {
		return refunded, err
	}
	if err := s.refund(ctx, owed); err != nil {
		s.log.WarnContext(ctx, "payments: refund failed; the reconciler retries", "payment", owed.ID, "err", err)
	}
	return true, nil
}
