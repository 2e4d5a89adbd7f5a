package metatest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/ngram"
)

func runFeedback(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("FeedbackItems", func(t *testing.T) { testFeedbackItems(t, open(t)) })
	t.Run("FeedbackSearch", func(t *testing.T) { testFeedbackSearch(t, open(t)) })
	t.Run("FeedbackMerge", func(t *testing.T) { testFeedbackMerge(t, open(t)) })
	t.Run("FeedbackThemes", func(t *testing.T) { testFeedbackThemes(t, open(t)) })
}

func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var fe *meta.FieldError
	if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("%s: want an invalid %q, got %v", what, field, err)
	}
}

func ids(items []meta.FeedbackItem) []int64 {
	out := []int64{}
	for _, f := range items {
		out = append(out, f.ID)
	}
	return out
}

// testFeedbackItems: defaults, every field read back, refusals naming
// their field, the external id of a retried delivery, updates with the
// resolved time, comments and the first response, filters, deletes, and
// tenant isolation.
func testFeedbackItems(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	if list := try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{})).must(t); list == nil || len(list) != 0 {
		t.Fatalf("feedback of a new project = %#v", list)
	}
	f := try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "Invoice export fails", Source: meta.SourceAPI,
		DistinctID: "u1", PersonID: 7, Tags: []string{"billing", "export"}, Accounts: []string{"acme"},
		Attachments: []string{"https://x.example/a.png"}})).must(t)
	if f.ID == 0 || f.Status != meta.FeedbackNew || f.Priority != meta.PriorityNormal || f.Votes != 1 || f.CreatedAt.IsZero() ||
		!f.FirstResponseAt.IsZero() || !f.ResolvedAt.IsZero() || f.ThemeID != 0 {
		t.Fatalf("CreateFeedback = %+v", f)
	}
	got := try(s.Feedback(ctx, a.ID, f.ID)).must(t)
	if got.Text != f.Text || got.DistinctID != "u1" || got.PersonID != 7 || !slices.Equal(got.Tags, []string{"billing", "export"}) ||
		!slices.Equal(got.Accounts, []string{"acme"}) || !slices.Equal(got.Attachments, f.Attachments) || !got.CreatedAt.Equal(f.CreatedAt) ||
		got.Source != meta.SourceAPI {
		t.Fatalf("Feedback = %+v, want %+v", got, f)
	}
	wantJSON(t, "an item without tags", try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: b.ID, Text: "x", Source: "widget", DistinctID: "b1"})).must(t).Tags, `[]`)

	for _, c := range []struct {
		field string
		f     meta.FeedbackItem
	}{
		{"text", meta.FeedbackItem{Text: "  "}},
		{"text", meta.FeedbackItem{Text: "bad \xff utf-8"}},
		{"text", meta.FeedbackItem{Text: strings.Repeat("x", meta.MaxFeedbackText+1)}},
		{"source", meta.FeedbackItem{Text: "x", Source: "fax"}},
		{"status", meta.FeedbackItem{Text: "x", Status: "open"}},
		{"priority", meta.FeedbackItem{Text: "x", Priority: "p0"}},
		{"tags", meta.FeedbackItem{Text: "x", Tags: make([]string, meta.MaxFeedbackTags+1)}},
		{"tags[0]", meta.FeedbackItem{Text: "x", Tags: []string{""}}},
		{"theme_id", meta.FeedbackItem{Text: "x", ThemeID: 999}},
	} {
		c.f.ProjectID = a.ID
		if c.f.Source == "" {
			c.f.Source = meta.SourceAPI
		}
		_, err := s.CreateFeedback(ctx, c.f)
		wantField(t, "CreateFeedback refusing "+c.field, err, c.field)
	}

	// A help desk retrying a delivery stores nothing new.
	ext := meta.FeedbackItem{ProjectID: a.ID, Text: "From Zendesk", Source: meta.SourceWebhook, DistinctID: "u2", ExternalID: "zd-1"}
	first := try(s.CreateFeedback(ctx, ext)).must(t)
	again, err := s.CreateFeedback(ctx, ext)
	if !errors.Is(err, meta.ErrExists) || again.ID != first.ID {
		t.Fatalf("retried delivery = %+v, %v; want item %d and ErrExists", again, err, first.ID)
	}
	ext.Source = meta.SourceEmail // another source's ticket 1 is another item
	if other := try(s.CreateFeedback(ctx, ext)).must(t); other.ID == first.ID {
		t.Fatal("an external id of another source read as the same item")
	}
	batch := try(s.ImportFeedback(ctx, []meta.FeedbackItem{
		{ProjectID: a.ID, Text: "csv one", Source: meta.SourceCSV, DistinctID: "u3", Status: meta.FeedbackDone, CreatedAt: time.Now().Add(-48 * time.Hour)},
		{ProjectID: a.ID, Text: "From Zendesk", Source: meta.SourceWebhook, DistinctID: "u2", ExternalID: "zd-1"},
	})).must(t)
	if len(batch) != 2 || batch[1].ID != first.ID || batch[0].ResolvedAt.IsZero() || time.Since(batch[0].CreatedAt) < 47*time.Hour {
		t.Fatalf("ImportFeedback = %+v", batch)
	}
	// An import with its history keeps its first response and resolution
	// (never before its creation).
	made := time.Now().Add(-72 * time.Hour).Truncate(time.Millisecond)
	hist := try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "old ticket", Source: meta.SourceCSV, DistinctID: "u4",
		Status: meta.FeedbackDone, CreatedAt: made, FirstResponseAt: made.Add(2 * time.Hour), ResolvedAt: made.Add(26 * time.Hour)})).must(t)
	early := try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "odd ticket", Source: meta.SourceCSV, DistinctID: "u4",
		CreatedAt: made, FirstResponseAt: made.Add(-time.Hour), ResolvedAt: made.Add(time.Hour)})).must(t)
	for _, got := range []meta.FeedbackItem{hist, try(s.Feedback(ctx, a.ID, hist.ID)).must(t)} {
		if !got.FirstResponseAt.Equal(made.Add(2*time.Hour)) || !got.ResolvedAt.Equal(made.Add(26*time.Hour)) {
			t.Fatalf("item with history: first response %v, resolved %v", got.FirstResponseAt, got.ResolvedAt)
		}
	}
	if got := try(s.Feedback(ctx, a.ID, early.ID)).must(t); !got.FirstResponseAt.Equal(made) || !got.ResolvedAt.IsZero() {
		t.Fatalf("open item with an early first response: first response %v, resolved %v", got.FirstResponseAt, got.ResolvedAt)
	}
	for _, id := range []int64{hist.ID, early.ID} {
		if err := s.DeleteFeedback(ctx, a.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ImportFeedback(ctx, make([]meta.FeedbackItem, meta.MaxFeedbackBatch+1)); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("a batch past the bound: %v", err)
	}

	// Status changes set and clear the resolved time; the source and the
	// distinct id stay.
	up := f
	up.Status, up.Priority, up.Tags, up.AssigneeID, up.Source, up.DistinctID = meta.FeedbackDone, meta.PriorityUrgent, []string{"export"}, 42, "csv", "stolen"
	up = try(s.UpdateFeedback(ctx, up)).must(t)
	if up.ResolvedAt.IsZero() || up.Source != meta.SourceAPI || up.DistinctID != "u1" || up.AssigneeID != 42 || up.Priority != meta.PriorityUrgent {
		t.Fatalf("UpdateFeedback to done = %+v", up)
	}
	if got := try(s.Feedback(ctx, a.ID, f.ID)).must(t); !got.ResolvedAt.Equal(up.ResolvedAt) || !slices.Equal(got.Tags, []string{"export"}) {
		t.Fatalf("stored after update = %+v", got)
	}
	up.Status = meta.FeedbackPlanned
	if up = try(s.UpdateFeedback(ctx, up)).must(t); !up.ResolvedAt.IsZero() {
		t.Fatalf("reopened item keeps resolved_at %v", up.ResolvedAt)
	}
	_, err = s.UpdateFeedback(ctx, meta.FeedbackItem{ProjectID: b.ID, ID: f.ID, Text: "stolen"})
	wantNotFound(t, "UpdateFeedback of another project", err)

	// Notes are internal; the first reply is the first response.
	try(s.AddFeedbackComment(ctx, meta.FeedbackComment{ProjectID: a.ID, ItemID: f.ID, Kind: meta.CommentNote, UserID: 3, Text: "seen in logs"})).must(t)
	if got := try(s.Feedback(ctx, a.ID, f.ID)).must(t); !got.FirstResponseAt.IsZero() {
		t.Fatal("a note counted as the first response")
	}
	reply := try(s.AddFeedbackComment(ctx, meta.FeedbackComment{ProjectID: a.ID, ItemID: f.ID, Kind: meta.CommentReply, Text: "I'll get back to you tomorrow"})).must(t)
	try(s.AddFeedbackComment(ctx, meta.FeedbackComment{ProjectID: a.ID, ItemID: f.ID, Kind: meta.CommentReply, Text: "fixed"})).must(t)
	if got := try(s.Feedback(ctx, a.ID, f.ID)).must(t); !got.FirstResponseAt.Equal(reply.CreatedAt) {
		t.Fatalf("first_response_at = %v, want the first reply's %v", got.FirstResponseAt, reply.CreatedAt)
	}
	comments := try(s.FeedbackComments(ctx, a.ID, f.ID)).must(t)
	if len(comments) != 3 || comments[0].Kind != meta.CommentNote || comments[0].UserID != 3 || comments[1].Text != reply.Text {
		t.Fatalf("FeedbackComments = %+v", comments)
	}
	_, err = s.AddFeedbackComment(ctx, meta.FeedbackComment{ProjectID: b.ID, ItemID: f.ID, Kind: meta.CommentNote, Text: "x"})
	wantNotFound(t, "a comment on another project's item", err)
	_, err = s.AddFeedbackComment(ctx, meta.FeedbackComment{ProjectID: a.ID, ItemID: f.ID, Kind: "email", Text: "x"})
	wantField(t, "a comment of an unknown kind", err, "kind")

	// Filters.
	if got := ids(try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{Tag: "export"})).must(t)); !slices.Equal(got, []int64{f.ID}) {
		t.Fatalf("tag filter = %v", got)
	}
	if got := ids(try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{Status: meta.FeedbackDone})).must(t)); !slices.Equal(got, []int64{batch[0].ID}) {
		t.Fatalf("status filter = %v", got)
	}
	if got := ids(try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{DistinctID: "u2"})).must(t)); len(got) != 2 {
		t.Fatalf("distinct id filter = %v", got)
	}
	all := ids(try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{})).must(t))
	page := ids(try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{BeforeID: all[1], Limit: 2})).must(t))
	if len(all) != 4 || !slices.IsSortedFunc(all, func(x, y int64) int { return int(y - x) }) || !slices.Equal(page, all[2:4]) {
		t.Fatalf("list %v, page after %d = %v", all, all[1], page)
	}
	for _, bad := range []string{"\x00", "\xff", "' OR 1=1 --"} {
		if got := try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{Tag: bad, DistinctID: bad})).must(t); len(got) != 0 {
			t.Fatalf("hostile filter %q found %v", bad, ids(got))
		}
	}

	// Impact rows and persons found later (a merge).
	impact := try(s.FeedbackImpact(ctx, a.ID, 10)).must(t)
	if len(impact) != 4 || impact[len(impact)-1].ID != f.ID || !slices.Equal(impact[len(impact)-1].Accounts, []string{"acme"}) {
		t.Fatalf("FeedbackImpact = %+v", impact)
	}
	if n := try(s.SetFeedbackPersons(ctx, a.ID, []meta.FeedbackPerson{{DistinctID: "u2", PersonID: 9}, {DistinctID: "u1", PersonID: 7}})).must(t); n != 2 {
		t.Fatalf("SetFeedbackPersons changed %d items, want u2's two", n)
	}
	if got := try(s.Feedback(ctx, a.ID, first.ID)).must(t); got.PersonID != 9 {
		t.Fatalf("person of u2 = %d", got.PersonID)
	}

	wantNotFound(t, "DeleteFeedback of another project", s.DeleteFeedback(ctx, b.ID, f.ID))
	if err := s.DeleteFeedback(ctx, a.ID, f.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Feedback(ctx, a.ID, f.ID)
	wantNotFound(t, "a deleted item", err)
	if got := try(s.FeedbackComments(ctx, a.ID, f.ID)).must(t); len(got) != 0 {
		t.Fatalf("comments of a deleted item: %+v", got)
	}
	if got := try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{Tag: "export"})).must(t); len(got) != 0 {
		t.Fatalf("a deleted item's tag still matches: %v", ids(got))
	}
}

