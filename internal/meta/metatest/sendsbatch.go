package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// testSendsCompleteBatch: CompleteSends leaves every send exactly as
// CompleteSend, RetrySend and DeferSend leave its twin; applies only what
// the owner holds (not another's claim, not a done or unknown send);
// crosses its statements' row bound; and refuses a bad outcome, or a
// repeated id, applying nothing.
func testSendsCompleteBatch(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	ca, cb := campaignFor(t, s, a.ID, "reminder"), campaignFor(t, s, b.ID, "b's")
	at := t0.Add(time.Hour + 7*time.Millisecond)
	// Each outcome twice: one by the single calls, one by the batch.
	type twin struct {
		name   string
		single func(id int64) error
		batch  meta.SendOutcome
	}
	twins := []twin{
		{"sent", func(id int64) error { return s.CompleteSend(ctx, id, "w", meta.SendSent, at, "") },
			meta.SendOutcome{State: meta.SendSent, SentAt: at}},
		{"held", func(id int64) error { return s.CompleteSend(ctx, id, "w", meta.SendHeldOut, at, "") },
			meta.SendOutcome{State: meta.SendHeldOut, SentAt: at}},
		{"failed", func(id int64) error {
			return s.CompleteSend(ctx, id, "w", meta.SendFailed, time.Time{}, "HTTP 400 \xff\x00 bad")
		},
			meta.SendOutcome{State: meta.SendFailed, LastError: "HTTP 400 \xff\x00 bad"}},
		{"cancelled", func(id int64) error {
			return s.CompleteSend(ctx, id, "w", meta.SendCancelled, time.Time{}, "goal reached")
		},
			meta.SendOutcome{State: meta.SendCancelled, LastError: "goal reached"}},
		{"retried", func(id int64) error { return s.RetrySend(ctx, id, "w", at.Add(time.Minute), "HTTP 503") },
			meta.SendOutcome{State: meta.SendPending, NextAttemptAt: at.Add(time.Minute), Attempt: true, LastError: "HTTP 503"}},
		{"deferred", func(id int64) error { return s.DeferSend(ctx, id, "w", at.Add(8*time.Hour)) },
			meta.SendOutcome{State: meta.SendPending, NextAttemptAt: at.Add(8 * time.Hour), LastError: "ignored: a deferral keeps the last error"}},
	}
	var batch []meta.Send
	for i, tw := range twins {
		batch = append(batch, newSend("one-"+tw.name, a.ID, ca.ID, int64(i+1), t0), newSend("many-"+tw.name, a.ID, ca.ID, int64(i+1), t0))
	}
	batch = append(batch, newSend("others", a.ID, ca.ID, 90, t0.Add(time.Second)), newSend("b", b.ID, cb.ID, 91, t0))
	try(s.ScheduleSends(ctx, batch)).must(t)
	// A first attempt failed on each, so that a deferral's keeping the
	// last error shows.
	for _, sd := range try(s.ClaimDueSends(ctx, "w", t0, time.Minute, 100)).must(t) {
		if err := s.RetrySend(ctx, sd.ID, "w", t0, "first attempt"); err != nil {
			t.Fatal(err)
		}
	}
	claimed := try(s.ClaimDueSends(ctx, "w", t0, time.Minute, 100)).must(t)
	if len(claimed) != 2*len(twins)+1 {
		t.Fatalf("claimed %d sends, want %d", len(claimed), 2*len(twins)+1)
	}
	// "others" is due a second later: another owner claims it.
	wantKeys(t, "x's claim", try(s.ClaimDueSends(ctx, "x", t0.Add(time.Second), time.Minute, 100)).must(t), "others")
	others := sendByKey(t, s, a.ID, "others")

	var outcomes []meta.SendOutcome
	var want []int64
	for _, tw := range twins {
		if err := tw.single(sendByKey(t, s, a.ID, "one-"+tw.name).ID); err != nil {
			t.Fatalf("%s by the single call: %v", tw.name, err)
		}
		o := tw.batch
		o.ID = sendByKey(t, s, a.ID, "many-"+tw.name).ID
		outcomes, want = append(outcomes, o), append(want, o.ID)
	}
	// Not applied: another's claim, a send already done, an unknown id.
	done := sendByKey(t, s, a.ID, "one-sent")
	outcomes = append(outcomes, meta.SendOutcome{ID: others.ID, State: meta.SendSent, SentAt: at},
		meta.SendOutcome{ID: done.ID, State: meta.SendFailed, LastError: "again"}, meta.SendOutcome{ID: done.ID + 10_000, State: meta.SendCancelled})
	got := try(s.CompleteSends(ctx, "w", outcomes)).must(t)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("CompleteSends applied %v, want %v", got, want)
	}
	for _, tw := range twins {
		one, many := sendByKey(t, s, a.ID, "one-"+tw.name), sendByKey(t, s, a.ID, "many-"+tw.name)
		one.ID, one.Key, one.CreatedAt, one.Payload, one.TriggerUUID = many.ID, many.Key, many.CreatedAt, many.Payload, many.TriggerUUID
		if fmt.Sprintf("%+v", one) != fmt.Sprintf("%+v", many) {
			t.Fatalf("%s:\nby CompleteSends %+v\nby the single call %+v", tw.name, many, one)
		}
	}
	if r := sendByKey(t, s, a.ID, "many-deferred"); r.LastError != "first attempt" || r.Attempts != 1 || r.State != meta.SendPending {
		t.Fatalf("deferred by CompleteSends: %+v", r)
	}
	if r := sendByKey(t, s, a.ID, "others"); r.State != meta.SendSending || r.ClaimedBy != "x" || r.Attempts != others.Attempts {
		t.Fatalf("x's claim after w's CompleteSends: %+v", r)
	}
	if r := sendByKey(t, s, a.ID, "one-sent"); r.State != meta.SendSent || r.LastError != "" {
		t.Fatalf("a done send after w's CompleteSends: %+v", r)
	}
	if r := sendByKey(t, s, b.ID, "b"); r.State != meta.SendSending || r.ClaimedBy != "w" {
		t.Fatalf("project b's send, not in the call: %+v", r)
	}

	// More than one statement's rows, all applied in one call.
	var many []meta.Send
	for i := range 250 {
		many = append(many, newSend(fmt.Sprintf("bulk-%03d", i), a.ID, ca.ID, int64(100+i), t0.Add(time.Hour)))
	}
	try(s.ScheduleSends(ctx, many)).must(t)
	var bulk []meta.Send // the lapsed claims of "others" and "b" come too
	for _, sd := range try(s.ClaimDueSends(ctx, "w", t0.Add(time.Hour), time.Minute, 300)).must(t) {
		if strings.HasPrefix(sd.Key, "bulk-") {
			bulk = append(bulk, sd)
		}
	}
	outcomes = outcomes[:0]
	for i, sd := range bulk {
		o := meta.SendOutcome{ID: sd.ID, State: meta.SendSent, SentAt: at.Add(time.Duration(i) * time.Millisecond)}
		if i%3 == 0 {
			o = meta.SendOutcome{ID: sd.ID, State: meta.SendPending, NextAttemptAt: t0.Add(48 * time.Hour)}
		}
		outcomes = append(outcomes, o)
	}
	if len(outcomes) != 250 {
		t.Fatalf("claimed %d bulk sends, want 250", len(outcomes))
	}
	if got := try(s.CompleteSends(ctx, "w", outcomes)).must(t); len(got) != 250 {
		t.Fatalf("CompleteSends of 250 applied %d", len(got))
	}
	for i, sd := range bulk {
		r := sendByKey(t, s, a.ID, sd.Key)
		if o := outcomes[i]; r.State != o.State || !r.SentAt.Equal(o.SentAt) || (o.State == meta.SendPending && !r.NextAttemptAt.Equal(o.NextAttemptAt)) {
			t.Fatalf("bulk send %s = %+v, want %+v", sd.Key, r, o)
		}
	}
	for _, sd := range try(s.ClaimDueSends(ctx, "w", t0.Add(47*time.Hour), time.Minute, 300)).must(t) {
		if strings.HasPrefix(sd.Key, "bulk-") {
			t.Fatalf("%s claimed at 47 h: sent, or deferred to 48 h", sd.Key)
		}
	}

	// Refusals apply nothing.
	held := try(s.ClaimDueSends(ctx, "w", t0.Add(48*time.Hour), time.Minute, 1)).must(t)
	if len(held) != 1 {
		t.Fatalf("claim at 48 h: %v", claimKeys(held))
	}
	ok := meta.SendOutcome{ID: held[0].ID, State: meta.SendSent, SentAt: at}
	for what, call := range map[string][]meta.SendOutcome{
		"an id twice":             {ok, ok},
		"sent without a time":     {ok, {ID: 1, State: meta.SendSent}},
		"held out without a time": {ok, {ID: 1, State: meta.SendHeldOut}},
		"pending without a time":  {ok, {ID: 1, State: meta.SendPending}},
		"an unknown state":        {ok, {ID: 1, State: "delivered", SentAt: at}},
		"too many":                make([]meta.SendOutcome, meta.MaxSendBatch+1),
	} {
		if _, err := s.CompleteSends(ctx, "w", call); !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("%s: want ErrInvalid, got %v", what, err)
		}
	}
	for _, owner := range []string{"", "\xff"} {
		if _, err := s.CompleteSends(ctx, owner, []meta.SendOutcome{ok}); !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("owner %q: want ErrInvalid, got %v", owner, err)
		}
	}
	wantState(t, s, held[0].ProjectID, held[0].Key, meta.SendSending)
	if got := try(s.CompleteSends(ctx, "w", nil)).must(t); got == nil || len(got) != 0 {
		t.Fatalf("CompleteSends of nothing = %#v, want an empty, non-nil list", got)
	}
	if got := try(s.CompleteSends(ctx, "w", []meta.SendOutcome{ok})).must(t); len(got) != 1 || got[0] != ok.ID {
		t.Fatalf("CompleteSends after the refusals = %v", got)
	}
	wantState(t, s, held[0].ProjectID, held[0].Key, meta.SendSent)
}
