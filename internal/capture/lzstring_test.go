package capture

import (
	"strings"
	"testing"
	"unicode/utf16"
)

// lzCompressToBase64 is lz-string's compressToBase64, ported independently
// of the decoder (it follows the encoder half of the JavaScript reference)
// so that round trips test the decoder against a second implementation.
// JavaScript keys its dictionary by strings; a string w+c is keyed here by
// (code of w, c), which names the same entries without copying strings.
func lzCompressToBase64(s string) string {
	e := &lzEncoder{chars: map[uint16]int{}, pairs: map[[2]int]int{}, toCreate: map[uint16]bool{}, dictSize: 3, numBits: 2, enlargeIn: 2}
	var w lzW
	for _, c := range utf16.Encode([]rune(s)) {
		if _, ok := e.chars[c]; !ok {
			e.chars[c] = e.dictSize
			e.dictSize++
			e.toCreate[c] = true
		}
		if w.n == 0 {
			w = lzW{code: e.chars[c], first: c, n: 1}
			continue
		}
		if code, ok := e.pairs[[2]int{w.code, int(c)}]; ok {
			w = lzW{code: code, first: w.first, n: w.n + 1}
			continue
		}
		e.emitW(w)
		e.pairs[[2]int{w.code, int(c)}] = e.dictSize
		e.dictSize++
		w = lzW{code: e.chars[c], first: c, n: 1}
	}
	if w.n > 0 {
		e.emitW(w)
	}
	e.write(2, e.numBits)
	// Flush the last character.
	for {
		e.val <<= 1
		if e.pos == 5 {
			e.out.WriteByte(lzAlphabet[e.val])
			break
		}
		e.pos++
	}
	res := e.out.String()
	switch len(res) % 4 {
	case 1:
		res += "==="
	case 2:
		res += "=="
	case 3:
		res += "="
	}
	return res
}

// lzBomb writes a small lz64 stream that decompresses to at least units
// "x"s: a literal, then codes that each mean "the previous string plus one
// more x", so the output grows quadratically with the input.
func lzBomb(units int) string {
	e := &lzEncoder{toCreate: map[uint16]bool{'x': true}, numBits: 2, enlargeIn: 2}
	e.emitW(lzW{first: 'x', n: 1})
	for code, n, total := 4, 2, 1; total < units; code, n = code+1, n+1 {
		e.emitW(lzW{code: code, n: n})
		total += n
	}
	e.write(2, e.numBits)
	for e.pos != 0 {
		e.write(0, 1)
	}
	return e.out.String()
}

// lzW is the encoder's current string: its dictionary code, first unit and
// length.
type lzW struct {
	code  int
	first uint16
	n     int
}

type lzEncoder struct {
	chars             map[uint16]int
	pairs             map[[2]int]int
	toCreate          map[uint16]bool
	dictSize, numBits int
	enlargeIn         int
	val, pos          int
	out               strings.Builder
}

// write emits value in n bits, least significant first.
func (e *lzEncoder) write(value, n int) {
	for i := 0; i < n; i++ {
		e.val = e.val<<1 | value&1
		if e.pos == 5 {
			e.pos = 0
			e.out.WriteByte(lzAlphabet[e.val])
			e.val = 0
		} else {
			e.pos++
		}
		value >>= 1
	}
}

func (e *lzEncoder) countDown() {
	e.enlargeIn--
	if e.enlargeIn == 0 {
		e.enlargeIn = 1 << e.numBits
		e.numBits++
	}
}

func (e *lzEncoder) emitW(w lzW) {
	if w.n == 1 && e.toCreate[w.first] {
		if w.first < 256 {
			e.write(0, e.numBits)
			e.write(int(w.first), 8)
		} else {
			e.write(1, e.numBits)
			e.write(int(w.first), 16)
		}
		e.countDown()
		delete(e.toCreate, w.first)
	} else {
		e.write(w.code, e.numBits)
	}
	e.countDown()
}

func TestDecompressLZBase64(t *testing.T) {
	f := func(name, in, want string) {
		t.Helper()
		got, err := DecompressLZBase64(in)
		if err != nil {
			t.Errorf("%s: DecompressLZBase64 error: %v", name, err)
			return
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	// Fixtures produced by the real library:
	//   npm install lz-string@1.5.0 && node -e "console.log(require('lz-string').compressToBase64(JSON.stringify(...)))"
	f("lz-string batch",
		"N4IghgDglg+g1gUwJ4gFwgC4Hs4zCAGhACMwMBjACzQG1QEA3BAOwzRAA9CQATKAZwxRm5DDCg92AVwCM3CACcsEBAqEJ+aUPlQyAvnoC6eoA===",
		`{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u1","properties":{"a":1}}]}`)
	f("lz-string unicode",
		"NobwRApgbhB2AuYBcYAkAHAhgc2gSwgHcwAaMdAJwHt0IL4CBnZcAEz0YdgGN4B9PK2RhWARlJh4VANZxhU6X0wSArhQA2wgBbx46RkgD0hrQEv16qgDoIAD0wBbdOoiGAPwH5ANQSBeDcAAe2AAvoEAukA=",
		`[{"event":"$pageview","properties":{"distinct_id":"d1","token":"tok_a","url":"https://héllo.example/ü?€😀"}}]`)
	f("lz-string empty", "Q===", "")
	f("lz-string one char", "IZA=", "a")
	f("lz-string repeats", "IY18ZXSQ", strings.Repeat("a", 47))
	f("space for plus", strings.ReplaceAll("N4IghgDglg+g1gUwJ4gFwgC4Hs4zCAGhACMwMBjACzQG1QEA3BAOwzRAA9CQATKAZwxRm5DDCg92AVwCM3CACcsEBAqEJ+aUPlQyAvnoC6eoA===", "+", " "),
		`{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u1","properties":{"a":1}}]}`)

	for _, s := range []string{"", "a", "ab", "abababababab", "{\"event\":\"x\"}", "日本語のテキスト", "😀😀😀 emoji", strings.Repeat("0123456789", 500)} {
		f("round trip "+s[:min(len(s), 12)], lzCompressToBase64(s), s)
	}
}

func TestDecompressLZBase64Errors(t *testing.T) {
	f := func(name, in string) {
		t.Helper()
		if got, err := DecompressLZBase64(in); err == nil {
			t.Errorf("%s: want an error, got %q", name, got)
		}
	}
	f("empty", "")
	f("bad character", "N4Ig!hgDglg")
	f("truncated", "N4IghgDglg")
	f("bad back-reference", "////////")
}

func TestDecompressLZBase64Limit(t *testing.T) {
	bomb := lzBomb(maxPostHogDecoded + 1)
	if len(bomb) > 20000 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	if _, err := DecompressLZBase64(bomb); err != errLZTooLarge {
		t.Fatalf("bomb: got %v, want errLZTooLarge", err)
	}
	if got, err := DecompressLZBase64(lzBomb(1000)); err != nil || strings.Trim(got, "x") != "" || len(got) < 1000 {
		t.Fatalf("small bomb: got %d chars, %v", len(got), err)
	}

	in := lzCompressToBase64(strings.Repeat("x", 5000))
	if _, err := decompressLZBase64(in, 1000); err != errLZTooLarge {
		t.Fatalf("got %v, want errLZTooLarge", err)
	}
	if got, err := decompressLZBase64(in, 5000); err != nil || len(got) != 5000 {
		t.Fatalf("got %d chars, %v; want 5000, nil", len(got), err)
	}
}