func search(t *testing.T, s meta.Store, projectID int64, q string) []int64 {
	t.Helper()
	grams, min := ngram.SearchGrams(q)
	return ids(try(s.ListFeedback(context.Background(), projectID, meta.FeedbackFilter{Grams: grams, MinGrams: min})).must(t))
}

// testFeedbackSearch: the n-gram index finds Korean and English items by
// part of their words, best match first, follows text edits, and never
// another project's items.
func testFeedbackSearch(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	add := func(p int64, text string) int64 {
		return try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: p, Text: text, Source: meta.SourceAPI, DistinctID: "d"})).must(t).ID
	}
	invoice := add(a.ID, "Invoice export fails with a timeout")
	export := add(a.ID, "Exporting invoices to CSV is slow")
	korean := add(a.ID, "송장 내보내기가 계속 실패해요")
	login := add(a.ID, "로그인이 안 돼요")
	add(b.ID, "Invoice export fails too")
	if got := search(t, s, a.ID, "invoice export"); len(got) != 2 || got[0] != invoice {
		t.Fatalf(`search "invoice export" = %v, want %d first then %d`, got, invoice, export)
	}
	if got := search(t, s, a.ID, "내보내기 실패"); !slices.Equal(got, []int64{korean}) {
		t.Fatalf(`search "내보내기 실패" = %v, want %d`, got, korean)
	}
	if got := search(t, s, a.ID, "로그인"); !slices.Equal(got, []int64{login}) {
		t.Fatalf(`search "로그인" = %v, want %d`, got, login)
	}
	if got := search(t, s, a.ID, "refund"); len(got) != 0 {
		t.Fatalf(`search "refund" = %v`, got)
	}
	it := try(s.Feedback(ctx, a.ID, login)).must(t)
	it.Text = "Refund never arrived"
	try(s.UpdateFeedback(ctx, it)).must(t)
	if got := search(t, s, a.ID, "refund"); !slices.Equal(got, []int64{login}) {
		t.Fatalf(`after the edit, search "refund" = %v`, got)
	}
	if got := search(t, s, a.ID, "로그인"); len(got) != 0 {
		t.Fatalf(`after the edit, the old text still matches: %v`, got)
	}
}

