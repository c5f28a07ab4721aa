package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// route describes one REST route for the OpenAPI document. The table is checked against the
// live router by a test, so a route cannot be added without being documented here.
type route struct {
	Method, Path, Summary string
	// Auth is the access the route needs, enforced by the router's guard (deny by default:
	// an undeclared route is refused): "public" anyone, "token" any valid token (guests
	// included), "member" a signed-in non-guest, or an internal/authz permission such as
	// "roles:manage".
	Auth    string
	Success int
	Errors  []int
}

var routes = []route{
	{"POST", "/api/v1/auth/register", "Register an account; a verification link is mailed", "public", 201, []int{400, 409, 413, 429}},
	{"GET", "/api/v1/auth/verify", "Verify an email address with the mailed token", "public", 200, []int{400, 429}},
	{"POST", "/api/v1/auth/login", "Log in; returns access and refresh tokens", "public", 200, []int{400, 401, 413, 429}},
	{"POST", "/api/v1/auth/refresh", "Rotate a refresh token; reuse revokes its family", "public", 200, []int{400, 401, 429}},
	{"POST", "/api/v1/auth/logout", "Revoke a refresh token", "public", 204, []int{400, 429}},
	{"POST", "/api/v1/auth/password/forgot", "Mail a password reset link", "public", 202, []int{400, 429}},
	{"POST", "/api/v1/auth/password/reset", "Set a new password with the mailed token", "public", 204, []int{400, 429}},
	{"POST", "/api/v1/auth/guest", "Get a guest token for joining public meetings", "public", 200, []int{400, 429}},
	{"GET", "/api/v1/users/me", "The caller", "token", 200, []int{401}},
	{"PUT", "/api/v1/users/me", "Change the caller's name or password", "member", 200, []int{400, 401, 403}},
	{"POST", "/api/v1/meetings", "Create a meeting", "member", 201, []int{400, 401, 403}},
	{"GET", "/api/v1/meetings", "List meetings the caller created, joined or can see", "token", 200, []int{400, 401}},
	{"GET", "/api/v1/meetings/code/{code}", "Find a meeting by its join code", "token", 200, []int{401, 404}},
	{"GET", "/api/v1/meetings/{id}", "Meeting details", "token", 200, []int{401, 403, 404}},
	{"PATCH", "/api/v1/meetings/{id}", "Change or cancel a scheduled meeting (creator)", "member", 200, []int{400, 401, 403, 404, 409}},
	{"POST", "/api/v1/meetings/{id}/join", "Join a meeting", "token", 200, []int{400, 401, 403, 404, 409}},
	{"POST", "/api/v1/meetings/{id}/leave", "Leave a meeting", "token", 204, []int{401, 404, 409}},
	{"POST", "/api/v1/meetings/{id}/end", "End a meeting (host or co-host)", "token", 200, []int{401, 403, 404, 409}},
	{"GET", "/api/v1/meetings/{id}/participants", "Online participants", "token", 200, []int{401, 403, 404}},
	{"POST", "/api/v1/meetings/{id}/participants/{user_id}/role", "Make or revoke a co-host (host)", "token", 200, []int{400, 401, 403, 404, 409}},
	{"POST", "/api/v1/meetings/{id}/participants/{user_id}/kick", "Remove a participant for good (host or co-host)", "token", 204, []int{401, 403, 404, 409}},
	{"POST", "/api/v1/meetings/{id}/transfer-host", "Hand the host role to another participant (host)", "token", 200, []int{400, 401, 403, 404, 409}},
	{"GET", "/api/v1/meetings/{id}/messages", "Chat messages visible to the caller", "token", 200, []int{400, 401, 403, 404}},
	{"POST", "/api/v1/meetings/{id}/messages", "Send a chat message", "token", 201, []int{400, 401, 403, 404, 409, 429, 503}},
	{"GET", "/api/v1/nodes", "Cluster nodes and their load", "nodes:read", 200, []int{401, 403, 503}},
	{"GET", "/api/v1/admin/permissions", "Every permission the code knows", "roles:manage", 200, []int{401, 403}},
	{"GET", "/api/v1/admin/roles", "Roles with their permissions and holder counts", "roles:manage", 200, []int{401, 403}},
	{"POST", "/api/v1/admin/roles", "Create a role (only with permissions the caller holds)", "roles:manage", 201, []int{400, 401, 403, 409, 429}},
	{"PUT", "/api/v1/admin/roles/{name}", "Change a role's description or permissions", "roles:manage", 200, []int{400, 401, 403, 404, 409, 429}},
	{"DELETE", "/api/v1/admin/roles/{name}", "Delete a role no one holds", "roles:manage", 204, []int{401, 403, 404, 409, 429}},
	{"POST", "/api/v1/admin/users/{id}/roles", "Grant a role to a user", "roles:manage", 204, []int{400, 401, 403, 404, 409, 429}},
	{"DELETE", "/api/v1/admin/users/{id}/roles/{role}", "Revoke a role from a user (the last super_admin stays)", "roles:manage", 204, []int{401, 403, 404, 409, 429}},
	{"GET", "/api/v1/admin/users", "Users the caller manages, filtered and paged", "users:manage", 200, []int{400, 401, 403}},
	{"POST", "/api/v1/admin/users/{id}/lock", "Lock a user's account", "users:manage", 204, []int{400, 401, 403, 404, 409, 429}},
	{"POST", "/api/v1/admin/users/{id}/unlock", "Unlock a user's account", "users:manage", 204, []int{401, 403, 404, 429}},
	{"GET", "/api/v1/admin/audit", "The admin audit log, filtered and paged (the read is audited)", "audit:read", 200, []int{400, 401, 403}},
	{"GET", "/api/v1/admin/audit/verify", "Recompute the audit hash chain; names the first broken row", "audit:read", 200, []int{401, 403}},
	{"POST", "/api/v1/payments", "Start paying for an order or an ad (Idempotency-Key honoured)", "member", 201, []int{400, 401, 403, 404, 409, 413, 422, 503}},
	{"GET", "/api/v1/payments/{id}", "A payment of the caller", "member", 200, []int{401, 403, 404}},
	{"POST", "/api/v1/payments/webhook/{provider}", "Provider webhook (signed; deduplicated by event id)", "public", 200, []int{400, 404, 413, 429}},
	{"POST", "/api/v1/payments/sandbox/{ref}/{action}", "Sandbox checkout button: succeed, decline or never", "public", 202, []int{404, 409, 429}},
	{"POST", "/api/v1/meetings/{id}/giveaways", "Open a giveaway in a live meeting (host or co-host)", "token", 201, []int{400, 401, 403, 404, 409}},
	{"GET", "/api/v1/meetings/{id}/giveaways", "A meeting's giveaways", "token", 200, []int{401, 403, 404}},
	{"GET", "/api/v1/meetings/{id}/giveaways/stats", "Giveaway entries per minute and per source", "token", 200, []int{401, 403, 404}},
	{"GET", "/api/v1/meetings/{id}/giveaways/{gid}", "One giveaway: status, commitment, entry count, hash, winners", "token", 200, []int{401, 403, 404}},
	{"POST", "/api/v1/meetings/{id}/giveaways/{gid}/entries", "Enter a giveaway (participants, once each)", "token", 201, []int{400, 401, 404, 409}},
	{"GET", "/api/v1/meetings/{id}/giveaways/{gid}/entries", "A giveaway's entries, newest first, masked", "token", 200, []int{400, 401, 403, 404}},
	{"POST", "/api/v1/meetings/{id}/giveaways/{gid}/close", "Close a giveaway's entries (host or co-host)", "token", 200, []int{401, 403, 404, 409}},
	{"POST", "/api/v1/meetings/{id}/giveaways/{gid}/draw", "Draw the winners (host or co-host)", "token", 200, []int{401, 403, 404, 409}},
	{"POST", "/api/v1/meetings/{id}/giveaways/{gid}/reroll", "Draw one replacement winner (host or co-host)", "token", 200, []int{400, 401, 403, 404, 409}},
	{"GET", "/api/v1/meetings/{id}/giveaways/{gid}/proof", "Everything needed to recompute a draw (participants)", "token", 200, []int{401, 403, 404, 409}},
	{"GET", "/api/v1/ads/packages", "Ad packages on sale", "public", 200, nil},
	{"POST", "/api/v1/ads/packages", "Create an ad package", "ads:packages", 201, []int{400, 401, 403}},
	{"PUT", "/api/v1/ads/packages/{id}", "Replace an ad package (sold ads keep their terms)", "ads:packages", 200, []int{400, 401, 403, 404}},
	{"POST", "/api/v1/ads/purchase", "Buy an ad package (streamers; Idempotency-Key honoured); pay with POST /payments {ad_id}", "member", 201, []int{400, 401, 403, 404, 409, 422}},
	{"GET", "/api/v1/ads", "The caller's ads (owned, or of its sub-accounts) with status and time left", "member", 200, []int{400, 401, 403}},
	{"PUT", "/api/v1/ads/{id}/toggle", "Pause or resume an ad (its owner or agency); paused time is not counted", "member", 200, []int{400, 401, 403, 404, 409}},
	{"GET", "/api/v1/ads/{id}/stats", "An ad's impressions, clicks and unique viewers per day (owner, agency or ads:packages)", "member", 200, []int{400, 401, 403, 404}},
	{"GET", "/api/v1/ads/{id}/history", "An ad's state changes (owner or agency)", "member", 200, []int{401, 403, 404}},
	{"POST", "/api/v1/ads/click", "Count a click on a served sponsored card (its ad_token, once)", "public", 200, []int{400, 409, 429, 503}},
	{"POST", "/api/v1/agency/import", "Import streamer sub-accounts from CSV or XLSX: all or none (?dry_run=1 validates)", "member", 201, []int{400, 401, 403, 413, 422}},
	{"GET", "/api/v1/agency/sub-accounts", "The agency's sub-accounts, searched and paged", "member", 200, []int{400, 401, 403}},
	{"POST", "/api/v1/agency/ads/purchase", "Buy an ad for a sub-account (Idempotency-Key honoured)", "member", 201, []int{400, 401, 403, 404, 409, 422}},
	{"PUT", "/api/v1/agency/ads/{id}/toggle", "Pause or resume a sub-account's ad", "member", 200, []int{400, 401, 403, 404, 409}},
	{"GET", "/api/v1/streamers", "Catalogue of approved streamers: filters, sort, paging (cached)", "public", 200, []int{400}},
	{"GET", "/api/v1/streamers/profile", "The calling streamer's own profile and approval state", "member", 200, []int{401, 403, 404}},
	{"PUT", "/api/v1/streamers/profile", "Create or change the calling streamer's profile (waits for approval)", "member", 200, []int{400, 401, 403}},
	{"GET", "/api/v1/streamers/schedule", "The calling streamer's schedule", "member", 200, []int{401, 403, 409}},
	{"PUT", "/api/v1/streamers/schedule", "Replace the calling streamer's schedule (409 when it drops booked time)", "member", 200, []int{400, 401, 403, 409}},
	{"GET", "/api/v1/streamers/{id}", "A streamer's public page: reviews and free slots for 14 days", "public", 200, []int{400, 404}},
	{"GET", "/api/v1/streamers/{id}/reviews", "A streamer's reviews, newest first", "public", 200, []int{400, 404}},
	{"GET", "/api/v1/admin/streamers", "Streamer profiles in one state (pending by default), for approval", "streamers:approve", 200, []int{400, 401, 403}},
	{"PUT", "/api/v1/admin/streamers/{id}/approve", "Approve a pending streamer profile", "streamers:approve", 200, []int{401, 403, 404, 409, 429}},
	{"PUT", "/api/v1/admin/streamers/{id}/reject", "Reject a pending streamer profile with a reason", "streamers:approve", 200, []int{400, 401, 403, 404, 409, 429}},
	{"POST", "/api/v1/orders", "Order a streamer's time; held 15 minutes until paid (Idempotency-Key honoured)", "member", 201, []int{400, 401, 403, 404, 409, 422}},
	{"GET", "/api/v1/orders", "The caller's orders as buyer or streamer", "member", 200, []int{400, 401}},
	{"GET", "/api/v1/orders/{id}", "An order (buyer, streamer or orders:read_any)", "member", 200, []int{401, 404}},
	{"POST", "/api/v1/orders/{id}/cancel", "Cancel an order; a paid one is refunded", "member", 200, []int{400, 401, 404, 409, 503}},
	{"POST", "/api/v1/reviews", "Review a completed order (its buyer, once)", "member", 201, []int{400, 401, 404, 409}},
	{"POST", "/api/v1/uploads/images", "Upload a JPEG, PNG or WebP image (at most 2 MiB; metadata removed)", "member", 201, []int{400, 401, 413}},
	{"GET", "/api/v1/uploads/images/{name}", "An uploaded image", "public", 200, []int{404}},
	{"POST", "/api/v1/agents", "Create an agent (an agent admin's own; mailed a set-password link)", "users:manage", 201, []int{400, 401, 403, 409}},
	{"GET", "/api/v1/agents", "The caller's agents (an admin sees all)", "users:manage", 200, []int{400, 401, 403}},
	{"POST", "/api/v1/cards/projects", "Create a card-key project; its secret is shown this once", "cards:projects", 201, []int{400, 401, 403}},
	{"GET", "/api/v1/cards/projects", "Projects (an agent sees those granted to it)", "member", 200, []int{401, 403}},
	{"POST", "/api/v1/cards/projects/{id}/rotate-secret", "Rotate a project's secret (the old one works for a grace period)", "cards:projects", 200, []int{401, 403, 404, 409}},
	{"GET", "/api/v1/cards/projects/{id}/public-key", "A project's Ed25519 public key, for offline licenses", "public", 200, []int{404}},
	{"GET", "/api/v1/cards/projects/{id}/deliveries", "A project's activation callback deliveries", "cards:projects", 200, []int{400, 401, 403, 404}},
	{"POST", "/api/v1/cards/projects/{id}/deliveries/{did}/resend", "Send a callback delivery again", "cards:projects", 202, []int{401, 403, 404}},
	{"POST", "/api/v1/cards/grants", "Grant a project to an agent until a time (admin or the agent's agent admin)", "cards:quota", 201, []int{400, 401, 403, 404}},
	{"GET", "/api/v1/cards/grants", "Grants the caller gave or holds", "member", 200, []int{401, 403}},
	{"POST", "/api/v1/cards/applications", "An agent asks for a project", "cards:generate", 201, []int{400, 401, 403, 404}},
	{"GET", "/api/v1/cards/applications", "Applications the caller made or may decide", "member", 200, []int{401, 403}},
	{"POST", "/api/v1/cards/applications/{id}/decide", "Approve (granting) or reject an application (the agent's superior)", "cards:quota", 200, []int{400, 401, 403, 404, 409}},
	{"POST", "/api/v1/cards/batches", "Generate keys, charged in the same transaction (Idempotency-Key required)", "cards:generate", 201, []int{400, 401, 403, 404, 409, 422}},
	{"GET", "/api/v1/cards/batches/{id}/export", "A batch's keys as CSV or XLSX", "member", 200, []int{400, 401, 403, 404}},
	{"GET", "/api/v1/cards/keys", "List and search keys (project, status, text)", "member", 200, []int{400, 401, 403}},
	{"POST", "/api/v1/cards/keys/{key}/unbind", "Clear an active key's device (its owner; limited per 30 days)", "cards:generate", 200, []int{401, 403, 404, 409, 429}},
	{"GET", "/api/v1/cards/stats", "Keys by project, status and day; ledger totals by type and day (scoped by role)", "member", 200, []int{401, 403}},
	{"POST", "/api/v1/cards/verify", "Signed: verify a key and bind its device on first use", "public", 200, []int{400, 401, 413, 429}},
	{"POST", "/api/v1/cards/query", "Signed: a key's state, without binding", "public", 200, []int{400, 401, 413, 429}},
	{"POST", "/api/v1/quota/recharges", "Recharge a user's quota (admin: from the system; agent admin: its agents, from its own)", "cards:quota", 201, []int{400, 401, 403, 404, 409, 422}},
	{"POST", "/api/v1/quota/transfers", "Transfer quota to another user (pending, then posted)", "member", 201, []int{400, 401, 403, 404, 409, 422}},
	{"POST", "/api/v1/quota/withdrawals", "Ask to withdraw quota (frozen until the superior decides)", "member", 201, []int{400, 401, 403, 409, 422}},
	{"GET", "/api/v1/quota/withdrawals", "Withdrawal requests the caller made or may decide", "member", 200, []int{400, 401, 403}},
	{"POST", "/api/v1/quota/withdrawals/{id}/approve", "Approve a withdrawal (posted)", "cards:quota", 200, []int{400, 401, 403, 404, 409, 422}},
	{"POST", "/api/v1/quota/withdrawals/{id}/reject", "Reject a withdrawal (voided)", "cards:quota", 200, []int{400, 401, 403, 404, 409, 422}},
	{"GET", "/api/v1/quota/balance", "The caller's available and pending quota", "member", 200, []int{401, 403}},
	{"GET", "/api/v1/quota/entries", "The caller's ledger entries, paged", "member", 200, []int{400, 401, 403}},
	{"GET", "/api/v1/quota/ledger/check", "Recompute the ledger's invariants", "cards:projects", 200, []int{401, 403}},
}

