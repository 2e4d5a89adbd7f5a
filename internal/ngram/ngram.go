// Package ngram turns text into character n-grams for the voice-of-customer
// inbox's similar-text suggestions (package voc) and its full-text search
// index (package sqlmeta), so both work for Korean as for English. It is
// its own package because the metadata store indexes with it and package
// voc depends on the metadata store.
package ngram

import (
	"hash/fnv"
	"slices"
	"strings"
	"unicode"

	"github.com/journey-dev/journey/internal/meta"
)

// Text is compared by character n-grams, not words: Korean attaches
// particles and endings to words (내보내기가, 내보내기는), so whitespace
// words of two near-duplicates rarely match, while their syllable pairs
// do. Runs of Hangul, Han and kana give bigrams (a Korean word is two or
// three syllables); runs of other letters and digits give trigrams of the
// run padded with a space, so a word's start and end weigh too. Case is
// folded; punctuation and spaces only separate runs. (Text is taken as
// composed Hangul, as browsers and help desks send it.)

// dense reports whether r belongs to a script written without spaces
// between morphemes, where a syllable carries about a word's stem.
func dense(r rune) bool {
	return unicode.Is(unicode.Hangul, r) || unicode.Is(unicode.Han, r) ||
		unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r)
}

// runs splits text into lower-cased runs of letters and digits of one
// kind (dense or not), from its first max runes.
func runs(text string, max int) [][]rune {
	var out [][]rune
	var cur []rune
	curDense := false
	n := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	for _, r := range text {
		if n++; n > max {
			break
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		d := dense(r)
		if len(cur) > 0 && d != curDense {
			flush()
		}
		curDense = d
		cur = append(cur, unicode.ToLower(r))
	}
	flush()
	return out
}

// Grams returns the distinct n-grams of text's first
// meta.MaxFeedbackIndexed runes, in the order first seen.
func Grams(text string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(g string) {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	for _, run := range runs(text, meta.MaxFeedbackIndexed) {
		if dense(run[0]) {
			if len(run) == 1 {
				add(string(run))
			}
			for i := 0; i+1 < len(run); i++ {
				add(string(run[i : i+2]))
			}
			continue
		}
		padded := append(append([]rune{' '}, run...), ' ')
		for i := 0; i+2 < len(padded); i++ {
			add(string(padded[i : i+3]))
		}
	}
	return out
}

// Profile is a text's grams as sorted hashes, for fast similarity.
type Profile []uint64

// NewProfile is text's Profile.
func NewProfile(text string) Profile {
	grams := Grams(text)
	p := make(Profile, 0, len(grams))
	for _, g := range grams {
		h := fnv.New64a()
		h.Write([]byte(g))
		p = append(p, h.Sum64())
	}
	slices.Sort(p)
	return slices.Compact(p)
}

// Similarity is the Dice coefficient of two profiles: twice the shared
// grams over the grams of both, 0 (nothing shared, or an empty text) to 1
// (the same grams).
func Similarity(a, b Profile) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	shared := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			shared++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return 2 * float64(shared) / float64(len(a)+len(b))
}

// SearchGrams are the grams of a search query (at most
// meta.MaxFeedbackGrams) and how many of them an item must hold to match:
// three quarters, so one typo or a different ending still matches.
func SearchGrams(q string) (grams []string, min int) {
	grams = Grams(strings.TrimSpace(q))
	if len(grams) > meta.MaxFeedbackGrams {
		grams = grams[:meta.MaxFeedbackGrams]
	}
	return grams, (3*len(grams) + 3) / 4
}
