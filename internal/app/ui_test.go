package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// browser is a UI client: a cookie jar and the session's CSRF token.
type browser struct {
	t    *testing.T
	url  string
	c    *http.Client
	csrf string
}

func (ta *testApp) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: ta.t, url: ta.URL, c: &http.Client{Jar: jar}}
}

// call sends a UI API request (with the CSRF token unless noCSRF) and
// checks the status; it returns the decoded body.
func (b *browser) call(method, path string, body any, want int) any {
	b.t.Helper()
	out := b.raw(method, path, body, want, true)
	var v any
	if len(out) > 0 {
		if err := json.Unmarshal(out, &v); err != nil {
			b.t.Fatalf("%s %s: %v in %s", method, path, err, out)
		}
	}
	return v
}

func (b *browser) raw(method, path string, body any, want int, csrf bool) []byte {
	b.t.Helper()
	var r io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		r = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, b.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	if csrf && b.csrf != "" {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		b.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

func (b *browser) login(email, password string) {
	b.t.Helper()
	res := b.call("POST", "/ui/api/login", map[string]string{"email": email, "password": password}, 200).(map[string]any)
	b.csrf = res["csrf_token"].(string)
}

func field(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// TestUIAPI walks every UI API call as the UI makes it: bootstrap, login,
// CSRF, roles (a viewer who writes gets 403), tenancy (a member of project
// B reading project A gets 404), pickers, persons, home, insights,
// dashboards, share links, keys, members and the live stream.
func TestUIAPI(t *testing.T) {
	ta := newTestApp(t)
	admin := ta.browser()
	if got := admin.call("GET", "/ui/api/status", nil, 200); fmt.Sprint(got) != "map[bootstrapped:false]" {
		t.Fatalf("status = %v", got)
	}
	admin.call("GET", "/ui/api/me", nil, 401)
	admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": "wrong", "email": "root@x.io", "password": "correct horse"}, 401)
	admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "root@x.io", "password": "short"}, 400)
	res := admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "root@x.io", "password": "correct horse"}, 200)
	admin.csrf = field(res, "csrf_token").(string)
	if field(res, "user", "is_admin") != true {
		t.Fatalf("bootstrap user = %v", res)
	}
	admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "two@x.io", "password": "correct horse"}, 409)

	// CSRF: a write without the header is refused even with the cookie.
	admin.raw("POST", "/ui/api/projects", map[string]string{"name": "A"}, 403, false)
	pa := admin.call("POST", "/ui/api/projects", map[string]string{"name": "A", "timezone": "UTC"}, 201)
	pb := admin.call("POST", "/ui/api/projects", map[string]string{"name": "B", "timezone": "UTC"}, 201)
	a, b := fmt.Sprintf("/ui/api/projects/%v", field(pa, "id")), fmt.Sprintf("/ui/api/projects/%v", field(pb, "id"))
	if me := admin.call("GET", "/ui/api/me", nil, 200); len(field(me, "projects").([]any)) != 2 || field(me, "projects", 0, "role") != "admin" {
		t.Fatalf("me = %v", me)
	}

	// Events in A.
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	capture := func(lines ...string) {
		t.Helper()
		body := fmt.Sprintf(`{"api_key":%q,"batch":[%s]}`, field(pa, "token"), strings.Join(lines, ","))
		resp, err := http.Post(ta.URL+"/batch/", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("capture: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	ev := func(event, who string, min int, props string) string {
		return fmt.Sprintf(`{"event":%q,"distinct_id":%q,"timestamp":%q,"properties":{%s}}`, event, who, day.Add(time.Duration(min)*time.Minute).Format(time.RFC3339), props)
	}
	capture(ev("$pageview", "u1", 1, `"utm_source":"ads"`), ev("signed_up", "u1", 2, `"$set":{"email":"u1@shop.io"}`),
		ev("order_completed", "u1", 3, `"revenue":10`), ev("$pageview", "u2", 1, `"utm_source":"mail"`), ev("$pageview", "u3", 1, `"utm_source":"ads"`))
	ta.sync()

	// Members: validation, then one of each role.
	admin.call("POST", a+"/members", map[string]string{"email": "v@x.io", "password": "short", "role": "viewer"}, 400)
	admin.call("POST", a+"/members", map[string]string{"email": "v@x.io", "password": "long enough", "role": "owner"}, 400)
	admin.call("POST", a+"/members", map[string]string{"email": "v\x00@x.io", "password": "long enough", "role": "viewer"}, 400)
	admin.call("POST", a+"/members", map[string]string{"email": "v@x.io", "password": "long enough", "role": "viewer"}, 201)
	admin.call("POST", a+"/members", map[string]string{"email": "m@x.io", "password": "long enough", "role": "member"}, 201)
	admin.call("POST", b+"/members", map[string]string{"email": "o@x.io", "password": "long enough", "role": "member"}, 201)
	if ms := admin.call("GET", a+"/members", nil, 200); len(ms.([]any)) != 2 {
		t.Fatalf("members of A = %v", ms)
	}
	// A project admin invites by email and creates no accounts (else they
	// could create one for someone else's email with a password they
	// know). The answer is the same whether or not the email has an
	// account, and nobody joins before accepting.
	admin.call("POST", b+"/members", map[string]string{"email": "pa@x.io", "password": "long enough", "role": "admin"}, 201)
	projectAdmin := ta.browser()
	projectAdmin.login("pa@x.io", "long enough")
	projectAdmin.call("POST", b+"/members", map[string]string{"email": "new@x.io", "password": "attacker-chosen", "role": "viewer"}, 400)
	projectAdmin.call("POST", b+"/members", map[string]string{"email": "o@x.io", "password": "attacker-chosen", "role": "member"}, 400)
	invV := projectAdmin.call("POST", b+"/members", map[string]string{"email": "v@x.io", "role": "viewer"}, 201) // has an account
	invNew := projectAdmin.call("POST", b+"/members", map[string]string{"email": "new@x.io", "role": "viewer"}, 201)
	if fmt.Sprint(field(invV, "role"), field(invV, "user_id")) != fmt.Sprint(field(invNew, "role"), field(invNew, "user_id")) || len(invV.(map[string]any)) != len(invNew.(map[string]any)) {
		t.Fatalf("invites differ: %v vs %v", invV, invNew)
	}
	if pending := projectAdmin.call("GET", b+"/invites", nil, 200); len(pending.([]any)) != 2 {
		t.Fatalf("pending invites of B = %v", pending)
	}
	projectAdmin.call("POST", a+"/members", map[string]string{"email": "pa@x.io", "role": "admin"}, 404) // not a member of A
	admin.call("DELETE", fmt.Sprintf("%s/members/%v", b, field(projectAdmin.call("GET", "/ui/api/me", nil, 200), "user", "id")), nil, 204)
	projectAdmin.call("GET", b+"/members", nil, 404)

	viewer, member, other := ta.browser(), ta.browser(), ta.browser()
	viewer.call("POST", "/ui/api/login", map[string]string{"email": "v@x.io", "password": "wrong password"}, 401)
	// A cross-site form cannot send JSON: a login with another type is refused.
	req, _ := http.NewRequest("POST", ta.URL+"/ui/api/login", strings.NewReader(`{"email":"v@x.io","password":"long enough"}`))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain login: %v %v", err, resp)
	}
	viewer.call("POST", "/ui/api/login", map[string]string{"email": "nobody@x.io", "password": "wrong password"}, 401)
	viewer.call("POST", "/ui/api/login", map[string]string{"email": "nul\x00@x.io", "password": "wrong password"}, 401)
	viewer.login("V@x.io", "long enough")
	member.login("m@x.io", "long enough")
	other.login("o@x.io", "long enough")
	if me := viewer.call("GET", "/ui/api/me", nil, 200); len(field(me, "projects").([]any)) != 1 || field(me, "projects", 0, "role") != "viewer" {
		t.Fatalf("viewer me = %v", me)
	}
	// The viewer was invited to B but is not in it until they accept; only
	// they can answer the invite.
	mine := viewer.call("GET", "/ui/api/invites", nil, 200)
	if len(mine.([]any)) != 1 || field(mine, 0, "project_name") != "B" || field(mine, 0, "id") != field(invV, "id") {
		t.Fatalf("viewer's invites = %v", mine)
	}
	other.call("POST", fmt.Sprintf("/ui/api/invites/%v/accept", field(invV, "id")), nil, 404)
	viewer.call("GET", b+"/events", nil, 404)
	viewer.call("POST", fmt.Sprintf("/ui/api/invites/%v/decline", field(invV, "id")), nil, 204)
	viewer.call("POST", fmt.Sprintf("/ui/api/invites/%v/accept", field(invV, "id")), nil, 404)

	// Reads: queries, pickers, persons, home.
	rng := map[string]any{"from": day.Format(time.RFC3339), "to": day.AddDate(0, 0, 1).Format(time.RFC3339)}
	funnel := map[string]any{"kind": "funnel", "steps": []any{map[string]string{"event": "$pageview"}, map[string]string{"event": "order_completed"}}, "window": "1h", "from": rng["from"], "to": rng["to"]}
	if res := viewer.call("POST", a+"/query", funnel, 200); fmt.Sprint(field(res, "steps", 1, "count")) != "1" {
		t.Fatalf("funnel = %v", res)
	}
	viewer.call("POST", a+"/query", map[string]any{"kind": "funnel"}, 400)
	if res := viewer.call("GET", a+"/events", nil, 200); fmt.Sprint(res) != "[map[count:3 event:$pageview] map[count:1 event:order_completed] map[count:1 event:signed_up]]" {
		t.Fatalf("events = %v", res)
	}
	viewer.call("GET", a+"/events?from=yesterday", nil, 400)
	if res := viewer.call("GET", a+"/properties?event=$pageview", nil, 200); fmt.Sprint(res) != "[map[count:3 property:$ip] map[count:3 property:utm_source]]" { // $ip: capture adds the client's address
		t.Fatalf("properties = %v", res)
	}
	if res := viewer.call("GET", a+"/properties?type=person", nil, 200); !strings.Contains(fmt.Sprint(res), "property:email") {
		t.Fatalf("person properties = %v", res)
	}
	if res := viewer.call("GET", a+"/property-values?event=$pageview&property=utm_source", nil, 200); fmt.Sprint(res) != "[map[count:2 value:ads] map[count:1 value:mail]]" {
		t.Fatalf("values = %v", res)
	}
	viewer.call("GET", a+"/property-values", nil, 400)
	viewer.call("GET", a+"/persons?q=%00", nil, 400)
	viewer.call("GET", a+"/properties?event=%ff", nil, 400)
	persons := viewer.call("GET", a+"/persons?q=u1@shop.io", nil, 200).([]any)
	if len(persons) != 1 || fmt.Sprint(field(persons, 0, "distinct_ids")) != "[u1]" {
		t.Fatalf("persons = %v", persons)
	}
	if n := len(viewer.call("GET", a+"/persons", nil, 200).([]any)); n != 3 {
		t.Fatalf("all persons = %d, want 3", n)
	}
	pid := field(persons, 0, "id")
	p := viewer.call("GET", fmt.Sprintf("%s/persons/%v", a, pid), nil, 200)
	if evs := field(p, "events").([]any); len(evs) != 3 || field(evs, 0, "event") != "order_completed" {
		t.Fatalf("person events = %v", evs)
	}
	viewer.call("GET", a+"/persons/999999", nil, 404)
	home := viewer.call("GET", a+"/home?from="+rng["from"].(string)+"&to="+rng["to"].(string), nil, 200)
	if fmt.Sprint(field(home, "events")) != "5" || len(field(home, "kpis").([]any)) != 2 ||
		fmt.Sprint(field(home, "journey", "stages", 0, "count")) != "3" || field(home, "bad_days", "kind") != "bad_days" {
		t.Fatalf("home = %v", home)
	}
	if set := viewer.call("GET", a+"/settings", nil, 200); !strings.Contains(field(set, "snippet").(string), field(pa, "token").(string)) || len(field(set, "keys").([]any)) != 1 {
		t.Fatalf("settings = %v", set)
	}

	// Roles: a viewer cannot write anything.
	spec := map[string]any{"kind": "trend", "series": []any{map[string]string{"event": "$pageview", "math": "dau"}}, "interval": "day", "from": rng["from"], "to": rng["to"]}
	viewer.call("POST", a+"/insights", map[string]any{"name": "DAU", "spec": spec}, 403)
	viewer.call("POST", a+"/dashboards", map[string]any{"name": "D"}, 403)
	viewer.call("PUT", a+"/settings/journey", map[string]any{"stages": []any{map[string]any{"name": "x", "events": []any{map[string]string{"event": "e"}}}}}, 403)
	viewer.call("POST", a+"/keys", nil, 403)
	viewer.call("GET", a+"/members", nil, 403)
	viewer.call("POST", "/ui/api/projects", map[string]string{"name": "C"}, 403)
	member.call("POST", a+"/keys", nil, 403)

	// Tenancy: B's member sees nothing of A, by any path.
	other.call("GET", a+"/events", nil, 404)
	other.call("POST", a+"/query", funnel, 404)
	other.call("GET", a+"/dashboards", nil, 404)
	other.call("GET", "/ui/api/projects/not-a-number/events", nil, 404)

	// Insights and dashboards.
	member.call("POST", a+"/insights", map[string]any{"name": "bad", "spec": map[string]any{"kind": "trend"}}, 400)
	member.call("POST", a+"/insights", map[string]any{"name": "", "spec": spec}, 400)
	in := member.call("POST", a+"/insights", map[string]any{"name": "DAU", "spec": spec}, 201)
	in2 := member.call("POST", a+"/insights", map[string]any{"name": "Funnel", "spec": funnel}, 201)
	inPath := fmt.Sprintf("%s/insights/%v", a, field(in, "id"))
	other.call("GET", fmt.Sprintf("%s/insights/%v", b, field(in, "id")), nil, 404) // A's id under B's path
	member.call("PUT", inPath, map[string]any{"name": "Daily visitors", "spec": spec}, 200)
	if got := viewer.call("GET", inPath, nil, 200); field(got, "name") != "Daily visitors" {
		t.Fatalf("insight = %v", got)
	}
	member.call("POST", a+"/dashboards", map[string]any{"name": "D", "tiles": []any{map[string]any{"insight_id": 999999}}}, 400)
	member.call("POST", a+"/dashboards", map[string]any{"name": "D", "range": "1y"}, 400)
	d := member.call("POST", a+"/dashboards", map[string]any{"name": "Growth", "range": "", "tiles": []any{map[string]any{"insight_id": field(in, "id"), "width": 2}}}, 201)
	dPath := fmt.Sprintf("%s/dashboards/%v", a, field(d, "id"))
	member.call("PUT", dPath, map[string]any{"name": "Growth", "range": "7d", "refresh_seconds": 60,
		"tiles": []any{map[string]any{"insight_id": field(in2, "id")}, map[string]any{"insight_id": field(in, "id"), "width": 2}}}, 200)
	got := viewer.call("GET", dPath, nil, 200)
	if len(field(got, "insights").([]any)) != 2 || field(got, "insights", 0, "name") != "Funnel" || fmt.Sprint(field(got, "tiles", 0, "width")) != "1" {
		t.Fatalf("dashboard = %v", got)
	}
	if list := viewer.call("GET", a+"/dashboards", nil, 200); len(list.([]any)) != 1 {
		t.Fatalf("dashboards = %v", list)
	}
	other.call("GET", fmt.Sprintf("%s/dashboards/%v", b, field(d, "id")), nil, 404)

	// Share links: logged out, read-only, only this dashboard's insights, revocable.
	share := member.call("POST", dPath+"/share", nil, 200)
	token := field(share, "share_token").(string)
	anon := ta.browser()
	sh := anon.call("GET", "/ui/api/shared/"+token, nil, 200)
	if field(sh, "name") != "Growth" || field(sh, "share_token") != nil || len(field(sh, "insights").([]any)) != 2 {
		t.Fatalf("shared = %v", sh)
	}
	// Only the token's hash is kept: the dashboard says it is shared, never the token.
	if got := member.call("GET", dPath, nil, 200); field(got, "shared") != true || field(got, "share_token") != nil {
		t.Fatalf("dashboard after sharing = %v, want shared without its token", got)
	}
	run := anon.call("POST", fmt.Sprintf("/ui/api/shared/%s/insights/%v/run?range=30d", token, field(in, "id")), nil, 200)
	if pts := field(run, "series", 0, "points").([]any); len(pts) != 30 { // the last 30 days, today included
		t.Fatalf("shared run over 30d: %d points", len(pts))
	}
	anon.call("POST", fmt.Sprintf("/ui/api/shared/%s/insights/%v/run?range=2y", token, field(in, "id")), nil, 400)
	ta.api.ShareRunsPerMinute = 3 // two runs above, one more allowed
	anon.call("POST", fmt.Sprintf("/ui/api/shared/%s/insights/%v/run", token, field(in, "id")), nil, 200)
	anon.call("POST", fmt.Sprintf("/ui/api/shared/%s/insights/%v/run", token, field(in, "id")), nil, 429)
	ta.api.ShareRunsPerMinute = 0
	other3 := member.call("POST", a+"/insights", map[string]any{"name": "Not shared", "spec": spec}, 201)
	anon.call("POST", fmt.Sprintf("/ui/api/shared/%s/insights/%v/run", token, field(other3, "id")), nil, 404)
	member.call("DELETE", dPath+"/share", nil, 204)
	anon.call("GET", "/ui/api/shared/"+token, nil, 404)
	resp, err := http.Get(ta.URL + "/share/" + token)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("share page: %v %v", err, resp)
	}
	resp.Body.Close()
	member.call("DELETE", inPath, nil, 204)
	if got := viewer.call("GET", dPath, nil, 200); len(field(got, "tiles").([]any)) != 1 {
		t.Fatalf("tile of a deleted insight kept: %v", got)
	}
	member.call("DELETE", dPath, nil, 204)
	member.call("DELETE", dPath, nil, 404)

	// Journey stages (admin only), keys.
	admin.call("PUT", a+"/settings/journey", map[string]any{"stages": []any{map[string]any{"name": ""}}}, 400)
	admin.call("PUT", a+"/settings/journey", map[string]any{"stages": []any{map[string]any{"name": "Visit", "events": []any{map[string]string{"event": "$pageview"}}}}}, 200)
	key := admin.call("POST", a+"/keys", nil, 201)
	if code, _ := ta.do("POST", "/api/v1/query", field(key, "secret_key").(string), funnel); code != 200 {
		t.Fatalf("new key does not query: %d", code)
	}
	admin.call("DELETE", fmt.Sprintf("%s/keys/%v", a, field(key, "id")), nil, 204)
	if code, _ := ta.do("POST", "/api/v1/query", field(key, "secret_key").(string), funnel); code != 401 {
		t.Fatalf("revoked key still queries: %d", code)
	}
	admin.call("DELETE", fmt.Sprintf("%s/keys/%v", b, field(key, "id")), nil, 404)

	// Removing a member ends their access.
	admin.call("DELETE", fmt.Sprintf("%s/members/%v", a, field(viewer.call("GET", "/ui/api/me", nil, 200), "user", "id")), nil, 204)
	viewer.call("GET", a+"/events", nil, 404)

	// Logout needs the CSRF token, then the session is gone.
	member.raw("POST", "/ui/api/logout", nil, 403, false)
	member.call("POST", "/ui/api/logout", nil, 204)
	member.call("GET", "/ui/api/me", nil, 401)
}