// operationIDs name the operations of the table for generated clients. A route missing here
// gets a name derived from its method and path (operationID), so the document never lacks one.
var operationIDs = map[string]string{
	"POST /api/v1/auth/register":                             "register",
	"GET /api/v1/auth/verify":                                "verifyEmail",
	"POST /api/v1/auth/login":                                "login",
	"POST /api/v1/auth/refresh":                              "refreshToken",
	"POST /api/v1/auth/logout":                               "logout",
	"POST /api/v1/auth/password/forgot":                      "forgotPassword",
	"POST /api/v1/auth/password/reset":                       "resetPassword",
	"POST /api/v1/auth/guest":                                "guestToken",
	"GET /api/v1/users/me":                                   "getMe",
	"PUT /api/v1/users/me":                                   "updateMe",
	"POST /api/v1/meetings":                                  "createMeeting",
	"GET /api/v1/meetings":                                   "listMeetings",
	"GET /api/v1/meetings/code/{code}":                       "getMeetingByCode",
	"GET /api/v1/meetings/{id}":                              "getMeeting",
	"PATCH /api/v1/meetings/{id}":                            "updateMeeting",
	"POST /api/v1/meetings/{id}/join":                        "joinMeeting",
	"POST /api/v1/meetings/{id}/leave":                       "leaveMeeting",
	"POST /api/v1/meetings/{id}/end":                         "endMeeting",
	"GET /api/v1/meetings/{id}/participants":                 "listParticipants",
	"POST /api/v1/meetings/{id}/participants/{user_id}/role": "setParticipantRole",
	"POST /api/v1/meetings/{id}/participants/{user_id}/kick": "kickParticipant",
	"POST /api/v1/meetings/{id}/transfer-host":               "transferHost",
	"GET /api/v1/meetings/{id}/messages":                     "listMessages",
	"POST /api/v1/meetings/{id}/messages":                    "postMessage",
	"GET /api/v1/nodes":                                      "listNodes",
}

