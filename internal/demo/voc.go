package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/voc"
)

// The demo SaaS's voice of customer (issue 16 item 8): feedback from its
// accounts with a clear top theme by revenue — "Invoice export fails",
// told by every enterprise account and some growth ones — beside a theme
// more persons ask for but that touches free accounts only ("Dark mode"),
// so ranking by revenue and by persons tell different stories; an NPS
// survey with `survey sent` responses (whose detractors' open answers the
// server turns into feedback items); and SLA history: items of every
// priority over the last weeks, answered and resolved within their
// targets or past them, and some waiting past their targets.

// VoCEnv is what the VoC story needs of the server: stores, the event
// log's Append and the loader's Sync, the SaaS project (its events
// loaded).
type VoCEnv struct {
	Meta    meta.Store
	Events  store.Store
	Sink    Sink
	Sync    func(ctx context.Context) error
	Project meta.Project
	Seed    uint64
	End     time.Time
}

// VoCStory is what the story planted, for the demo's summary and tests.
type VoCStory struct {
	TopTheme   meta.Theme // by revenue
	Crowded    meta.Theme // by persons
	Survey     meta.Survey
	Promoters  int
	Passives   int
	Detractors int // with an open answer each
	NPS        float64
	Replied    int // items with a first response
	Resolved   int
	// AnsweredLate and ResolvedLate are the items of Replied and
	// Resolved that missed their targets (the others met them).
	AnsweredLate int
	ResolvedLate int
}

// Summary lines for `journey demo`.
func (s VoCStory) Summary() []string {
	return []string{
		fmt.Sprintf("top theme by revenue: %q (enterprise and growth accounts); by persons: %q (free accounts)", s.TopTheme.Name, s.Crowded.Name),
		fmt.Sprintf("NPS survey %q: %d promoters, %d passives, %d detractors: NPS %.0f", s.Survey.Name, s.Promoters, s.Passives, s.Detractors, s.NPS),
		fmt.Sprintf("SLA history: %d items answered (%d late), %d resolved (%d late), the others waiting (see /feedback/sla)",
			s.Replied, s.AnsweredLate, s.Resolved, s.ResolvedLate),
	}
}

// maxVoCAccounts bounds the SaaS accounts the story reads.
const maxVoCAccounts = 600

// saasAccounts reads the plans of the SaaS's accounts (acct-00000 …),
// by plan, in key order.
func saasAccounts(ctx context.Context, events store.Store, projectID int64) (map[string][]string, error) {
	keys := make([]string, maxVoCAccounts)
	for i := range keys {
		keys[i] = fmt.Sprintf("acct-%05d", i)
	}
	props, err := events.GroupProperties(ctx, projectID, "company", keys)
	if err != nil {
		return nil, fmt.Errorf("cannot read the demo accounts: %w", err)
	}
	byPlan := map[string][]string{}
	for k, p := range props {
		plan, _ := p["plan"].(string)
		byPlan[plan] = append(byPlan[plan], k)
	}
	for _, ks := range byPlan {
		sort.Strings(ks)
	}
	return byPlan, nil
}

// The planted texts, English and Korean (the suggestions work for both).
var (
	invoiceTexts = []string{"Invoice export fails with a timeout", "Exporting invoices to PDF fails", "invoice export keeps failing for our finance team",
		"송장 내보내기가 실패해요", "Invoice export fails since the last update", "Our month-end invoice export failed again"}
	darkTexts = []string{"Please add a dark mode", "dark mode would be great", "I'd love a dark theme", "다크 모드 지원해 주세요", "Any plans for dark mode?"}
	ssoTexts  = []string{"SSO login loops back to the login page", "Okta SSO redirects forever", "SSO 로그인이 반복돼요"}
)

// feedbackDays is how far back the planted feedback goes: long enough
// for late resolutions of low-priority items (past 10 business days) to
// be history.
const feedbackDays = 35

