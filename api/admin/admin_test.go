package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// TestEveryRouteHasAnOperation: each admin route names its audit operation, so a refused
// attempt is logged under the same name as an allowed one, and no name is left for a route
// that no longer exists.
func TestEveryRouteHasAnOperation(t *testing.T) {
	r := chi.NewRouter()
	r.Route("/api/v1", (&Handler{}).Mount)
	seen := map[string]bool{}
	_ = chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		key := method + " " + strings.TrimSuffix(route, "/")
		seen[key] = true
		if _, ok := Operations[key]; !ok {
			t.Errorf("%s has no operation name", key)
		}
		return nil
	})
	for key := range Operations {
		if !seen[key] {
			t.Errorf("operation for %s, which is not a route", key)
		}
	}
}
