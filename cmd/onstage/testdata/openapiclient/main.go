// Command openapiclient is a client of onstage written only against the Go client that
// oapi-codegen generates from /api/openapi.json. The OpenAPI client test copies it into a
// scratch module next to the generated package and runs it against a live server: it
// registers, logs in and creates a meeting, and prints what it got as JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"onstageclient/client"
)

func main() {
	if len(os.Args) != 2 {
		fail("usage: openapiclient BASE_URL")
	}
	c, err := client.NewClientWithResponses(os.Args[1])
	check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	email := fmt.Sprintf("generated-%d@example.com", time.Now().UnixNano())
	reg, err := c.RegisterWithResponse(ctx, client.RegisterJSONRequestBody{
		"email": email, "password": "generated client", "display_name": "Generated"})
	check(err)
	if reg.JSON201 == nil {
		fail("register: %d %s", reg.StatusCode(), reg.Body)
	}

	login, err := c.LoginWithResponse(ctx, client.LoginJSONRequestBody{"email": email, "password": "generated client"})
	check(err)
	if login.JSON200 == nil {
		fail("login: %d %s", login.StatusCode(), login.Body)
	}
	token, _ := (*login.JSON200)["access_token"].(string)
	bearer := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}

	meeting := client.CreateMeetingJSONRequestBody{
		"title": "Generated", "start_time": time.Now().UTC().Format(time.RFC3339), "duration_minutes": 30}
	created, err := c.CreateMeetingWithResponse(ctx, meeting, bearer)
	check(err)
	if created.JSON201 == nil {
		fail("create meeting: %d %s", created.StatusCode(), created.Body)
	}

	// Without the token the same call is refused, and the refusal decodes as the Error schema.
	refused, err := c.CreateMeetingWithResponse(ctx, meeting)
	check(err)
	if refused.JSON401 == nil || refused.JSON401.Error == nil || refused.JSON401.Error.Code == nil {
		fail("create meeting without a token: %d %s", refused.StatusCode(), refused.Body)
	}

	check(json.NewEncoder(os.Stdout).Encode(map[string]any{
		"user_id":      (*reg.JSON201)["id"],
		"meeting_id":   (*created.JSON201)["id"],
		"meeting_code": (*created.JSON201)["code"],
		"refused_code": *refused.JSON401.Error.Code,
	}))
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