// queryParams are the query parameters of the routes that take any.
var queryParams = map[string][]string{
	"GET /api/v1/auth/verify": {"code"},
}

// apiPrefix is the part of every path that names no resource.
const apiPrefix = "/api/v1/"

// operationID returns the table's name for rt, or one derived from its method and path:
// GET /api/v1/meetings/{id}/participants is getMeetingsByIdParticipants.
func operationID(rt route) string {
	if id, ok := operationIDs[rt.Method+" "+rt.Path]; ok {
		return id
	}
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, seg := range strings.Split(strings.TrimPrefix(rt.Path, apiPrefix), "/") {
		if p, ok := strings.CutPrefix(seg, "{"); ok {
			b.WriteString("By")
			seg = strings.TrimSuffix(p, "}")
		}
		for _, word := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			b.WriteString(strings.ToUpper(word[:1]) + word[1:])
		}
	}
	return b.String()
}

// tag groups a route by the first segment of its path below /api/v1.
func tag(path string) string {
	t, _, _ := strings.Cut(strings.TrimPrefix(path, apiPrefix), "/")
	return t
}

var tagDescriptions = map[string]string{
	"auth":      "Accounts and tokens",
	"users":     "The caller's own account",
	"meetings":  "Meetings, their participants and chat",
	"nodes":     "The cluster's nodes",
	"admin":     "Roles, permissions, user administration and the audit log",
	"payments":  "Payment intents, provider webhooks and the sandbox checkout",
	"streamers": "The streamer catalogue, profiles, schedules and approval",
	"orders":    "Booking orders: hold, pay, cancel",
	"reviews":   "Reviews of completed bookings",
	"uploads":   "Image uploads",
	"ads":       "Ad packages, purchases, placement and statistics",
	"agency":    "Agencies and their sub-accounts",
	"agents":    "Agent admins' agents",
	"cards":     "Card-key projects, grants, batches, keys and the signed verify API",
	"quota":     "The card-key quota ledger",
}