// TestUILiveEvents: the live stream shows an event captured after the
// viewer connected, for that project only.
func TestUILiveEvents(t *testing.T) {
	ta := newTestApp(t)
	admin := ta.browser()
	res := admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "root@x.io", "password": "correct horse"}, 200)
	admin.csrf = field(res, "csrf_token").(string)
	pa := admin.call("POST", "/ui/api/projects", map[string]string{"name": "A"}, 201)
	pb := admin.call("POST", "/ui/api/projects", map[string]string{"name": "B"}, 201)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/ui/api/projects/%v/live", ta.URL, field(pa, "id")), nil)
	resp, err := admin.c.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("live: %v %v", err, resp)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Scan() // ": connected" — the subscription exists from here on
	for _, p := range []any{pb, pa} {
		body := fmt.Sprintf(`{"api_key":%q,"event":"from_%v","distinct_id":"d1"}`, field(p, "token"), field(p, "name"))
		r, err := http.Post(ta.URL+"/capture/", "application/json", strings.NewReader(body))
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("capture: %v %v", err, r)
		}
		r.Body.Close()
	}
	for lines.Scan() {
		line := lines.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil {
			t.Fatal(err)
		}
		if e["event"] != "from_A" || e["distinct_id"] != "d1" {
			t.Fatalf("first live event = %v, want from_A (B's event must not show)", e)
		}
		return
	}
	t.Fatalf("no live event: %v", lines.Err())
}

