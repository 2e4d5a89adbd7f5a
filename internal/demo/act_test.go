package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/api"
	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// TestShopAct loads the shop (small) and its campaign story into a fresh
// data dir, as `journey demo` does, and checks the story over the API:
// the reminder's lift over its holdout (interval above 0, covering the
// planted lift), the reminder against the ad push (CTR about 13×, CVR
// about 10×), the golden time (peak within 2 days), the decision in the
// archive with the campaign running on at a smaller holdout, and nothing
// left to send; a server's trigger engine and cohort scheduler schedule
// nothing of the history again.
func TestShopAct(t *testing.T) {
	ctx := context.Background()
	cfg := app.Config{DataDir: t.TempDir(), AdminKey: "demo-act-test-admin-key-0123456789", NoSync: true}
	a, err := app.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	a.Loader.SetTrimFloor(func() uint64 { return 0 }) // as journey demo: the log is read again below
	shop, secret, err := a.Meta.CreateProject(ctx, "Demo shop", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := api.HashPassword("demo-act-test-password")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := a.Meta.CreateUser(ctx, "admin@journey.local", hash, true)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Seed: 42, End: time.Now(), Days: minActDays}
	if NewShopAct(Options{Days: minActDays - 1}) != nil {
		t.Fatal("an act in a history too short for it")
	}
	act := NewShopAct(o)
	began := time.Now()
	if _, err := Shop(ctx, shop.ID, a.Log.Append, o, 5_000, nil); err != nil {
		t.Fatal(err)
	}
	if err := act.Events(ctx, shop.ID, a.Log.Append, o); err != nil {
		t.Fatal(err)
	}
	if err := a.Loader.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	loaded := time.Since(began)
	env := ActEnv{Meta: a.Meta, Events: a.Events, Sink: a.Log.Append, Sync: a.Loader.Sync, Handler: a.Handler, Project: shop,
		Owner: owner.ID, BaseURL: "http://127.0.0.1:8000", Seed: o.Seed}
	if err := act.Run(ctx, env); err != nil {
		t.Fatal(err)
	}
	t.Logf("events loaded in %s, campaigns recorded in %s", loaded.Round(10*time.Millisecond), (time.Since(began) - loaded).Round(10*time.Millisecond))
	for _, l := range act.Summary() {
		t.Log(l)
	}
	reminder, push := act.IDs()

	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	get := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", path, resp.Status, body)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}

	// The reminder: about 3 000 carts, a holdout, a lift whose interval is
	// above 0 and covers the planted one, both copies.
	var rep campaign.Report
	get(fmt.Sprintf("/api/v1/campaigns/%d/report", reminder), &rep)
	planted := PlantedReminderLift()
	t.Logf("reminder: %d triggered, %d delivered, CTR %.3f, CVR %.4f (%d/%d), holdout CVR %.4f (%d/%d), lift %+v, planted %.4f",
		rep.Triggered, rep.Delivered, rep.CTR, rep.CVR, rep.Conversions, rep.Recipients, rep.Holdout.CVR, rep.Holdout.Conversions,
		rep.Holdout.Persons, rep.Lift, planted)
	switch {
	case rep.Triggered < 2700 || rep.Triggered > 3300:
		t.Errorf("reminder triggered %d times, want about 3000", rep.Triggered)
	case rep.Pending != 0 || rep.Failed != 0 || rep.Cancelled == 0 || rep.Holdout.Persons < 200 || len(rep.Variants) != 2:
		t.Errorf("reminder report %+v", rep)
	case rep.Lift == nil || rep.Lift.CI[0] <= 0 || rep.Lift.CI[0] > planted || rep.Lift.CI[1] < planted:
		t.Errorf("reminder lift %+v: want an interval above 0 covering the planted %.4f", rep.Lift, planted)
	}
	for _, v := range rep.Variants {
		if v.Delivered < 1000 || v.Lift == nil || v.Lift.Effect <= 0 {
			t.Errorf("variant %+v", v)
		}
	}

	// The ad push: every app user, no holdout; the reminder's CTR and CVR
	// over the push's.
	var cmp campaign.Comparison
	get(fmt.Sprintf("/api/v1/campaigns/compare?ids=%d,%d", reminder, push), &cmp)
	bc := cmp.Reports[1]
	if cmp.CTRRatio == nil || cmp.CVRRatio == nil || bc == nil || cmp.Reports[0] == nil || cmp.Reports[0].CampaignID != reminder {
		t.Fatalf("compare %+v", cmp)
	}
	if bc.CampaignID != push || bc.Delivered != actUsers || bc.Triggered != actUsers || bc.Clicked == 0 || bc.Conversions == 0 || bc.Lift != nil {
		t.Errorf("push report %+v", bc)
	}
	t.Logf("push: CTR %.4f, CVR %.4f; reminder/push CTR %.1f×, CVR %.1f×", bc.CTR, bc.CVR, *cmp.CTRRatio, *cmp.CVRRatio)
	if r := *cmp.CTRRatio; r < 8 || r > 18 {
		t.Errorf("CTR ratio %.2f, want about 13", r)
	}
	if r := *cmp.CVRRatio; r < 6 || r > 14 {
		t.Errorf("CVR ratio %.2f, want about 10", r)
	}

	// Golden time of cart → order of the item: the peak within 2 days.
	var gt insight.GoldenTimeResult
	get(fmt.Sprintf("/api/v1/campaigns/%d/golden-time", reminder), &gt)
	var peak insight.GoldenTimeBucket
	for _, b := range gt.Histogram {
		if b.Conversions > peak.Conversions {
			peak = b
		}
	}
	t.Logf("golden time: %d triggers, %d converted, median %v h, peak %s (%d)", gt.Triggers, gt.Converted, deref(gt.MedianHours), peak.Label, peak.Conversions)
	if gt.Triggers < 2700 || peak.Conversions == 0 || peak.ToHours > 48 || gt.MedianHours == nil || *gt.MedianHours > 48 {
		t.Errorf("golden time %+v, peak %+v", gt, peak)
	}

	// The decision: in the archive as a campaign entry, won; the campaign
	// runs on with the smaller holdout.
	var archive []struct {
		Name       string `json:"name"`
		Kind       string `json:"kind"`
		CampaignID int64  `json:"campaign_id"`
		Decision   string `json:"decision"`
		Notes      string `json:"notes"`
		Result     struct {
			Lift *campaign.Lift `json:"lift"`
		} `json:"result"`
	}
	get("/api/v1/archive", &archive)
	if len(archive) != 1 || archive[0].Kind != "campaign" || archive[0].CampaignID != reminder || archive[0].Decision != meta.DecisionWon ||
		archive[0].Notes == "" || archive[0].Result.Lift == nil || archive[0].Result.Lift.CI[0] <= 0 {
		t.Errorf("archive %+v", archive)
	}
	var c struct {
		Status  string  `json:"status"`
		Holdout float64 `json:"holdout"`
		Channel struct {
			URL string `json:"url"`
		} `json:"channel"`
	}
	get(fmt.Sprintf("/api/v1/campaigns/%d", reminder), &c)
	if c.Status != meta.CampaignActive || c.Holdout != actHoldoutAfter || c.Channel.URL != ActPushURL {
		t.Errorf("reminder after the decision %+v", c)
	}
	srv.Close()

	// A server with campaigns on: its engine goes on after the history;
	// were it to read the triggers again (here every tenth cart of the
	// app, as logged, at the time it came), it would schedule nothing,
	// and its cohort scheduler finds the push done. Nothing is left to
	// send.
	end, err := a.Events.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos, ok, err := a.Meta.ConsumerPosition(ctx, campaign.EngineConsumer); err != nil || !ok || pos != end {
		t.Errorf("the engine's checkpoint is %d (%v, %v), want the end of the history %d", pos, ok, err, end)
	}
	before := sendCounts(t, a.Meta, shop.ID, reminder, push)
	var clock time.Time
	engine := campaign.NewEngine(campaign.EngineConfig{Meta: a.Meta, Events: a.Events, Campaigns: &campaign.Campaigns{Meta: a.Meta},
		PublicURL: env.BaseURL, Now: func() time.Time { return clock }})
	carts := 0
	for pos := uint64(0); pos < end; {
		entries, err := a.Log.Read(ctx, pos, 4<<20)
		if err != nil || len(entries) == 0 {
			t.Fatalf("log at %d of %d: %d entries, %v", pos, end, len(entries), err)
		}
		for _, en := range entries {
			for _, ev := range en.Batch.Events {
				if ev.Event != "added_to_cart" || !strings.HasPrefix(ev.DistinctID, "app-") {
					continue
				}
				if carts++; carts%10 != 0 {
					continue
				}
				clock = ev.Timestamp.Add(time.Minute)
				one := eventlog.Entry{Next: en.Next, Batch: event.RawBatch{ProjectID: en.Batch.ProjectID, Events: []event.Raw{ev}}}
				if err := engine.Process(ctx, []eventlog.Entry{one}); err != nil {
					t.Fatal(err)
				}
			}
		}
		pos = entries[len(entries)-1].Next
	}
	scheduler := campaign.NewCohortScheduler(campaign.CohortConfig{Meta: a.Meta, Events: a.Events, Owner: "server"})
	if _, err := scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if after := sendCounts(t, a.Meta, shop.ID, reminder, push); carts < 2700 || after != before {
		t.Errorf("after the engine read %d carts again, sends\n%s\nbefore:\n%s", carts/10, after, before)
	}
}

// sendCounts lists the campaigns' sends by arm, variant and state, and
// fails on pending ones.
func sendCounts(t *testing.T, m meta.Store, project int64, ids ...int64) string {
	t.Helper()
	var out string
	for _, id := range ids {
		counts, err := m.CountSends(context.Background(), project, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counts {
			if c.State == meta.SendPending || c.State == meta.SendSending {
				t.Errorf("campaign %d: %d sends %s", id, c.Count, c.State)
			}
			out += fmt.Sprintf("%d %s %s %s %d\n", id, c.Arm, c.Variant, c.State, c.Count)
		}
	}
	return out
}

func deref(x *float64) float64 {
	if x == nil {
		return math.NaN()
	}
	return *x
}
