package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/onstagehq/onstage/internal/config"
)

// register makes an account of role over HTTP and returns its access token and id.
func (n *node) register(name, role string) (token, id, email string) {
	n.t.Helper()
	email = fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano())
	reg := n.do("POST", "/api/v1/auth/register", "", map[string]any{"email": email, "password": "password-" + name,
		"display_name": name, "role": role})
	expect(n.t, reg, 201, "")
	r := n.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "password-" + name})
	expect(n.t, r, 200, "")
	return r.body["access_token"].(string), reg.body["id"].(string), email
}

// send posts body with headers.
func (n *node) send(method, path, token string, header map[string]string, body io.Reader) resp {
	n.t.Helper()
	req, _ := http.NewRequest(method, n.base+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// upload posts a file as multipart/form-data field "file".
func (n *node) upload(path, token, name string, data []byte) resp {
	n.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = mw.Close()
	return n.send("POST", path, token, map[string]string{"Content-Type": mw.FormDataContentType()}, &buf)
}

// xlsx builds a workbook whose first sheet holds rows.
func xlsx(t *testing.T, rows [][]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		for j, v := range r {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			if err := f.SetCellValue("Sheet1", cell, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// payInSandbox pays for ad as token's user through the sandbox's checkout and waits for the
// ad to become active.
func (n *node) payInSandbox(token, adID string) {
	n.t.Helper()
	p := n.send("POST", "/api/v1/payments", token, map[string]string{"Idempotency-Key": "pay-" + adID},
		strings.NewReader(`{"ad_id":"`+adID+`"}`))
	expect(n.t, p, 201, "")
	checkout := p.body["checkout_url"].(string)
	ref := checkout[strings.LastIndex(checkout, "/")+1:]
	res, err := http.PostForm(n.base+"/api/v1/payments/sandbox/"+ref+"/succeed", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	res.Body.Close()
	n.waitFor(func() bool {
		r := n.do("GET", "/api/v1/ads", token, nil)
		return strings.Contains(r.raw, `"id":"`+adID+`"`) && adStatus(r, adID) == "active"
	}, "ad "+adID+" active")
}

func adStatus(r resp, id string) string {
	items, _ := r.body["items"].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		if m["id"] == id {
			return m["status"].(string)
		}
	}
	return ""
}

func (n *node) waitFor(ok func() bool, what string) {
	n.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			n.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdsFlow is the ads issue's walk-through over real HTTP against the real graph: an admin
// creates a package; a streamer buys it, pays in the sandbox (each webhook delivered twice) and
// the ad goes live; the catalogue shows the streamer as sponsored; impressions and one click
// reach its stats and a replayed click counts nothing; an agency imports three sub-accounts from XLSX, then a file
// with a duplicate email (nothing created, the row named); buys an ad for a sub-account; another
// agency's toggle on it is not found.
func TestAdsFlow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t, t.TempDir())
	cfg.HTTP.Addr, cfg.HTTP.PublicURL = addr, "http://"+addr
	cfg.Payments.Sandbox.DuplicatePercent = 100
	cfg.Ads.FlushInterval = 200 * time.Millisecond
	n := startNode(t, cfg)

	// An admin sells a package; nobody else may.
	root := n.superAdmin(cfg, "root")
	streamer, streamerID, _ := n.register("sia", "streamer")
	pkgBody := map[string]any{"name": "Top of the catalogue, a week", "placement": "catalogue_top", "duration_days": 7,
		"price": 1500, "currency": "EUR", "active": true}
	expect(t, n.do("POST", "/api/v1/ads/packages", streamer, pkgBody), 403, "forbidden")
	expect(t, n.do("POST", "/api/v1/ads/packages", root, map[string]any{"name": "x", "placement": "banner",
		"duration_days": 0, "price": -1, "currency": "eur"}), 400, "validation_failed")
	// The streamer is listed in the catalogue; without a live ad nothing is sponsored.
	expect(t, n.do("PUT", "/api/v1/streamers/profile", streamer, map[string]any{"bio": "Speedruns", "city": "Berlin",
		"games": []string{"Celeste"}, "languages": []string{"en"}, "price_per_hour": 2000, "currency": "EUR",
		"time_zone": "Europe/Berlin", "photos": []string{}}), 200, "")
	expect(t, n.do("PUT", "/api/v1/admin/streamers/"+streamerID+"/approve", root, nil), 200, "")
	if cat := n.do("GET", "/api/v1/streamers", "", nil); !strings.Contains(cat.raw, streamerID) || strings.Contains(cat.raw, `"sponsored"`) {
		t.Fatalf("catalogue without ads: %s", cat.raw)
	}
	pkg := n.do("POST", "/api/v1/ads/packages", root, pkgBody)
	expect(t, pkg, 201, "")
	pkgID := pkg.body["id"].(string)
	if a := n.do("GET", "/api/v1/admin/audit?module=ads", root, nil); !strings.Contains(a.raw, `"operation":"package:create"`) ||
		!strings.Contains(a.raw, pkgID) {
		t.Fatalf("package creation not audited: %s", a.raw)
	}
	list := n.do("GET", "/api/v1/ads/packages", "", nil)
	expect(t, list, 200, "")
	if !strings.Contains(list.raw, pkgID) {
		t.Fatalf("packages %s", list.raw)
	}

	// The streamer buys it (a retried purchase is the same ad) and pays.
	buy := func(key string) resp {
		return n.send("POST", "/api/v1/ads/purchase", streamer, map[string]string{"Idempotency-Key": key},
			strings.NewReader(`{"package_id":"`+pkgID+`"}`))
	}
	ad := buy("buy-1")
	expect(t, ad, 201, "")
	adID := ad.body["id"].(string)
	if ad.body["status"] != "pending_payment" || ad.body["owner_id"] != streamerID {
		t.Fatalf("ad %s", ad.raw)
	}
	if again := buy("buy-1"); again.body["id"] != adID || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed purchase %s", again.raw)
	}
	player, _ := n.login("pia")
	expect(t, n.do("POST", "/api/v1/ads/purchase", player, map[string]any{"package_id": pkgID}), 403, "forbidden")
	expect(t, n.do("POST", "/api/v1/payments", player, map[string]any{"ad_id": adID}), 404, "not_found")
	n.payInSandbox(streamer, adID)
	mine := n.do("GET", "/api/v1/ads", streamer, nil)
	if rem := mine.body["items"].([]any)[0].(map[string]any)["remaining_seconds"].(float64); rem < 7*86400-60 || rem > 7*86400 {
		t.Fatalf("remaining %v", rem)
	}
	time.Sleep(500 * time.Millisecond) // every duplicate delivery has landed
	hist := n.do("GET", "/api/v1/ads/"+adID+"/history", streamer, nil)
	if strings.Count(hist.raw, `"to":"active"`) != 1 {
		t.Fatalf("activated more than once: %s", hist.raw)
	}
	expect(t, n.do("POST", "/api/v1/payments", streamer, map[string]any{"ad_id": adID}), 409, "")

	// The catalogue shows the streamer as sponsored, on top, with a single-use token; search
	// results have no live search ad, so no sponsored card.
	catalogue := func(token, ua string) resp {
		return n.send("GET", "/api/v1/streamers", token, map[string]string{"User-Agent": ua}, nil)
	}
	// Each node reads the live ads at most once a second: the new ad shows within that.
	var cat resp
	n.waitFor(func() bool {
		cat = catalogue("", "Mozilla/5.0")
		return cat.status == 200 && strings.Contains(cat.raw, `"sponsored":true`)
	}, "the sponsored card")
	top := cat.body["items"].([]any)[0].(map[string]any)
	if top["sponsored"] != true || top["id"] != streamerID || top["ad_id"] != adID || top["ad_token"] == "" ||
		strings.Count(cat.raw, streamerID) != 1 {
		t.Fatalf("catalogue %s", cat.raw)
	}
	token := top["ad_token"].(string)
	if again := catalogue("", "Mozilla/5.0"); again.body["items"].([]any)[0].(map[string]any)["ad_token"] == token {
		t.Fatal("a token served twice")
	}
	if s := n.do("GET", "/api/v1/streamers?city=berlin", "", nil); strings.Contains(s.raw, `"sponsored"`) {
		t.Fatalf("search shows a catalogue_top ad: %s", s.raw)
	}
	expect(t, n.do("POST", "/api/v1/ads/click", "", map[string]any{"token": token}), 200, "")
	expect(t, n.do("POST", "/api/v1/ads/click", "", map[string]any{"token": token}), 409, "token_used")
	expect(t, n.do("POST", "/api/v1/ads/click", "", map[string]any{"token": token[:len(token)-2] + "xx"}), 400, "invalid_token")
	catalogue(player, "Mozilla/5.0")
	catalogue("", "Mozilla/5.0 (compatible; Googlebot/2.1)")
	// Impressions: two anonymous pages from one address and browser, one of the player's; the
	// crawler's page is counted apart.
	n.waitFor(func() bool {
		st := n.do("GET", "/api/v1/ads/"+adID+"/stats", streamer, nil)
		return st.body["impressions"] == 3.0 && st.body["clicks"] == 1.0 && st.body["bot_impressions"] == 1.0
	}, "stats")
	st := n.do("GET", "/api/v1/ads/"+adID+"/stats", root, nil)
	expect(t, st, 200, "")
	days := st.body["days"].([]any)
	today := days[len(days)-1].(map[string]any)
	if today["unique_viewers"] != 2.0 || today["clicks"] != 1.0 || today["impressions"] != 3.0 {
		t.Fatalf("today %v", today)
	}
	expect(t, n.do("GET", "/api/v1/ads/"+adID+"/stats", player, nil), 404, "not_found")

	// An agency imports three sub-accounts from XLSX; a dry run creates nothing.
	agency, _, _ := n.register("acme", "agency")
	other, _, _ := n.register("rival", "agency")
	header := []string{"email", "display_name", "city", "games"}
	stamp := time.Now().UnixNano()
	good := [][]string{header,
		{fmt.Sprintf("ana-%d@example.com", stamp), "Ana", "Berlin", "chess; go"},
		{fmt.Sprintf("ben-%d@example.com", stamp), "Ben", "Lyon", "valorant"},
		{fmt.Sprintf("cy-%d@example.com", stamp), "Cy", "", ""},
	}
	dry := n.upload("/api/v1/agency/import?dry_run=1", agency, "subs.xlsx", xlsx(t, good))
	expect(t, dry, 200, "")
	if dry.body["valid"] != 3.0 || dry.body["created"] != 0.0 {
		t.Fatalf("dry run %s", dry.raw)
	}
	expect(t, n.upload("/api/v1/agency/import", streamer, "subs.xlsx", xlsx(t, good)), 403, "forbidden")
	imp := n.upload("/api/v1/agency/import", agency, "subs.xlsx", xlsx(t, good))
	expect(t, imp, 201, "")
	if imp.body["created"] != 3.0 {
		t.Fatalf("import %s", imp.raw)
	}
	// A file with a duplicate email: nothing created, the row named.
	bad := [][]string{header,
		{fmt.Sprintf("dan-%d@example.com", stamp), "Dan", "Oslo", ""},
		{fmt.Sprintf("DAN-%d@example.com", stamp), "Dan again", "Oslo", ""},
		{good[1][0], "Ana twice", "", ""},
	}
	fail := n.upload("/api/v1/agency/import", agency, "subs.xlsx", xlsx(t, bad))
	if fail.status != 422 || !strings.Contains(fail.raw, `{"row":3,"column":"email","code":"duplicate_in_file"}`) ||
		!strings.Contains(fail.raw, `{"row":4,"column":"email","code":"email_taken"}`) {
		t.Fatalf("bad import %s", fail.raw)
	}
	subs := n.do("GET", "/api/v1/agency/sub-accounts", agency, nil)
	expect(t, subs, 200, "")
	if subs.body["total"] != 3.0 || !strings.Contains(subs.raw, `"games":["chess","go"]`) {
		t.Fatalf("sub-accounts %s", subs.raw)
	}
	if r := n.do("GET", "/api/v1/agency/sub-accounts?q=ben", agency, nil); r.body["total"] != 1.0 {
		t.Fatalf("search %s", r.raw)
	}
	if r := n.do("GET", "/api/v1/agency/sub-accounts", other, nil); r.body["total"] != 0.0 {
		t.Fatalf("other agency sees %s", r.raw)
	}
	var subID string
	for _, it := range subs.body["items"].([]any) {
		if m := it.(map[string]any); m["display_name"] == "Ben" {
			subID = m["id"].(string)
		}
	}

	// The agency buys an ad for its sub-account; the rival neither buys for it nor toggles it.
	expect(t, n.do("POST", "/api/v1/agency/ads/purchase", other, map[string]any{"sub_account_id": subID, "package_id": pkgID}), 404, "not_found")
	agAd := n.do("POST", "/api/v1/agency/ads/purchase", agency, map[string]any{"sub_account_id": subID, "package_id": pkgID})
	expect(t, agAd, 201, "")
	agAdID := agAd.body["id"].(string)
	expect(t, n.do("PUT", "/api/v1/agency/ads/"+agAdID+"/toggle", agency, map[string]any{"active": false}), 409, "ad_not_running")
	n.payInSandbox(agency, agAdID)
	expect(t, n.do("PUT", "/api/v1/agency/ads/"+agAdID+"/toggle", other, map[string]any{"active": false}), 404, "not_found")
	expect(t, n.do("PUT", "/api/v1/ads/"+agAdID+"/toggle", streamer, map[string]any{"active": false}), 404, "not_found")
	expect(t, n.do("GET", "/api/v1/ads/"+agAdID+"/stats", other, nil), 404, "not_found")
	paused := n.do("PUT", "/api/v1/agency/ads/"+agAdID+"/toggle", agency, map[string]any{"active": false})
	expect(t, paused, 200, "")
	if paused.body["status"] != "paused" || paused.body["ends_at"] != nil {
		t.Fatalf("paused %s", paused.raw)
	}
	expect(t, n.do("GET", "/api/v1/ads/"+agAdID+"/stats", agency, nil), 200, "")
}

// TestAdsTwoNodes: two nodes share PostgreSQL and Redis. Sponsored cards served by both are
// counted once each, a token served by one node is clicked on the other, its replay is refused
// on either, and both nodes read the same totals.
func TestAdsTwoNodes(t *testing.T) {
	dsn, redisURL := os.Getenv("ONSTAGE_TEST_POSTGRES_DSN"), os.Getenv("ONSTAGE_TEST_REDIS_URL")
	if dsn == "" || redisURL == "" {
		t.Skip("set ONSTAGE_TEST_POSTGRES_DSN and ONSTAGE_TEST_REDIS_URL to run two nodes")
	}
	schemaDSN := freshSchema(t, dsn)
	cfgFor := func(id string) config.Config {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cfg := testConfig(t, t.TempDir())
		cfg.NodeID = id
		cfg.HTTP.Addr, cfg.HTTP.PublicURL = addr, "http://"+addr
		cfg.Database.DSN = schemaDSN
		cfg.Redis.URL = redisURL
		cfg.Auth.JWTSecret = "a-shared-secret-of-at-least-32-characters"
		cfg.Ads.FlushInterval = 200 * time.Millisecond
		if u := os.Getenv("ONSTAGE_TEST_NATS_URL"); u != "" {
			cfg.NATS.URL = u
		}
		return cfg
	}
	cfg1 := cfgFor(fmt.Sprintf("ads-a-%d", time.Now().UnixNano()))
	n1 := startNode(t, cfg1)
	n2 := startNode(t, cfgFor(fmt.Sprintf("ads-b-%d", time.Now().UnixNano())))
	root := n1.superAdmin(cfg1, "root")
	streamer, streamerID, _ := n1.register("sia", "streamer")
	expect(t, n1.do("PUT", "/api/v1/streamers/profile", streamer, map[string]any{"bio": "Speedruns", "city": "Berlin",
		"games": []string{"Celeste"}, "languages": []string{"en"}, "price_per_hour": 2000, "currency": "EUR",
		"time_zone": "Europe/Berlin", "photos": []string{}}), 200, "")
	expect(t, n1.do("PUT", "/api/v1/admin/streamers/"+streamerID+"/approve", root, nil), 200, "")
	pkg := n1.do("POST", "/api/v1/ads/packages", root, map[string]any{"name": "Top", "placement": "catalogue_top",
		"duration_days": 1, "price": 900, "currency": "EUR"})
	expect(t, pkg, 201, "")
	ad := n2.do("POST", "/api/v1/ads/purchase", streamer, map[string]any{"package_id": pkg.body["id"]})
	expect(t, ad, 201, "")
	adID := ad.body["id"].(string)
	n1.payInSandbox(streamer, adID)

	served := 0
	sponsoredToken := func(n *node) string {
		var tok string
		n.waitFor(func() bool {
			r := n.do("GET", "/api/v1/streamers", "", nil)
			items, _ := r.body["items"].([]any)
			if len(items) > 0 {
				if c := items[0].(map[string]any); c["sponsored"] == true && c["ad_id"] == adID {
					tok = c["ad_token"].(string)
					served++
					return true
				}
			}
			return false
		}, "a sponsored card")
		return tok
	}
	t1, t2 := sponsoredToken(n1), sponsoredToken(n2)
	sponsoredToken(n1)
	sponsoredToken(n2)
	expect(t, n2.do("POST", "/api/v1/ads/click", "", map[string]any{"token": t1}), 200, "")
	expect(t, n1.do("POST", "/api/v1/ads/click", "", map[string]any{"token": t1}), 409, "token_used")
	expect(t, n1.do("POST", "/api/v1/ads/click", "", map[string]any{"token": t2}), 200, "")
	expect(t, n2.do("POST", "/api/v1/ads/click", "", map[string]any{"token": t2}), 409, "token_used")
	for _, n := range []*node{n1, n2} {
		n.waitFor(func() bool {
			st := n.do("GET", "/api/v1/ads/"+adID+"/stats", streamer, nil)
			return st.body["impressions"] == float64(served) && st.body["clicks"] == 2.0
		}, fmt.Sprintf("stats of %d impressions and 2 clicks", served))
	}
}
