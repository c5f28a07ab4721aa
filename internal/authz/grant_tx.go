package authz

import (
	"time"

	"gorm.io/gorm"
)

// GrantInTx gives userID the named role inside tx, recorded as granted by `by` (the auth
// domain calls it when a superior creates a managed account, such as an agent admin's agent).
func GrantInTx(tx *gorm.DB, userID, role, by string, now time.Time) error {
	return grantIn(tx, userID, role, by, now)
}
