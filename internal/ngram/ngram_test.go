package ngram

import (
	"slices"
	"testing"
)

func TestGrams(t *testing.T) {
	for text, want := range map[string][]string{
		"Export!":   {" ex", "exp", "xpo", "por", "ort", "rt "},
		"송장 내보내기":   {"송장", "내보", "보내", "내기"},
		"API키":      {" ap", "api", "pi ", "키"},
		"  ...  ":   nil,
		"A b":       {" a ", " b "},
		"ÉTÉ été":   {" ét", "été", "té "},
		"로그인\x00실패": {"로그", "그인", "실패"},
	} {
		if got := Grams(text); !slices.Equal(got, want) {
			t.Errorf("Grams(%q) = %q, want %q", text, got, want)
		}
	}
}
