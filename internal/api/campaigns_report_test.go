package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/api"
	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta"
)

// Campaign reports over the API with a real server (issue 15 items 8 and
// 9): revenue per recipient, the series, two campaigns side by side and
// the decision into the learning archive. The engine is off: the test
// plays the sender's part, scheduling, claiming and completing the sends
// in the metadata store and capturing the events it would emit, so every
// arm and every conversion is known.

// played is what the test had a campaign's sender do.
type played struct {
	messaged, held   int
	clicks           int
	conversions      int // messaged persons who bought their item
	heldConversions  int
	revenue, heldRev float64
}

// playCampaign schedules and completes the campaign's sends to
// messaged persons (prefix-m…) and held-out ones (prefix-h…), captures
// their message events, the first clicks messaged persons' clicks, and
// purchases: a messaged person buys their item with probability pm, a
// held-out one with ph, each buyer spending 20, 30 … 60 (40 on average).
func (x *e2e) playCampaign(cid int64, prefix string, messaged, held, clicks int, pm, ph float64, r *rand.Rand) played {
	x.t.Helper()
	ctx := context.Background()
	at := time.Now()
	var sends []meta.Send
	var evs []event
	out := played{messaged: messaged, held: held, clicks: clicks}
	props := func(arm, item, key string) map[string]any {
		return map[string]any{campaign.PropCampaignID: cid, campaign.PropArm: arm, campaign.PropVariant: "plain", campaign.PropKey: key, "item": item}
	}
	add := func(who, arm string, i int) {
		item, key := "sku-"+strconv.Itoa(i%7), fmt.Sprintf("k-%d-%s", cid, who)
		sends = append(sends, meta.Send{Key: key, ProjectID: x.pid, CampaignID: cid, DistinctID: who, Variant: "plain", Channel: "webhook",
			Arm: arm, DueAt: at})
		if arm == meta.ArmHoldout {
			evs = append(evs, ev(campaign.EventWouldHaveSent, who, at, props(arm, item, key)))
		} else {
			evs = append(evs, ev(campaign.EventSent, who, at, props(arm, item, key)), ev(campaign.EventDelivered, who, at, props(arm, item, key)))
			if i < clicks {
				evs = append(evs, ev(campaign.EventClicked, who, at.Add(time.Millisecond), props(arm, item, key)))
			}
		}
		p := pm
		if arm == meta.ArmHoldout {
			p = ph
		}
		if r.Float64() < p {
			spend := float64(20 + 10*(i%5))
			evs = append(evs, ev("order_completed", who, at.Add(2*time.Millisecond), map[string]any{"item": item, "revenue": spend}))
			if arm == meta.ArmHoldout {
				out.heldConversions++
				out.heldRev += spend
			} else {
				out.conversions++
				out.revenue += spend
			}
		}
	}
	for i := range messaged {
		add(fmt.Sprintf("%s-m%04d", prefix, i), meta.ArmTreatment, i)
	}
	for i := range held {
		add(fmt.Sprintf("%s-h%04d", prefix, i), meta.ArmHoldout, i)
	}
	if n, err := x.a.Meta.ScheduleSends(ctx, sends); err != nil || n != len(sends) {
		x.t.Fatalf("scheduled %d of %d: %v", n, len(sends), err)
	}
	claimed, err := x.a.Meta.ClaimDueSends(ctx, "test", time.Now(), time.Minute, meta.MaxSendBatch)
	if err != nil || len(claimed) != len(sends) {
		x.t.Fatalf("claimed %d of %d: %v", len(claimed), len(sends), err)
	}
	for _, sd := range claimed {
		state := meta.SendSent
		if sd.Arm == meta.ArmHoldout {
			state = meta.SendHeldOut
		}
		if err := x.a.Meta.CompleteSend(ctx, sd.ID, "test", state, at, ""); err != nil {
			x.t.Fatal(err)
		}
	}
	x.send(evs)
	return out
}

