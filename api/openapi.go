package api

import (
	"encoding/json"
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
	{"POST", "/api/v1/meetings/{id}/messages", "Send a chat message", "token", 201, []int{400, 401, 403, 404, 409}},
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
	{"PUT", "/api/v1/admin/streamers/{id}/approve", "Approve a pending streamer profile", "streamers:approve", 200, []int{401, 403, 404, 409, 429}},
	{"PUT", "/api/v1/admin/streamers/{id}/reject", "Reject a pending streamer profile with a reason", "streamers:approve", 200, []int{400, 401, 403, 404, 409, 429}},
	{"POST", "/api/v1/orders", "Order a streamer's time; held 15 minutes until paid (Idempotency-Key honoured)", "member", 201, []int{400, 401, 403, 404, 409, 422}},
	{"GET", "/api/v1/orders", "The caller's orders as buyer or streamer", "member", 200, []int{400, 401}},
	{"GET", "/api/v1/orders/{id}", "An order (buyer, streamer or orders:read_any)", "member", 200, []int{401, 404}},
	{"POST", "/api/v1/orders/{id}/cancel", "Cancel an order; a paid one is refunded", "member", 200, []int{400, 401, 404, 409, 503}},
	{"POST", "/api/v1/reviews", "Review a completed order (its buyer, once)", "member", 201, []int{400, 401, 404, 409}},
	{"POST", "/api/v1/uploads/images", "Upload a JPEG, PNG or WebP image (at most 2 MiB; metadata removed)", "member", 201, []int{400, 401, 413}},
	{"GET", "/api/v1/uploads/images/{name}", "An uploaded image", "public", 200, []int{404}},
}

// OpenAPI returns the OpenAPI 3 document of the REST API served at /api/openapi.json.
func OpenAPI() []byte {
	errSchema := map[string]any{"$ref": "#/components/schemas/Error"}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		responses := map[string]any{
			strconv.Itoa(rt.Success): map[string]any{"description": "success"},
		}
		for _, code := range rt.Errors {
			responses[strconv.Itoa(code)] = map[string]any{
				"description": "error",
				"content":     map[string]any{"application/json": map[string]any{"schema": errSchema}},
			}
		}
		op := map[string]any{"summary": rt.Summary, "responses": responses}
		if rt.Auth != AuthPublic {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
			op["x-onstage-access"] = rt.Auth
		}
		var params []any
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path",
					"required": true, "schema": map[string]any{"type": "string"}})
			}
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
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "onstage REST API", "version": "1",
			"description": "Field-level detail is in docs/api.md; signaling is docs/protocol.md."},
		"paths": paths,
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