// testFeedbackMerge: a duplicate's votes and tags go to the item it merges
// into; it keeps its person and follows the item's theme; merged items
// leave the list; chains and self-merges are refused.
func testFeedbackMerge(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	th := try(s.CreateTheme(ctx, meta.Theme{ProjectID: a.ID, Name: "Export"})).must(t)
	other := try(s.CreateTheme(ctx, meta.Theme{ProjectID: a.ID, Name: "Other"})).must(t)
	into := try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "export fails", Source: "api", DistinctID: "u1", ThemeID: th.ID, Tags: []string{"a"}})).must(t)
	dup := try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "export broken", Source: "widget", DistinctID: "u2", PersonID: 5, Votes: 3, Tags: []string{"b"}})).must(t)
	merged := try(s.MergeFeedback(ctx, a.ID, dup.ID, into.ID)).must(t)
	if merged.Votes != 4 || !slices.Equal(merged.Tags, []string{"a", "b"}) {
		t.Fatalf("merged = %+v", merged)
	}
	d := try(s.Feedback(ctx, a.ID, dup.ID)).must(t)
	if d.MergedInto != into.ID || d.ThemeID != th.ID || d.Votes != 0 || d.PersonID != 5 || d.DistinctID != "u2" {
		t.Fatalf("duplicate after merge = %+v", d)
	}
	if got := ids(try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{})).must(t)); !slices.Equal(got, []int64{into.ID}) {
		t.Fatalf("list leaves merged items out: %v", got)
	}
	if got := try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{IncludeMerged: true, ThemeID: th.ID})).must(t); len(got) != 2 {
		t.Fatalf("theme's items with merged = %v", ids(got))
	}
	// The duplicate follows the item's theme.
	into = try(s.Feedback(ctx, a.ID, into.ID)).must(t)
	into.ThemeID = other.ID
	try(s.UpdateFeedback(ctx, into)).must(t)
	if d := try(s.Feedback(ctx, a.ID, dup.ID)).must(t); d.ThemeID != other.ID {
		t.Fatalf("duplicate's theme = %d, want %d", d.ThemeID, other.ID)
	}
	third := try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "x", Source: "api", DistinctID: "u3"})).must(t)
	_, err := s.MergeFeedback(ctx, a.ID, third.ID, dup.ID)
	wantField(t, "merge into a merged item", err, "into")
	_, err = s.MergeFeedback(ctx, a.ID, third.ID, third.ID)
	wantField(t, "merge into itself", err, "into")
	_, err = s.MergeFeedback(ctx, b.ID, third.ID, into.ID)
	wantNotFound(t, "merge of another project's item", err)
	// Deleting the item unmerges its duplicates.
	if err := s.DeleteFeedback(ctx, a.ID, into.ID); err != nil {
		t.Fatal(err)
	}
	if d := try(s.Feedback(ctx, a.ID, dup.ID)).must(t); d.MergedInto != 0 {
		t.Fatalf("duplicate of a deleted item = %+v", d)
	}
}