type fullReport struct {
	Triggered           int64    `json:"triggered"`
	Sent                int64    `json:"sent"`
	Delivered           int64    `json:"delivered"`
	Clicked             int64    `json:"clicked"`
	CTR                 float64  `json:"ctr"`
	Recipients          int64    `json:"recipients"`
	Conversions         int64    `json:"conversions"`
	CVR                 float64  `json:"cvr"`
	RevenueProperty     string   `json:"revenue_property"`
	Revenue             *float64 `json:"revenue"`
	RevenuePerRecipient *float64 `json:"revenue_per_recipient"`
	Holdout             struct {
		Persons             int64    `json:"persons"`
		Conversions         int64    `json:"conversions"`
		Revenue             *float64 `json:"revenue"`
		RevenuePerRecipient *float64 `json:"revenue_per_recipient"`
	} `json:"holdout"`
	Lift        *liftOut `json:"lift"`
	RevenueLift *liftOut `json:"revenue_lift"`
	Interval    string   `json:"interval"`
	Series      []struct {
		Date               string `json:"date"`
		Triggered          int64  `json:"triggered"`
		Sent               int64  `json:"sent"`
		Delivered          int64  `json:"delivered"`
		Clicked            int64  `json:"clicked"`
		Recipients         int64  `json:"recipients"`
		Conversions        int64  `json:"conversions"`
		HoldoutPersons     int64  `json:"holdout_persons"`
		HoldoutConversions int64  `json:"holdout_conversions"`
	} `json:"series"`
}

type liftOut struct {
	Effect float64    `json:"effect"`
	CI     [2]float64 `json:"ci"`
}

func (l *liftOut) covers(v float64) bool { return l != nil && l.CI[0] <= v && v <= l.CI[1] }