// TestUILoginRateLimit: repeated wrong passwords from one address are
// refused with 429 before the password is even checked.
func TestUILoginRateLimit(t *testing.T) {
	ta := newTestApp(t)
	admin := ta.browser()
	admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "root@x.io", "password": "correct horse"}, 200)
	for i := 0; i < 10; i++ {
		admin.call("POST", "/ui/api/login", map[string]string{"email": "root@x.io", "password": "wrong horse"}, 401)
	}
	admin.call("POST", "/ui/api/login", map[string]string{"email": "root@x.io", "password": "correct horse"}, 429)
}

// TestUILiveEndsWithAccess: a live stream stops once its viewer is removed
// from the project (access is re-checked at every ping).
func TestUILiveEndsWithAccess(t *testing.T) {
	ta := newTestApp(t)
	ta.api.LivePing = 100 * time.Millisecond
	admin := ta.browser()
	res := admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "root@x.io", "password": "correct horse"}, 200)
	admin.csrf = field(res, "csrf_token").(string)
	pa := admin.call("POST", "/ui/api/projects", map[string]string{"name": "A"}, 201)
	a := fmt.Sprintf("/ui/api/projects/%v", field(pa, "id"))
	m := admin.call("POST", a+"/members", map[string]string{"email": "v@x.io", "password": "long enough", "role": "viewer"}, 201)
	viewer := ta.browser()
	viewer.login("v@x.io", "long enough")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ta.URL+a+"/live", nil)
	resp, err := viewer.c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("live: %v %v", err, resp)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Scan()
	admin.call("DELETE", fmt.Sprintf("%s/members/%v", a, field(m, "user_id")), nil, 204)
	for lines.Scan() { // pings until the next access check, then the end
	}
	if ctx.Err() != nil {
		t.Fatal("the stream outlived the viewer's access")
	}
}

