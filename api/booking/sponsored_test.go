package booking

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/onstagehq/onstage/internal/authn"
)

// offering is a Sponsors that offers its streamers in order, as the ads placer rotates them,
// and records what it was asked.
type offering struct {
	streamers []string
	err       error
	placement string
	viewer    string
}

func (o *offering) Sponsor(_ context.Context, placement, viewer, _ string, eligible func(string) bool) (string, string, string, error) {
	o.placement, o.viewer = placement, viewer
	if o.err != nil {
		return "", "", "", o.err
	}
	for _, s := range o.streamers {
		if eligible(s) {
			return s, "ad-" + s, "token-" + s, nil
		}
	}
	return "", "", "", nil
}

// TestSponsoredCard: the catalogue puts the offered streamer's card on top, marked, without
// listing it twice; a streamer the query does not list is passed over; a filtered page asks for
// the search placement; no ads, or failing ads, leave the page as it is.
func TestSponsoredCard(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		berlin := e.streamer(allDay())
		paris := e.user(authn.RoleStreamer)
		if _, err := e.svc.SaveProfile(context.Background(), paris, ProfileInput{City: "Paris", Games: []string{"Chess"},
			Languages: []string{"fr"}, PricePerHour: 1000, Currency: "EUR", TimeZone: "UTC"}); err != nil {
			t.Fatal(err)
		}
		e.db.Model(&Profile{}).Where("user_id = ?", paris.UserID).Update("status", ProfileApproved)
		unlisted := e.user(authn.RoleStreamer)
		e.svc.invalidate(context.Background())

		h := NewHandler(e.svc, nil, nil)
		get := func(path string) CatalogPage {
			t.Helper()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, path, nil)
			h.catalog(rec, req)
			if rec.Code != 200 {
				t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
			}
			var p CatalogPage
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		if p := get("/?sort=price"); len(p.Items) != 2 || p.Items[0].Sponsored || p.Items[1].Sponsored {
			t.Fatalf("no sponsors: %+v", p.Items)
		}

		sp := &offering{streamers: []string{unlisted.UserID, berlin.UserID}}
		h.SetSponsors(sp)
		p := get("/?sort=price") // Paris (cheaper) first, Berlin second without the ad
		if len(p.Items) != 2 || !p.Items[0].Sponsored || p.Items[0].ID != berlin.UserID || p.Items[0].AdID != "ad-"+berlin.UserID ||
			p.Items[0].AdToken != "token-"+berlin.UserID || p.Items[1].ID != paris.UserID || p.Items[1].Sponsored {
			t.Fatalf("sponsored page: %+v", p.Items)
		}
		if sp.placement != placementTop || sp.viewer == "" {
			t.Fatalf("asked %q for %q", sp.placement, sp.viewer)
		}

		p = get("/?city=paris")
		if sp.placement != placementSearch || len(p.Items) != 1 || p.Items[0].Sponsored {
			t.Fatalf("search in Paris placed Berlin: %q %+v", sp.placement, p.Items)
		}
		sp.streamers = []string{paris.UserID}
		if p = get("/?city=paris"); len(p.Items) != 1 || !p.Items[0].Sponsored {
			t.Fatalf("search: %+v", p.Items)
		}

		sp.err = errors.New("ads down")
		if p = get("/"); len(p.Items) != 2 || p.Items[0].Sponsored || p.Items[1].Sponsored {
			t.Fatalf("failing ads: %+v", p.Items)
		}
	})
}
