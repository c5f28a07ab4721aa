package auth

// Cache keys of the auth domain. Everything that must hold across nodes (refresh tokens,
// failed-login counters, locks, rate limits) lives in the cache, so with Redis every node
// sees the same state.
const (
	keyRate        = "auth:rate:"       // + client address: requests in the current minute
	keyFailures    = "auth:fail:"       // + sha256(email): failed logins in a row
	keyLock        = "auth:lock:"       // + sha256(email): locked until (unix nanoseconds)
	keyRefresh     = "auth:rt:"         // + sha256(token): a live refresh token's record
	keyRefreshUsed = "auth:rt:used:"    // + sha256(token): family of an already rotated token
	keyFamilyDead  = "auth:rt:revoked:" // + family id: the family is revoked
	keyEpoch       = "auth:epoch:"      // + user id: refresh tokens issued before it are revoked
)
