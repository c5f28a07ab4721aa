package booking

import (
	"context"
	"net"
	"net/http"

	"github.com/onstagehq/onstage/internal/authn"
)

// Sponsors picks the sponsored streamer of one page (api/ads.Placer implements it; the ads
// domain owns rotation, tokens and counting). eligible tells it whether the page can show a
// streamer; an empty streamerID means no sponsored card.
type Sponsors interface {
	Sponsor(ctx context.Context, placement, viewer, userAgent string, eligible func(streamerID string) bool) (streamerID, adID, token string, err error)
}

// The ads placements the catalogue shows.
const (
	placementTop    = "catalogue_top" // the plain catalogue
	placementSearch = "search"        // the catalogue with a search or a filter
)

// SetSponsors makes the catalogue place one sponsored card on top of each page.
func (h *Handler) SetSponsors(sp Sponsors) { h.sponsors = sp }

// sponsored puts one sponsored card on top of page: a live ad's streamer that the same query
// lists (approved, active, matching the filters), marked sponsored with the ad's id and its
// single-use ad_token; the same streamer's own card on the page gives way to it. An ads
// failure costs the sponsored card, never the page.
func (h *Handler) sponsored(r *http.Request, q ListQuery, page CatalogPage) CatalogPage {
	if h.sponsors == nil {
		return page
	}
	ctx := r.Context()
	q = q.normalized()
	placement := placementTop
	if q.Q != "" || q.City != "" || q.Game != "" || q.Lang != "" || q.PriceMin > 0 || q.PriceMax > 0 {
		placement = placementSearch
	}
	var card Card
	eligible := func(id string) bool {
		c, ok, err := h.svc.listedCard(ctx, q, id)
		if err != nil {
			h.svc.log.WarnContext(ctx, "booking: sponsored card", "streamer", id, "err", err)
		}
		card = c
		return ok
	}
	sid, adID, token, err := h.sponsors.Sponsor(ctx, placement, viewerKey(r), r.UserAgent(), eligible)
	if err != nil {
		h.svc.log.WarnContext(ctx, "booking: sponsored placement", "err", err)
		return page
	}
	if sid == "" || card.ID != sid {
		return page
	}
	card.Sponsored, card.AdID, card.AdToken = true, adID, token
	items := make([]Card, 0, len(page.Items)+1)
	items = append(items, card)
	for _, c := range page.Items {
		if c.ID != sid {
			items = append(items, c)
		}
	}
	page.Items = items
	return page
}

// listedCard returns streamer id's catalogue card if q lists it.
func (s *Service) listedCard(ctx context.Context, q ListQuery, id string) (Card, bool, error) {
	var ps []Profile
	if err := s.listed(ctx, q).Where("user_id = ?", id).Limit(1).Find(&ps).Error; err != nil || len(ps) == 0 {
		return Card{}, false, err
	}
	next, err := s.nextFree(ctx, &ps[0], s.now().UTC())
	if err != nil {
		return Card{}, false, err
	}
	return ps[0].card(next), true, nil
}

// viewerKey names who sees a page, for unique viewer counts: the signed-in user, or else the
// client address and user agent.
func viewerKey(r *http.Request) string {
	if id, ok := authn.FromContext(r.Context()); ok && id.UserID != "" {
		return "u:" + id.UserID
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "a:" + host + "|" + r.UserAgent()
}