// VoC plants the story in the SaaS project, whose events are loaded.
func VoC(ctx context.Context, env VoCEnv) (VoCStory, error) {
	var st VoCStory
	r := rand.New(rand.NewPCG(env.Seed, 16))
	m, pid := env.Meta, env.Project.ID
	accounts, err := saasAccounts(ctx, env.Events, pid)
	if err != nil {
		return st, err
	}
	theme := func(name, status string) (meta.Theme, error) {
		return m.CreateTheme(ctx, meta.Theme{ProjectID: pid, Name: name, Status: status})
	}
	if st.TopTheme, err = theme("Invoice export fails", meta.FeedbackInProgress); err != nil {
		return st, err
	}
	if st.Crowded, err = theme("Dark mode", meta.FeedbackPlanned); err != nil {
		return st, err
	}
	sso, err := theme("SSO login loops", meta.FeedbackNew)
	if err != nil {
		return st, err
	}
	sources := []string{meta.SourceWidget, meta.SourceEmail, meta.SourceAPI, meta.SourceWebhook}
	var items []meta.FeedbackItem
	add := func(company string, th meta.Theme, texts []string, priority string) {
		items = append(items, meta.FeedbackItem{ProjectID: pid, Text: pick(r, texts), Source: pick(r, sources), DistinctID: company + "-u1",
			Accounts: []string{company}, Priority: priority, ThemeID: th.ID, Tags: []string{"demo"},
			CreatedAt: env.End.Add(-time.Duration(1+r.IntN(feedbackDays*24)) * time.Hour)})
	}
	for _, c := range first(accounts["enterprise"], 12) {
		add(c, st.TopTheme, invoiceTexts, meta.PriorityUrgent)
	}
	for _, c := range first(accounts["growth"], 8) {
		add(c, st.TopTheme, invoiceTexts, meta.PriorityHigh)
	}
	for _, c := range first(accounts["free"], 40) {
		add(c, st.Crowded, darkTexts, meta.PriorityLow)
	}
	for _, c := range first(accounts["starter"], 6) {
		add(c, sso, ssoTexts, meta.PriorityNormal)
	}
	// Fresh ones, within the targets yet.
	for _, c := range first(accounts["starter"][min(6, len(accounts["starter"])):], 3) {
		add(c, sso, ssoTexts, meta.PriorityNormal)
		items[len(items)-1].CreatedAt = env.End.Add(-time.Duration(5+r.IntN(30)) * time.Minute)
	}
	sla, err := voc.LoadSLA(ctx, m, env.Project)
	if err != nil {
		return st, err
	}
	for i := range items {
		answer(r, sla, &items[i], i, st.TopTheme.ID, env.End, &st)
		f, err := m.CreateFeedback(ctx, items[i])
		if err != nil {
			return st, fmt.Errorf("cannot store demo feedback: %w", err)
		}
		items[i] = f
	}
	if err := npsSurvey(ctx, env, r, accounts, &st); err != nil {
		return st, err
	}
	return st, env.Sync(ctx)
}

func first(xs []string, n int) []string { return xs[:min(n, len(xs))] }