// uiViewer logs a new viewer of the project in to the UI.
func (x *e2e) uiViewer(email string) (*http.Client, string) {
	x.t.Helper()
	ctx := context.Background()
	hash, err := api.HashPassword("long enough")
	if err != nil {
		x.t.Fatal(err)
	}
	u, err := x.a.Meta.CreateUser(ctx, email, hash, false)
	if err != nil {
		x.t.Fatal(err)
	}
	if err := x.a.Meta.SetMember(ctx, x.pid, u.ID, meta.RoleViewer); err != nil {
		x.t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Post(x.url+"/ui/api/login", "application/json", strings.NewReader(`{"email":"`+email+`","password":"long enough"}`))
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil || resp.StatusCode != 200 {
		x.t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	return c, me.CSRF
}

func uiDo(t *testing.T, c *http.Client, csrf, method, u, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestCampaignReportRevenueCompareDecision(t *testing.T) {
	x, _ := campaignStack(t, t.TempDir(), false)
	x.createProject()
	secret := channel.NewSecret()
	hook := "http://127.0.0.1:9/hook"
	var reminder, push campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, reminderBody(hook, secret, "1h", 0.5), 201), &reminder)
	pushBody := reminderBody(hook, secret, "1h", 0)
	pushBody["name"] = "Ad push"
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, pushBody, 201), &push)
	rid, pid := strconv.FormatInt(reminder.ID, 10), strconv.FormatInt(push.ID, 10)

	// The planted effect: messaged persons buy at 20 %, held-out ones at
	// 5 %, each buyer 40 on average: lifts of 0.15 in CVR and 6 in
	// revenue per recipient. The ad push: 400 messaged, 4 clicks.
	r := rand.New(rand.NewPCG(15, 1))
	rem := x.playCampaign(reminder.ID, "r", 500, 500, 100, 0.20, 0.05, r)
	ad := x.playCampaign(push.ID, "a", 400, 0, 4, 0.02, 0, r)
	t.Logf("reminder %+v, ad push %+v", rem, ad)

	var rep fullReport
	x.decode(x.do("GET", "/api/v1/campaigns/"+rid+"/report?revenue_property=revenue&interval=day", x.key, nil, 200), &rep)
	if rep.Triggered != 1000 || rep.Sent != 500 || rep.Delivered != 500 || rep.Clicked != 100 || rep.CTR != 0.2 || rep.Recipients != 500 ||
		rep.Conversions != int64(rem.conversions) || rep.Holdout.Persons != 500 || rep.Holdout.Conversions != int64(rem.heldConversions) {
		t.Fatalf("report %+v", rep)
	}
	if rep.RevenueProperty != "revenue" || rep.Revenue == nil || *rep.Revenue != rem.revenue || *rep.RevenuePerRecipient != rem.revenue/500 ||
		rep.Holdout.Revenue == nil || *rep.Holdout.Revenue != rem.heldRev || *rep.Holdout.RevenuePerRecipient != rem.heldRev/500 {
		t.Fatalf("revenue %v / %v, holdout %v / %v; want %v and %v", ptrVal(rep.Revenue), ptrVal(rep.RevenuePerRecipient),
			ptrVal(rep.Holdout.Revenue), ptrVal(rep.Holdout.RevenuePerRecipient), rem.revenue, rem.heldRev)
	}
	if !rep.Lift.covers(0.15) || !rep.RevenueLift.covers(6) || rep.Lift.CI[0] <= 0 || rep.RevenueLift.CI[0] <= 0 {
		t.Fatalf("lift %+v, revenue lift %+v: do not cover the planted 0.15 and 6, or include 0", rep.Lift, rep.RevenueLift)
	}
	if math.Abs(rep.RevenueLift.Effect-(rem.revenue-rem.heldRev)/500) > 1e-9 {
		t.Fatalf("revenue lift %v, want %v", rep.RevenueLift.Effect, (rem.revenue-rem.heldRev)/500)
	}
	// The series: every record in one day (two when the test runs across
	// midnight UTC), adding up to the totals.
	if rep.Interval != "day" || len(rep.Series) == 0 || len(rep.Series) > 2 {
		t.Fatalf("series %+v", rep.Series)
	}
	var sum struct{ triggered, sent, delivered, clicked, recipients, conversions, held, heldConv int64 }
	for _, p := range rep.Series {
		sum.triggered += p.Triggered
		sum.sent += p.Sent
		sum.delivered += p.Delivered
		sum.clicked += p.Clicked
		sum.recipients += p.Recipients
		sum.conversions += p.Conversions
		sum.held += p.HoldoutPersons
		sum.heldConv += p.HoldoutConversions
	}
	if sum.triggered != 1000 || sum.sent != 500 || sum.delivered != 500 || sum.clicked != 100 || sum.recipients != 500 ||
		sum.conversions != int64(rem.conversions) || sum.held != 500 || sum.heldConv != int64(rem.heldConversions) {
		t.Fatalf("series sums %+v", sum)
	}
	if _, err := time.Parse("2006-01-02", rep.Series[len(rep.Series)-1].Date); err != nil || rep.Series[len(rep.Series)-1].Date != time.Now().UTC().Format("2006-01-02") {
		t.Fatalf("last date %q", rep.Series[len(rep.Series)-1].Date)
	}
	// The contract's shape stays; without options no new field.
	raw := x.do("GET", "/api/v1/campaigns/"+rid+"/report", x.key, nil, 200)
	if strings.Contains(string(raw), `"series"`) || strings.Contains(string(raw), `"revenue`) || !strings.Contains(string(raw), `"lift":{"effect"`) {
		t.Fatalf("plain report %s", raw)
	}
	x.do("GET", "/api/v1/campaigns/"+rid+"/report?interval=month", x.key, nil, 400)

	// Side by side: CTR 0.2 / 0.01 = 20×; CVR by the counts played.
	var cmp struct {
		Reports  []fullReport `json:"reports"`
		CTRRatio *float64     `json:"ctr_ratio"`
		CVRRatio *float64     `json:"cvr_ratio"`
		RPR      *float64     `json:"revenue_per_recipient_ratio"`
	}
	x.decode(x.do("GET", "/api/v1/campaigns/compare?ids="+rid+","+pid+"&revenue_property=revenue", x.key, nil, 200), &cmp)
	wantCVR := (float64(rem.conversions) / 500) / (float64(ad.conversions) / 400)
	if len(cmp.Reports) != 2 || cmp.Reports[1].Delivered != 400 || cmp.Reports[1].Clicked != 4 || cmp.CTRRatio == nil || math.Abs(*cmp.CTRRatio-20) > 1e-9 ||
		cmp.CVRRatio == nil || math.Abs(*cmp.CVRRatio-wantCVR) > 1e-9 || cmp.RPR == nil {
		t.Fatalf("compare %+v (CTR ×%v CVR ×%v, want 20 and %v)", cmp.Reports, ptrVal(cmp.CTRRatio), ptrVal(cmp.CVRRatio), wantCVR)
	}
	// Missing ids, another project's campaign, bad ids.
	other := *x
	other.createProject()
	var foreign campaignOut
	x.decode(other.do("POST", "/api/v1/campaigns", other.key, reminderBody(hook, secret, "1h", 0), 201), &foreign)
	for ids, want := range map[string]int{rid + ",999999": 404, rid + "," + strconv.FormatInt(foreign.ID, 10): 404, rid: 400, "x," + rid: 400,
		rid + "," + rid: 400, "": 400, rid + "," + pid + ",1": 400} {
		b := x.do("GET", "/api/v1/campaigns/compare?ids="+url.QueryEscape(ids), x.key, nil, want)
		var e struct{ Error, Field string }
		x.decode(b, &e)
		if e.Field != "ids" || e.Error == "" {
			t.Errorf("ids=%s: %s", ids, b)
		}
	}

	// The UI route, for a viewer: compare yes, decide no.
	ui, csrf := x.uiViewer("viewer@shop.io")
	prefix := fmt.Sprintf("%s/ui/api/projects/%d/campaigns", x.url, x.pid)
	if code, b := uiDo(t, ui, csrf, "GET", prefix+"/compare?ids="+rid+","+pid, ""); code != 200 || !strings.Contains(string(b), `"ctr_ratio":20`) {
		t.Fatalf("UI compare: %d %s", code, b)
	}
	if code, b := uiDo(t, ui, csrf, "POST", prefix+"/"+rid+"/decision", `{"decision":"won"}`); code != 403 {
		t.Fatalf("viewer's decision: %d %s", code, b)
	}

	// The decision: refused bodies, then won with a 2 % holdout.
	x.do("POST", "/api/v1/campaigns/"+rid+"/decision", x.key, map[string]any{"decision": "won", "holdout_after": 0.6}, 400)
	x.do("POST", "/api/v1/campaigns/"+rid+"/decision", x.key, map[string]any{"decision": "maybe"}, 400)
	var dec struct {
		Archive struct {
			ID   int64  `json:"id"`
			Kind string `json:"kind"`
			Link string `json:"link"`
		} `json:"archive"`
		Campaign struct {
			Holdout float64 `json:"holdout"`
			Status  string  `json:"status"`
		} `json:"campaign"`
		Report fullReport `json:"report"`
	}
	x.decode(x.do("POST", "/api/v1/campaigns/"+rid+"/decision", x.key, map[string]any{"decision": "won", "notes": "reminder CTR 20x the ad push",
		"holdout_after": 0.02, "stage": "Purchase", "revenue_property": "revenue"}, 201), &dec)
	if dec.Archive.ID == 0 || dec.Archive.Kind != "campaign" || dec.Campaign.Holdout != 0.02 || dec.Campaign.Status != "active" ||
		dec.Report.Revenue == nil || *dec.Report.Revenue != rem.revenue {
		t.Fatalf("decision %+v", dec)
	}
	var got campaignOut
	x.decode(x.do("GET", "/api/v1/campaigns/"+rid, x.key, nil, 200), &got)
	stored, err := x.a.Meta.Campaign(context.Background(), x.pid, reminder.ID)
	if err != nil || !strings.Contains(string(stored.Definition), `"holdout":0.02`) || stored.Secret != secret {
		t.Fatalf("stored campaign %s (secret kept %v): %v", stored.Definition, stored.Secret == secret, err)
	}
	// A second decision is a conflict; so is deciding a stopped one.
	b := x.do("POST", "/api/v1/campaigns/"+rid+"/decision", x.key, map[string]any{"decision": "lost"}, 409)
	if !strings.Contains(string(b), `"field":"decision"`) || !strings.Contains(string(b), strconv.FormatInt(dec.Archive.ID, 10)) {
		t.Fatalf("second decision: %s", b)
	}
	x.do("PATCH", "/api/v1/campaigns/"+pid, x.key, map[string]any{"status": "stopped"}, 200)
	x.do("POST", "/api/v1/campaigns/"+pid+"/decision", x.key, map[string]any{"decision": "lost"}, 409)

	// The archive lists it as a campaign with a link, searchable as
	// experiments are, and counts it in its stage; the report is frozen.
	type entry struct {
		ID         int64           `json:"id"`
		Kind       string          `json:"kind"`
		CampaignID int64           `json:"campaign_id"`
		Link       string          `json:"link"`
		Decision   string          `json:"decision"`
		Notes      string          `json:"notes"`
		Result     json.RawMessage `json:"result"`
	}
	var list []entry
	x.decode(x.do("GET", "/api/v1/archive?q=ad+push", x.key, nil, 200), &list)
	if len(list) != 1 || list[0].ID != dec.Archive.ID || list[0].Kind != "campaign" || list[0].CampaignID != reminder.ID ||
		list[0].Link != "/campaigns/"+rid || list[0].Decision != "won" {
		t.Fatalf("archive %+v", list)
	}
	var frozen fullReport
	x.decode(list[0].Result, &frozen)
	if frozen.Clicked != 100 || frozen.Revenue == nil || *frozen.Revenue != rem.revenue || frozen.Lift == nil {
		t.Fatalf("frozen report %s", list[0].Result)
	}
	x.decode(x.do("GET", "/api/v1/archive?event=order_completed&outcome=won", x.key, nil, 200), &list)
	if len(list) != 1 || list[0].Kind != "campaign" {
		t.Fatalf("archive by event %+v", list)
	}
	x.decode(x.do("GET", "/api/v1/archive?outcome=lost", x.key, nil, 200), &list)
	if len(list) != 0 {
		t.Fatalf("lost entries %+v", list)
	}
	var stages struct {
		Stages []struct {
			Stage       string `json:"stage"`
			Experiments int    `json:"experiments"`
			Won         int    `json:"won"`
		} `json:"stages"`
	}
	x.decode(x.do("GET", "/api/v1/archive/stages", x.key, nil, 200), &stages)
	found := false
	for _, s := range stages.Stages {
		if strings.EqualFold(s.Stage, "Purchase") && s.Experiments == 1 && s.Won == 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("stages %+v", stages)
	}
	// New records after the decision do not change the frozen report.
	x.playCampaign(reminder.ID, "late", 10, 0, 10, 0, 0, r)
	x.decode(x.do("GET", "/api/v1/archive?q=ad+push", x.key, nil, 200), &list)
	x.decode(list[0].Result, &frozen)
	if frozen.Clicked != 100 {
		t.Fatalf("the archived report moved: %s", list[0].Result)
	}
	x.decode(x.do("GET", "/api/v1/campaigns/"+rid+"/report", x.key, nil, 200), &rep)
	if rep.Clicked != 110 {
		t.Fatalf("live report clicked %d, want 110", rep.Clicked)
	}
}

func ptrVal(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
