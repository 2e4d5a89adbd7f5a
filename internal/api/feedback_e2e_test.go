package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The VoC inbox end to end on the embedded stack: events through /batch/,
// feedback through the API, the widget, a help desk and a CSV file, the
// ranking of themes from the event store, search, replies, merges and
// suggestions, and the $feedback_submitted events back in a query.

type fbItem struct {
	ID              int64    `json:"id"`
	Text            string   `json:"text"`
	Source          string   `json:"source"`
	DistinctID      string   `json:"distinct_id"`
	PersonID        int64    `json:"person_id"`
	Status          string   `json:"status"`
	Tags            []string `json:"tags"`
	Votes           int      `json:"votes"`
	ThemeID         int64    `json:"theme_id"`
	MergedInto      int64    `json:"merged_into"`
	FirstResponseAt string   `json:"first_response_at"`
	ResolvedAt      string   `json:"resolved_at"`
	Notes           []struct {
		Text string `json:"text"`
	} `json:"notes"`
	Replies []struct {
		Text string `json:"text"`
	} `json:"replies"`
}

type fbTheme struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Items       int     `json:"items"`
	Persons     int     `json:"persons"`
	Accounts    int     `json:"accounts"`
	Revenue     float64 `json:"revenue"`
	BadDayShare float64 `json:"bad_day_share"`
	Score       float64 `json:"score"`
}

