package api

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// redoclyCLI is the pinned Redocly CLI that lints the document.
const redoclyCLI = "@redocly/cli@2.77.0"

// TestOpenAPILint runs Redocly's recommended rules (api/redocly.yaml) over the document the
// server serves and fails on any error or warning that is not listed, with its reason, in
// api/.redocly.lint-ignore.yaml.
func TestOpenAPILint(t *testing.T) {
	if testing.Short() {
		t.Skip("lints with npx; skipped in -short mode")
	}
	npx, err := exec.LookPath("npx")
	if err != nil {
		t.Skip("npx not found: install Node.js to lint the OpenAPI document")
	}
	dir := t.TempDir()
	for _, f := range []string{"redocly.yaml", ".redocly.lint-ignore.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "openapi.json"), OpenAPI(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npx, "-y", redoclyCLI, "lint", "--config", "redocly.yaml", "--format", "json", "openapi.json")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var report struct {
		Totals struct {
			Errors, Warnings, Ignored int
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("redocly lint: %v (run error %v)\nstdout: %s\nstderr: %s", err, runErr, stdout.String(), stderr.String())
	}
	for _, p := range report.Problems {
		if p.Severity == "error" || p.Severity == "warn" {
			where := ""
			if len(p.Location) > 0 {
				where = p.Location[0].Pointer
			}
			hint := ""
			if p.RuleID == "no-ambiguous-paths" {
				hint = " (a /meetings/{id}/<action> path collides with /meetings/code/{code} by design: list it in api/.redocly.lint-ignore.yaml)"
			}
			t.Errorf("%s %s at %s: %s%s", p.Severity, p.RuleID, where, p.Message, hint)
		}
	}
	if report.Totals.Errors != 0 || report.Totals.Warnings != 0 {
		t.Fatalf("redocly lint: %d errors, %d warnings", report.Totals.Errors, report.Totals.Warnings)
	}
}

// TestOperationIDs keeps the names table honest: every entry names a route of the table, and
// no two operations share a name.
func TestOperationIDs(t *testing.T) {
	known := map[string]bool{}
	for _, rt := range routes {
		known[rt.Method+" "+rt.Path] = true
	}
	for k := range operationIDs {
		if !known[k] {
			t.Errorf("operationIDs names %q, which is not in the route table", k)
		}
	}
	seen := map[string]string{}
	for _, rt := range routes {
		id := operationID(rt)
		if prev, dup := seen[id]; dup {
			t.Errorf("operationId %q is used by %s and %s %s", id, prev, rt.Method, rt.Path)
		}
		seen[id] = rt.Method + " " + rt.Path
	}
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/v1/meetings/{id}/recordings", "getMeetingsByIdRecordings"},
		{"POST", "/api/v1/meetings/{id}/giveaways/{giveaway_id}/draw", "postMeetingsByIdGiveawaysByGiveawayIdDraw"},
		{"DELETE", "/api/v1/ad-packages/{id}", "deleteAdPackagesById"},
	} {
		if got := operationID(route{Method: tc.method, Path: tc.path}); got != tc.want {
			t.Errorf("operationID(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}
