package voc

import (
	"slices"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/ngram"
)

// Near-duplicates in Korean and in English score above the suggestion
// threshold; unrelated texts, and a Korean text against an English one,
// below it.
func TestSimilarity(t *testing.T) {
	near := [][2]string{
		{"Invoice export fails", "invoice exporting failed"},
		{"The CSV export of invoices is broken", "CSV export of invoices broken!"},
		{"송장 내보내기가 실패해요", "송장 내보내기 실패합니다"},
		{"로그인이 자꾸 안 돼요", "로그인이 안 돼요 자꾸"},
	}
	far := [][2]string{
		{"Invoice export fails", "Please add a dark mode"},
		{"송장 내보내기가 실패해요", "다크 모드를 추가해 주세요"},
		{"송장 내보내기가 실패해요", "Invoice export fails"},
	}
	for _, p := range near {
		if s := ngram.Similarity(ngram.NewProfile(p[0]), ngram.NewProfile(p[1])); s < SuggestThreshold {
			t.Errorf("similarity(%q, %q) = %.2f, want ≥ %.2f", p[0], p[1], s, SuggestThreshold)
		}
	}
	for _, p := range far {
		if s := ngram.Similarity(ngram.NewProfile(p[0]), ngram.NewProfile(p[1])); s >= 0.2 {
			t.Errorf("similarity(%q, %q) = %.2f, want < 0.2", p[0], p[1], s)
		}
	}
	if s := ngram.Similarity(ngram.NewProfile("same"), ngram.NewProfile("SAME")); s != 1 {
		t.Errorf("case-folded duplicates = %v", s)
	}
	if s := ngram.Similarity(ngram.NewProfile(""), ngram.NewProfile("x")); s != 0 {
		t.Errorf("empty text = %v", s)
	}
}

func TestSuggestThemes(t *testing.T) {
	themes := []ThemeSample{
		{Theme: meta.Theme{ID: 1, Name: "Invoice export"}, Texts: []string{"Exporting invoices to CSV fails"}},
		{Theme: meta.Theme{ID: 2, Name: "송장 내보내기"}, Texts: []string{"송장 내보내기가 실패해요"}},
		{Theme: meta.Theme{ID: 3, Name: "Dark mode"}},
		{Theme: meta.Theme{ID: 4, Name: "Invoice export (old)", MergedInto: 1}, Texts: []string{"invoice export fails"}},
	}
	for text, want := range map[string][]int64{
		"invoice export fails every time": {1},
		"송장 내보내기 실패합니다":                   {2},
		"Could we get a dark mode?":       {3},
		"The app crashes on start":        {},
	} {
		var got []int64
		for _, s := range SuggestThemes(text, themes) {
			got = append(got, s.ThemeID)
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("SuggestThemes(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestClusterItems(t *testing.T) {
	items := []meta.FeedbackItem{
		{ID: 6, Text: "송장 내보내기 실패합니다"},
		{ID: 5, Text: "Dark mode please"},
		{ID: 4, Text: "invoice exporting failed"},
		{ID: 3, Text: "송장 내보내기가 실패해요"},
		{ID: 2, Text: "Invoice export fails"},
		{ID: 1, Text: "Invoice export fails!!"},
	}
	got := ClusterItems(items)
	if len(got) != 2 || !slices.Equal(got[0].Items, []int64{4, 2, 1}) || !slices.Equal(got[1].Items, []int64{6, 3}) ||
		got[0].Name != "invoice exporting failed" {
		t.Fatalf("ClusterItems = %+v", got)
	}
}