// raw sends a body as is, answering the status, headers and body.
func (x *e2e) raw(method, path, key, contentType, body string, headers map[string]string) (int, http.Header, []byte) {
	x.t.Helper()
	req, _ := http.NewRequest(method, x.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

func (x *e2e) wantField(status int, body []byte, wantStatus int, field string) {
	x.t.Helper()
	var e struct{ Error, Field string }
	json.Unmarshal(body, &e)
	if status != wantStatus || e.Field != field || e.Error == "" {
		x.t.Fatalf("got %d %s, want %d naming %q", status, body, wantStatus, field)
	}
}

func TestFeedbackEndToEnd(t *testing.T) {
	x := newE2E(t)
	now := time.Now().UTC()
	group := func(key string, mrr float64) event {
		return ev("$groupidentify", "admin", now.Add(-time.Hour), map[string]any{"$group_type": "company", "$group_key": key, "$group_set": map[string]any{"mrr": mrr}})
	}
	in := func(who, key string) event {
		return ev("$pageview", who, now.Add(-50*time.Minute), map[string]any{"$groups": map[string]any{"company": key}})
	}
	x.send([]event{group("acme", 900), group("globex", 100), in("ann", "acme"), in("bob", "globex"), in("cy", "globex"),
		ev("$exception", "ann", now.Add(-40*time.Minute), nil)})

	var invoice, dark fbTheme
	x.decode(x.do("POST", "/api/v1/themes", x.key, map[string]any{"name": "Invoice export"}, 201), &invoice)
	x.decode(x.do("POST", "/api/v1/themes", x.key, map[string]any{"name": "Dark mode", "revenue_property": "mrr"}, 201), &dark)
	if invoice.ID == 0 || dark.ID == invoice.ID {
		t.Fatalf("themes %+v %+v", invoice, dark)
	}

	// The contract body, with the secret key.
	var a fbItem
	x.decode(x.do("POST", "/api/v1/feedback", x.key, map[string]any{"text": "Invoice export fails", "distinct_id": "ann", "source": "api",
		"tags": []string{"Billing"}, "theme_id": invoice.ID}, 201), &a)
	if a.ID == 0 || a.PersonID == 0 || a.Status != "new" || a.ThemeID != invoice.ID || len(a.Tags) != 1 || a.Tags[0] != "billing" || a.Votes != 1 {
		t.Fatalf("created %+v", a)
	}
	var b fbItem
	x.decode(x.do("POST", "/api/v1/feedback", x.key, map[string]any{"text": "invoice exporting failed again", "distinct_id": "bob", "theme_id": invoice.ID}, 201), &b)
	var c fbItem
	x.decode(x.do("POST", "/api/v1/feedback", x.key, map[string]any{"text": "Please add a dark mode", "distinct_id": "cy", "theme_id": dark.ID}, 201), &c)
	// The project token is not a secret key.
	x.do("POST", "/api/v1/feedback", x.token, map[string]any{"text": "x", "distinct_id": "ann"}, 401)
	st, _, body := x.raw("POST", "/api/v1/feedback", x.key, "application/json", `{"text":"x","distinct_id":"ann","theem_id":1}`, nil)
	x.wantField(st, body, 400, "theem_id")
	st, _, body = x.raw("POST", "/api/v1/feedback", x.key, "application/json", `{"text":"x","distinct_id":"ann","theme_id":999}`, nil)
	x.wantField(st, body, 400, "theme_id")

	// The widget: project token, text/plain, CORS; it cannot pick a theme.
	st, hdr, body := x.raw("POST", "/feedback/", "", "text/plain", fmt.Sprintf(`{"token":%q,"text":"송장 내보내기가 계속 실패해요","distinct_id":"anon-7","theme_id":%d}`, x.token, invoice.ID),
		map[string]string{"Origin": "https://shop.example"})
	var w fbItem
	if json.Unmarshal(body, &w); st != 201 || hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" || w.Source != "widget" || w.ThemeID != 0 ||
		w.ID == 0 || w.DistinctID != "anon-7" || strings.Contains(string(body), "person_id") {
		t.Fatalf("widget: %d %v %s (want its id, source and distinct id, not its person)", st, hdr, body)
	}
	if st, hdr, _ := x.raw("OPTIONS", "/feedback", "", "text/plain", "", map[string]string{"Origin": "https://shop.example"}); st != 204 || hdr.Get("Access-Control-Allow-Methods") == "" {
		t.Fatalf("preflight: %d %v", st, hdr)
	}
	if st, _, body := x.raw("POST", "/feedback/", "", "text/plain", `{"token":"jpt_nope","text":"x","distinct_id":"d"}`, nil); st != 401 {
		t.Fatalf("widget with a bad token: %d %s", st, body)
	}
	if st, _, body := x.raw("POST", "/feedback/", "", "text/plain", `{"token":"`+x.key+`","text":"x","distinct_id":"d"}`, nil); st != 401 {
		t.Fatalf("widget with a secret key: %d %s", st, body)
	}

	// A help desk's ticket, delivered twice.
	ticket := map[string]any{"external_id": "ZD-1", "subject": "Dark mode", "body": "my eyes", "requester": map[string]any{"email": "Bob@globex.example"}}
	var t1, t2 fbItem
	x.decode(x.do("POST", "/api/v1/feedback/inbound", x.key, ticket, 201), &t1)
	x.decode(x.do("POST", "/api/v1/feedback/inbound", x.key, ticket, 200), &t2)
	if t1.ID != t2.ID || t1.DistinctID != "bob@globex.example" || t1.Source != "webhook" || t1.Text != "Dark mode\n\nmy eyes" {
		t.Fatalf("inbound %+v then %+v", t1, t2)
	}

	// CSV: all or nothing.
	st, _, body = x.raw("POST", "/api/v1/feedback/import", x.key, "text/csv", "text,email,tags\nExport to CSV is broken,dee@acme.example,billing;export\n,x@y,\n", nil)
	if st != 400 || !strings.Contains(string(body), `"rows"`) {
		t.Fatalf("CSV with a bad row: %d %s", st, body)
	}
	var imp struct {
		Imported int     `json:"imported"`
		IDs      []int64 `json:"ids"`
	}
	st, _, body = x.raw("POST", "/api/v1/feedback/import", x.key, "text/csv", "text,email,tags,created_at\nExport to CSV is broken,dee@acme.example,billing;export,2026-01-05\n로그인이 안 돼요,eve@x.example,,\n", nil)
	if json.Unmarshal(body, &imp); st != 200 || imp.Imported != 2 || len(imp.IDs) != 2 {
		t.Fatalf("CSV import: %d %s", st, body)
	}

	// Search in English and Korean; filters.
	var list struct{ Items []fbItem }
	x.decode(x.do("GET", "/api/v1/feedback?q=invoice+export", x.key, nil, 200), &list)
	if len(list.Items) != 2 || list.Items[0].ID != a.ID {
		t.Fatalf("search invoice export = %+v", list.Items)
	}
	x.decode(x.do("GET", "/api/v1/feedback?q="+urlQuery("내보내기 실패"), x.key, nil, 200), &list)
	if len(list.Items) != 1 || list.Items[0].ID != w.ID {
		t.Fatalf("search 내보내기 실패 = %+v", list.Items)
	}
	x.decode(x.do("GET", "/api/v1/feedback?tag=billing", x.key, nil, 200), &list)
	if len(list.Items) != 2 {
		t.Fatalf("tag billing = %+v", list.Items)
	}
	x.decode(x.do("GET", fmt.Sprintf("/api/v1/feedback?theme=%d", invoice.ID), x.key, nil, 200), &list)
	if len(list.Items) != 2 {
		t.Fatalf("theme filter = %+v", list.Items)
	}
	st, _, body = x.raw("GET", "/api/v1/feedback?status=open", x.key, "", "", nil)
	x.wantField(st, body, 400, "status")

	// Suggestions: the widget's Korean item is like nothing themed yet, the
	// CSV's English one is like the invoice theme.
	var sg struct {
		Suggestions []struct {
			ThemeID int64 `json:"theme_id"`
		} `json:"suggestions"`
	}
	x.decode(x.do("GET", fmt.Sprintf("/api/v1/feedback/%d/suggestions", b.ID), x.key, nil, 200), &sg)
	if len(sg.Suggestions) != 0 {
		t.Fatalf("an item's own theme suggested: %+v", sg)
	}
	x.decode(x.do("GET", fmt.Sprintf("/api/v1/feedback/%d/suggestions", t1.ID), x.key, nil, 200), &sg)
	if len(sg.Suggestions) == 0 || sg.Suggestions[0].ThemeID != dark.ID {
		t.Fatalf("suggestions for the dark mode ticket = %+v", sg)
	}
	var all struct {
		Clusters []struct{ Items []int64 } `json:"clusters"`
	}
	x.decode(x.do("GET", "/api/v1/themes/suggestions", x.key, nil, 200), &all)

	// Replies, notes, status.
	x.do("POST", fmt.Sprintf("/api/v1/feedback/%d/notes", a.ID), x.key, map[string]string{"text": "seen in the logs"}, 201)
	x.do("POST", fmt.Sprintf("/api/v1/feedback/%d/replies", a.ID), x.key, map[string]string{"text": "I'll get back to you tomorrow"}, 201)
	x.decode(x.do("PATCH", fmt.Sprintf("/api/v1/feedback/%d", a.ID), x.key, map[string]any{"status": "done"}, 200), new(fbItem))
	var got fbItem
	x.decode(x.do("GET", fmt.Sprintf("/api/v1/feedback/%d", a.ID), x.key, nil, 200), &got)
	if got.Status != "done" || got.ResolvedAt == "" || got.FirstResponseAt == "" || len(got.Notes) != 1 || len(got.Replies) != 1 {
		t.Fatalf("after reply and done: %+v", got)
	}
	st, _, body = x.raw("PATCH", fmt.Sprintf("/api/v1/feedback/%d", a.ID), x.key, "application/json", `{"status":"closed"}`, nil)
	x.wantField(st, body, 400, "status")
	st, _, body = x.raw("PATCH", fmt.Sprintf("/api/v1/feedback/%d", a.ID), x.key, "application/json", `{"assignee_id":12345}`, nil)
	x.wantField(st, body, 400, "assignee_id")
	st, _, body = x.raw("PATCH", fmt.Sprintf("/api/v1/feedback/%d", a.ID), x.key, "application/json", `{"attachments":["javascript:alert(1)"]}`, nil)
	x.wantField(st, body, 400, "attachments[0]")

	// The ticket duplicates cy's dark mode item: merged, it brings its vote
	// and bob into the dark mode theme.
	x.do("POST", fmt.Sprintf("/api/v1/feedback/%d/merge", t1.ID), x.key, map[string]any{"into": c.ID}, 200)

	// The ranking: invoice export touches ann (acme, a bad day) and bob
	// (globex): 2 persons, 2 accounts, 1000; dark mode cy and bob (by the
	// ticket's email, not a stored distinct id: a person of its own): 2
	// persons, globex, 100.
	var ranked struct {
		Themes  []fbTheme `json:"themes"`
		Formula string    `json:"formula"`
	}
	x.decode(x.do("GET", "/api/v1/themes?sort=revenue", x.key, nil, 200), &ranked)
	if len(ranked.Themes) != 2 || !strings.HasPrefix(ranked.Formula, "score = ") {
		t.Fatalf("themes = %+v", ranked)
	}
	inv, dk := ranked.Themes[0], ranked.Themes[1]
	if inv.ID != invoice.ID || inv.Items != 2 || inv.Persons != 2 || inv.Accounts != 2 || inv.Revenue != 1000 || inv.BadDayShare != 0.5 || inv.Score <= dk.Score {
		t.Fatalf("invoice theme = %+v (dark mode %+v)", inv, dk)
	}
	if dk.ID != dark.ID || dk.Items != 1 || dk.Persons != 2 || dk.Accounts != 1 || dk.Revenue != 100 || dk.BadDayShare != 0 {
		t.Fatalf("dark mode theme = %+v", dk)
	}
	st, _, body = x.raw("GET", "/api/v1/themes?sort=loudest", x.key, "", "", nil)
	x.wantField(st, body, 400, "sort")

	// Merging the themes moves the items.
	x.do("POST", fmt.Sprintf("/api/v1/themes/%d/merge", dark.ID), x.key, map[string]any{"into": invoice.ID}, 200)
	x.decode(x.do("GET", "/api/v1/themes", x.key, nil, 200), &ranked)
	if len(ranked.Themes) != 1 || ranked.Themes[0].Persons != 4 || ranked.Themes[0].Items != 3 {
		t.Fatalf("after the theme merge: %+v", ranked.Themes)
	}

	// Every stored item was captured as $feedback_submitted.
	if err := x.a.Loader.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	var trend struct {
		Series []struct {
			Points []struct{ Value float64 } `json:"points"`
		} `json:"series"`
	}
	q := map[string]any{"kind": "trend", "series": []map[string]any{{"event": "$feedback_submitted", "math": "total"}}, "interval": "day",
		"from": "2025-12-01T00:00:00Z", "to": now.Add(24 * time.Hour).Format(time.RFC3339)}
	x.decode(x.do("POST", "/api/v1/query", x.key, q, 200), &trend)
	total := 0.0
	for _, pt := range trend.Series[0].Points {
		total += pt.Value
	}
	if total != 7 { // 3 API, 1 widget, 1 ticket (once), 2 CSV rows
		t.Fatalf("$feedback_submitted events = %v, want 7", total)
	}

	// Another project sees none of it.
	var other struct {
		SecretKey string `json:"secret_key"`
	}
	x.decode(x.do("POST", "/api/v1/projects", e2eAdminKey, map[string]string{"name": "other"}, 201), &other)
	x.do("GET", fmt.Sprintf("/api/v1/feedback/%d", a.ID), other.SecretKey, nil, 404)
	x.do("DELETE", fmt.Sprintf("/api/v1/themes/%d", invoice.ID), other.SecretKey, nil, 404)
	x.do("DELETE", fmt.Sprintf("/api/v1/feedback/%d", a.ID), x.key, nil, 204)
	x.do("GET", fmt.Sprintf("/api/v1/feedback/%d", a.ID), x.key, nil, 404)
}

func urlQuery(s string) string {
	var b bytes.Buffer
	for _, c := range []byte(s) {
		if c == ' ' {
			b.WriteByte('+')
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
