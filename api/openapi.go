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
	// Auth: "" public, "token" any valid token, "member" a signed-in non-guest.
	Auth    string
	Success int
	Errors  []int
}

var routes = []route{
	{"POST", "/api/v1/auth/register", "Register an account; a verification link is mailed", "", 201, []int{400, 409, 413, 429}},
	{"GET", "/api/v1/auth/verify", "Verify an email address with the mailed token", "", 200, []int{400, 429}},
	{"POST", "/api/v1/auth/login", "Log in; returns access and refresh tokens", "", 200, []int{400, 401, 413, 429}},
	{"POST", "/api/v1/auth/refresh", "Rotate a refresh token; reuse revokes its family", "", 200, []int{400, 401, 429}},
	{"POST", "/api/v1/auth/logout", "Revoke a refresh token", "", 204, []int{400, 429}},
	{"POST", "/api/v1/auth/password/forgot", "Mail a password reset link", "", 202, []int{400, 429}},
	{"POST", "/api/v1/auth/password/reset", "Set a new password with the mailed token", "", 204, []int{400, 429}},
	{"POST", "/api/v1/auth/guest", "Get a guest token for joining public meetings", "", 200, []int{400, 429}},
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
	{"GET", "/api/v1/nodes", "Cluster nodes and their load (admin)", "admin", 200, []int{401, 403, 503}},
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
		if rt.Auth != "" {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
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
