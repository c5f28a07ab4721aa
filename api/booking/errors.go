package booking

import "github.com/onstagehq/onstage/internal/apperr"

// The booking domain's errors.
var (
	ErrStreamerNotFound = apperr.New(apperr.NotFound, "streamer_not_found", "no such streamer")
	ErrOrderNotFound    = apperr.New(apperr.NotFound, "order_not_found", "no such order")
	ErrNotStreamer      = apperr.New(apperr.Forbidden, "not_a_streamer", "only streamer accounts may do this")
	ErrNotPlayer        = apperr.New(apperr.Forbidden, "not_a_player", "only player accounts may order")
	ErrNoProfile        = apperr.New(apperr.Conflict, "profile_missing", "complete the profile first")
	ErrSlotUnavailable  = apperr.New(apperr.Conflict, "slot_unavailable", "this time is not available")
	ErrScheduleBooked   = apperr.New(apperr.Conflict, "schedule_conflict", "the change would remove time already booked")
	ErrOrderState       = apperr.New(apperr.Conflict, "order_state", "the order's state does not allow this")
	ErrHoldExpired      = apperr.New(apperr.Conflict, "hold_expired", "the order's hold has expired")
	ErrCancelTooLate    = apperr.New(apperr.Conflict, "cancel_too_late", "a paid order can be cancelled only until 24 hours before it starts")
	ErrAlreadyReviewed  = apperr.New(apperr.Conflict, "already_reviewed", "this order is already reviewed")
	ErrNotCompleted     = apperr.New(apperr.Conflict, "order_not_completed", "only a completed order can be reviewed")
	ErrNotPending       = apperr.New(apperr.Conflict, "not_pending", "only a pending profile can be approved or rejected")
	ErrBadImage         = apperr.New(apperr.Invalid, "unsupported_image", "the image must be JPEG, PNG or WebP")
)