// testFeedbackThemes: defaults, updates, merges (items move, merged themes
// refuse items and merges into them), deletes (items let go).
func testFeedbackThemes(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	x := try(s.CreateTheme(ctx, meta.Theme{ProjectID: a.ID, Name: "Invoice export"})).must(t)
	if x.RevenueProperty != "mrr" || x.Status != meta.FeedbackNew || x.ID == 0 {
		t.Fatalf("CreateTheme = %+v", x)
	}
	y := try(s.CreateTheme(ctx, meta.Theme{ProjectID: a.ID, Name: "송장", RevenueProperty: "arr", Status: meta.FeedbackPlanned})).must(t)
	_, err := s.CreateTheme(ctx, meta.Theme{ProjectID: a.ID, Name: ""})
	wantField(t, "a theme without a name", err, "name")
	_, err = s.CreateTheme(ctx, meta.Theme{ProjectID: a.ID, Name: "x", Status: "open"})
	wantField(t, "a theme of an unknown status", err, "status")
	x.Status, x.Name = meta.FeedbackInProgress, "Invoice export fails"
	if up := try(s.UpdateTheme(ctx, x)).must(t); up.Name != x.Name || up.Status != meta.FeedbackInProgress || up.RevenueProperty != "mrr" {
		t.Fatalf("UpdateTheme = %+v", up)
	}
	_, err = s.UpdateTheme(ctx, meta.Theme{ProjectID: b.ID, ID: x.ID, Name: "stolen"})
	wantNotFound(t, "UpdateTheme of another project", err)
	_, err = s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: b.ID, Text: "x", Source: "api", ThemeID: x.ID})
	wantField(t, "an item on another project's theme", err, "theme_id")

	i1 := try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "one", Source: "api", ThemeID: y.ID})).must(t)
	i2 := try(s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "two", Source: "api", ThemeID: x.ID})).must(t)
	m := try(s.MergeThemes(ctx, a.ID, y.ID, x.ID)).must(t)
	if m.ID != y.ID || m.MergedInto != x.ID {
		t.Fatalf("MergeThemes = %+v", m)
	}
	if got := ids(try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{ThemeID: x.ID})).must(t)); !slices.Equal(got, []int64{i2.ID, i1.ID}) {
		t.Fatalf("items of the merged theme = %v", got)
	}
	_, err = s.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: a.ID, Text: "x", Source: "api", ThemeID: y.ID})
	wantField(t, "an item on a merged theme", err, "theme_id")
	z := try(s.CreateTheme(ctx, meta.Theme{ProjectID: a.ID, Name: "z"})).must(t)
	_, err = s.MergeThemes(ctx, a.ID, z.ID, y.ID)
	wantField(t, "merge into a merged theme", err, "into")
	_, err = s.MergeThemes(ctx, b.ID, z.ID, x.ID)
	wantNotFound(t, "merge of another project's theme", err)
	if list := try(s.Themes(ctx, a.ID)).must(t); len(list) != 3 || list[1].MergedInto != x.ID {
		t.Fatalf("Themes = %+v", list)
	}
	if list := try(s.Themes(ctx, b.ID)).must(t); len(list) != 0 {
		t.Fatalf("Themes of b = %+v", list)
	}
	if err := s.DeleteTheme(ctx, a.ID, x.ID); err != nil {
		t.Fatal(err)
	}
	if got := ids(try(s.ListFeedback(ctx, a.ID, meta.FeedbackFilter{ThemeID: -1})).must(t)); !slices.Equal(got, []int64{i2.ID, i1.ID}) {
		t.Fatalf("items without a theme after the delete = %v", got)
	}
	if th := try(s.Theme(ctx, a.ID, y.ID)).must(t); th.MergedInto != 0 {
		t.Fatalf("a theme merged into a deleted one = %+v", th)
	}
	wantNotFound(t, "DeleteTheme twice", s.DeleteTheme(ctx, a.ID, x.ID))
}