// TestUILoginThrottleParallel: guesses sent at once are counted before
// the password check, so no more than the limit are checked.
func TestUILoginThrottleParallel(t *testing.T) {
	ta := newTestApp(t)
	ta.browser().call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "root@x.io", "password": "correct horse"}, 200)
	codes := make(chan int, 40)
	for i := 0; i < 40; i++ {
		go func() {
			resp, err := http.Post(ta.URL+"/ui/api/login", "application/json", strings.NewReader(`{"email":"root@x.io","password":"wrong horse"}`))
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	checked := 0
	for i := 0; i < 40; i++ {
		switch c := <-codes; c {
		case 401:
			checked++
		case 429:
		default:
			t.Fatalf("status %d", c)
		}
	}
	if checked > 10 {
		t.Fatalf("%d passwords checked in parallel, limit 10", checked)
	}
}

// TestUIBootstrapKey: `journey serve` with no admin key and no user gets a
// one-time key that creates the first admin from the browser; once a user
// exists there is none.
func TestUIBootstrapKey(t *testing.T) {
	a, err := Open(Config{DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	ta := &testApp{App: a, URL: srv.URL, t: t}
	key, err := a.BootstrapKey(context.Background())
	if err != nil || !strings.HasPrefix(key, "jbk_") {
		t.Fatalf("BootstrapKey = %q, %v", key, err)
	}
	b := ta.browser()
	b.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": "", "email": "root@x.io", "password": "correct horse"}, 401)
	b.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": key, "email": "root@x.io", "password": "correct horse"}, 200)
	if key, err := a.BootstrapKey(context.Background()); err != nil || key != "" {
		t.Fatalf("BootstrapKey with a user = %q, %v", key, err)
	}
}