// OpenAPI returns the OpenAPI 3 document of the REST API served at /api/openapi.json. It is
// generated from the route table, which a test keeps equal to the live router; the document
// itself passes Redocly's recommended rules (api/redocly.yaml), which another test runs.
func OpenAPI() []byte {
	errSchema := map[string]any{"$ref": "#/components/schemas/Error"}
	bearer := []any{map[string]any{"bearer": []string{}}}
	paths := map[string]map[string]any{}
	tags := map[string]bool{}
	for _, rt := range routes {
		success := map[string]any{"description": http.StatusText(rt.Success)}
		if rt.Success == http.StatusOK || rt.Success == http.StatusCreated {
			success["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		responses := map[string]any{strconv.Itoa(rt.Success): success}
		for _, code := range rt.Errors {
			responses[strconv.Itoa(code)] = map[string]any{
				"description": http.StatusText(code),
				"content":     map[string]any{"application/json": map[string]any{"schema": errSchema}},
			}
		}
		t := tag(rt.Path)
		tags[t] = true
		op := map[string]any{
			"operationId": operationID(rt), "summary": rt.Summary, "tags": []string{t}, "responses": responses,
			// Public operations say so explicitly: no requirement, rather than an unstated one.
			"security": []any{},
		}
		if rt.Auth != AuthPublic {
			op["security"] = bearer
			op["x-onstage-access"] = rt.Auth
		}
		var params []any
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path",
					"required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range queryParams[rt.Method+" "+rt.Path] {
			params = append(params, map[string]any{"name": q, "in": "query", "required": true,
				"schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH" {
			op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{
				"schema": map[string]any{"type": "object"}}}}
		}
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	tagList := make([]any, 0, len(tags))
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		entry := map[string]any{"name": t}
		if d := tagDescriptions[t]; d != "" {
			entry["description"] = d
		}
		tagList = append(tagList, entry)
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "onstage REST API", "version": "1",
			"description": "Field-level detail is in docs/api.md; signaling is docs/protocol.md."},
		// Relative: the document is served by the API it describes.
		"servers": []any{map[string]any{"url": "/"}},
		"tags":    tagList,
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
			"schemas": map[string]any{"Error": map[string]any{"type": "object", "properties": map[string]any{
				"error": map[string]any{"type": "object", "properties": map[string]any{
					"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"},
					"fields": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
				}},
			}}},
		},
	}
	out, _ := json.MarshalIndent(doc, "", "  ")
	return out
}
