package rooms

import (
	"context"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
)

// CardGate verifies the card keys of card-gated meetings. The card-key domain implements
// it (the meeting domain imports no REST package); Check applies the verify API's rules,
// binding deviceID to the key on first use.
type CardGate interface {
	// Check returns the verify code of key in the project: "VALID" admits.
	Check(ctx context.Context, projectID, key, deviceID string) (code string, err error)
	// CanUse reports whether caller may gate a meeting with the project (nil when it may).
	CanUse(ctx context.Context, caller authn.Identity, projectID string) error
}

// CardValid is the code that admits a joiner.
const CardValid = "VALID"

// The errors of card-gated meetings.
var (
	// ErrCardRequired is a join of a card-gated meeting without a card key.
	ErrCardRequired = apperr.New(apperr.Forbidden, "card_required", "this meeting needs a card key")
	// ErrCardInvalid is a join with a key that does not verify; Fields["code"] is the
	// verify code (EXPIRED, DEVICE_MISMATCH, …).
	ErrCardInvalid = apperr.New(apperr.Forbidden, "card_invalid", "the card key is not valid for this meeting")
	// ErrCardsUnavailable is a card-gated meeting on a node without the card-key domain.
	ErrCardsUnavailable = apperr.New(apperr.Unavailable, "unavailable", "card keys cannot be checked here")
)

// checkCard admits a joiner of a card-gated meeting. Without a device id the key is bound
// to the account ("user:<id>"), so one key admits one account.
func (s *Service) checkCard(ctx context.Context, caller authn.Identity, m *Meeting, in JoinInput) error {
	if m.CardProjectID == "" {
		return nil
	}
	if s.cards == nil {
		return ErrCardsUnavailable
	}
	if in.CardKey == "" {
		return ErrCardRequired
	}
	device := in.DeviceID
	if device == "" {
		device = "user:" + caller.UserID
	}
	code, err := s.cards.Check(ctx, m.CardProjectID, in.CardKey, device)
	if err != nil {
		return err
	}
	if code != CardValid {
		return ErrCardInvalid.WithFields(map[string]string{"code": code}).WithMessage("the card key is not valid: " + code)
	}
	return nil
}

type m0131Meeting struct {
	CardProjectID string `gorm:"size:36;not null;default:''"`
}

func (m0131Meeting) TableName() string { return "meetings" }

func migrate0131(tx *gorm.DB) error { return tx.Migrator().AddColumn(&m0131Meeting{}, "CardProjectID") }
