package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
)

type body struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	On    *bool  `json:"on"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		code       string
		wantField  string
		wantStatus int
	}{
		{"ok", `{"name":"a","count":2}`, "", "", 0},
		{"empty", ``, "bad_request", "", 400},
		{"malformed", `{"name":`, "bad_request", "", 400},
		{"not object", `[1,2]`, "bad_request", "", 400},
		{"wrong type", `{"count":"x"}`, "bad_request", "count", 400},
		{"wrong bool", `{"on":1}`, "bad_request", "on", 400},
		{"unknown", `{"nope":1}`, "bad_request", "nope", 400},
		{"trailing", `{"name":"a"} {}`, "bad_request", "", 400},
		{"too large", `{"name":"` + strings.Repeat("x", MaxBody+10) + `"}`, "body_too_large", "", 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
			w := httptest.NewRecorder()
			var b body
			err := Decode(w, r, &b)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
			if tc.wantField != "" && e.Fields[tc.wantField] == "" {
				t.Fatalf("fields = %v, want %s named", e.Fields, tc.wantField)
			}
			if Status(e.Kind) != tc.wantStatus {
				t.Fatalf("status %d, want %d", Status(e.Kind), tc.wantStatus)
			}
		})
	}
}

func TestErrorShape(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	Error(w, r, apperr.ErrRateLimited.WithRetry(1500*time.Millisecond))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d retry %q", w.Code, w.Header().Get("Retry-After"))
	}
	var eb ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code != "rate_limited" {
		t.Fatalf("body %s", w.Body)
	}
	w = httptest.NewRecorder()
	Error(w, r, errors.New("db exploded: password=secret"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("internal error leaked: %d %s", w.Code, w.Body)
	}
}