// answer gives item i its SLA history, as the help desk it came from
// recorded it (the store keeps an item's given first response and
// resolution times): in turn answered within its first-response target
// and resolved within its resolution target; answered late and resolved
// late; answered in time and still open; not answered (waiting, past its
// target when it is old enough). The top theme's items stay open (in
// progress). A time that would fall after end is not given (the clock
// is still running).
func answer(r *rand.Rand, sla *voc.SLA, f *meta.FeedbackItem, i int, top int64, end time.Time, st *VoCStory) {
	target, ok := sla.Targets[f.Priority]
	if !ok || target.FirstResponse <= 0 {
		return
	}
	late := i%4 == 1
	share := func() float64 {
		if late {
			return 1.2 + 0.8*r.Float64() // past the target
		}
		return 0.2 + 0.6*r.Float64() // within it
	}
	if i%4 == 3 || end.Sub(f.CreatedAt) < time.Hour {
		return
	}
	at := sla.Hours.Deadline(f.CreatedAt, time.Duration(share()*float64(target.FirstResponse)))
	if at.After(end) {
		return
	}
	f.FirstResponseAt = at
	st.Replied++
	if late {
		st.AnsweredLate++
	}
	if i%4 == 2 || f.ThemeID == top || target.Resolve <= 0 {
		return
	}
	solved := sla.Hours.Deadline(f.CreatedAt, time.Duration(share()*float64(target.Resolve)))
	if solved.After(end) {
		return
	}
	f.Status, f.ResolvedAt = meta.FeedbackDone, maxTime(solved, at)
	st.Resolved++
	if late {
		st.ResolvedLate++
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

const demoNPSSurvey = `{"name":"How likely are you to recommend us?","type":"popover","questions":[
 {"id":"nps","type":"rating","scale":10,"display":"number","question":"How likely are you to recommend us to a friend or colleague?","lowerBoundLabel":"Unlikely","upperBoundLabel":"Very likely"},
 {"id":"why","type":"open","question":"What is the one thing we should improve?","optional":true}]}`

// npsSurvey stores a running NPS survey and its responses: promoters and
// passives across the plans, detractors (each with an open answer, most
// about invoice export) among the paying accounts.
func npsSurvey(ctx context.Context, env VoCEnv, r *rand.Rand, accounts map[string][]string, st *VoCStory) error {
	s, err := voc.ParseSurvey([]byte(demoNPSSurvey))
	if err != nil {
		return err
	}
	start := env.End.AddDate(0, 0, -30)
	s.StartDate, s.Status = &start, meta.SurveyRunning
	rec, err := s.Record(env.Project.ID, 0)
	if err != nil {
		return err
	}
	if st.Survey, err = env.Meta.CreateSurvey(ctx, rec); err != nil {
		return fmt.Errorf("cannot store the demo survey: %w", err)
	}
	id := strconv.FormatInt(st.Survey.ID, 10)
	questions, _ := json.Marshal([]map[string]string{{"id": "nps", "question": s.Questions[0].Question}, {"id": "why", "question": s.Questions[1].Question}})
	var qs []any
	json.Unmarshal(questions, &qs)
	// Respondents: the owners of accounts of every plan, each once.
	var who []string
	for _, plan := range []string{"enterprise", "growth", "starter", "free"} {
		for _, c := range first(accounts[plan], 15) {
			who = append(who, c+"-u1")
		}
	}
	r.Shuffle(len(who), func(i, j int) { who[i], who[j] = who[j], who[i] })
	var evs []event.Event
	for i, d := range who[:min(len(who), 40)] {
		var score int
		var why string
		switch {
		case i%4 == 0: // a quarter detractors
			score, why = r.IntN(7), pick(r, append(invoiceTexts, "Too expensive for what it does", "Support takes days to answer"))
			st.Detractors++
		case i%4 == 1:
			score = 7 + r.IntN(2)
			st.Passives++
		default:
			score = 9 + r.IntN(2)
			st.Promoters++
			if r.IntN(3) == 0 {
				why = "Keep it up!"
			}
		}
		at := env.End.Add(-time.Duration(1+r.IntN(20*24)) * time.Hour)
		props := map[string]any{"$survey_id": id, "$survey_name": s.Name, "$survey_questions": qs, "$survey_completed": true,
			"$survey_submission_id": fmt.Sprintf("demo-%s-%d", id, i), voc.ResponseKey("nps"): strconv.Itoa(score), "$survey_response": strconv.Itoa(score)}
		if why != "" {
			props[voc.ResponseKey("why")] = why
		}
		evs = append(evs, event.Event{UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", 1_000_000+i), Event: voc.SurveySentEvent, DistinctID: d,
			Timestamp: at, ReceivedAt: env.End, Properties: props, Set: map[string]any{"$survey_responded/" + id: true}})
	}
	total := st.Promoters + st.Passives + st.Detractors
	if total > 0 {
		st.NPS = float64(100*(st.Promoters-st.Detractors)) / float64(total)
	}
	if len(evs) == 0 {
		return nil
	}
	return env.Sink(ctx, event.Batch{ProjectID: env.Project.ID, Events: evs})
}
