package capture

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// lz-string (pieroxy/lz-string 1.x) decompressFromBase64, which older
// posthog-js versions use for `compression=lz64`. No Go port is available to
// us, so this follows the JavaScript reference step by step. JavaScript
// strings are UTF-16, so the decoder works on 16-bit code units and converts
// to UTF-8 at the end.

const lzAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

var lzValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(lzAlphabet); i++ {
		t[lzAlphabet[i]] = int8(i)
	}
	return t
}()

var errLZTooLarge = errors.New("decompressed data too large")

// DecompressLZBase64 is lz-string's decompressFromBase64. Where the
// JavaScript version returns null or "" for corrupt input, this returns an
// error. The output is capped at 20 MB, the largest body capture accepts.
func DecompressLZBase64(s string) (string, error) {
	return decompressLZBase64(s, maxPostHogDecoded)
}

func decompressLZBase64(s string, maxUnits int) (string, error) {
	// A '+' that went through form decoding unescaped arrives as a space.
	s = strings.ReplaceAll(s, " ", "+")
	if s == "" {
		return "", errors.New("empty input")
	}
	for i := 0; i < len(s); i++ {
		if lzValue[s[i]] < 0 {
			return "", fmt.Errorf("invalid character %q at offset %d", s[i], i)
		}
	}
	units, err := lzDecompress(&lzBits{s: s, reset: 32}, maxUnits)
	if err != nil {
		return "", err
	}
	return utf16ToString(units), nil
}

// lzBits reads the bit stream the way lz-string does: 6 bits per character,
// most significant first, values assembled least significant bit first.
// Reading past the end yields zero bits, as in JavaScript.
type lzBits struct {
	s        string
	val, pos int
	index    int
	reset    int
	started  bool
}

func (b *lzBits) next() int {
	v := 0
	if b.index < len(b.s) {
		v = int(lzValue[b.s[b.index]])
	}
	b.index++
	return v
}

func (b *lzBits) read(n int) int {
	if !b.started {
		b.val, b.pos, b.started = b.next(), b.reset, true
	}
	res := 0
	for i := 0; i < n; i++ {
		bit := b.val & b.pos
		b.pos >>= 1
		if b.pos == 0 {
			b.pos = b.reset
			b.val = b.next()
		}
		if bit != 0 {
			res |= 1 << i
		}
	}
	return res
}

// exhausted mirrors JavaScript's `data.index > length` test.
func (b *lzBits) exhausted() bool { return b.index > len(b.s) }

// lzSpan is a dictionary entry. Every entry is a run of the output already
// written (an entry is the previous output plus the first unit of the next
// one, which follows it directly), so the dictionary stores offsets instead
// of copies and stays linear in size.
type lzSpan struct{ off, n int }

func lzDecompress(b *lzBits, maxUnits int) ([]uint16, error) {
	var out []uint16
	first, ok := lzLiteral(b, b.read(2))
	if !ok {
		return out, nil // code 2: end of stream right away (the empty string)
	}
	if first < 0 {
		return nil, errors.New("invalid first code")
	}
	out = append(out, uint16(first))
	dict := []lzSpan{{}, {}, {}, {0, 1}} // codes 0-2 are control codes
	w := lzSpan{0, 1}
	enlargeIn, numBits := 4, 3
	for {
		if b.exhausted() {
			return nil, errors.New("truncated input")
		}
		var entry lzSpan
		switch c := b.read(numBits); c {
		case 0, 1:
			ch, _ := lzLiteral(b, c)
			entry = lzSpan{len(out), 1}
			out = append(out, uint16(ch))
			dict = append(dict, entry)
			enlargeIn--
		case 2:
			return out, nil
		default:
			var err error
			if entry, err = lzEntry(&out, dict, c, w, maxUnits); err != nil {
				return nil, err
			}
		}
		if enlargeIn == 0 {
			enlargeIn, numBits = 1<<numBits, numBits+1
		}
		if len(out) > maxUnits {
			return nil, errLZTooLarge
		}
		dict = append(dict, lzSpan{w.off, w.n + 1})
		enlargeIn--
		w = entry
		if enlargeIn == 0 {
			enlargeIn, numBits = 1<<numBits, numBits+1
		}
	}
}

// lzLiteral reads the literal that code 0 (8 bits) or 1 (16 bits)
// announces; ok is false for code 2 (end), and the value is -1 for code 3,
// which lz-string never writes.
func lzLiteral(b *lzBits, code int) (v int, ok bool) {
	switch code {
	case 0:
		return b.read(8), true
	case 1:
		return b.read(16), true
	case 2:
		return 0, false
	}
	return -1, true
}

// lzEntry appends the dictionary entry for code c to out and returns where
// it now is. Code == dictionary size means w + w[0], the one entry that the
// decoder is allowed to see before the encoder has sent it.
func lzEntry(out *[]uint16, dict []lzSpan, c int, w lzSpan, maxUnits int) (lzSpan, error) {
	var src lzSpan
	switch {
	case c < len(dict):
		src = dict[c]
	case c == len(dict):
		src = lzSpan{w.off, w.n + 1}
	default:
		return lzSpan{}, fmt.Errorf("invalid code %d", c)
	}
	if len(*out)+src.n > maxUnits {
		return lzSpan{}, errLZTooLarge
	}
	off := len(*out)
	if c == len(dict) {
		*out = append(*out, (*out)[w.off:w.off+w.n]...)
		*out = append(*out, (*out)[w.off])
	} else {
		*out = append(*out, (*out)[src.off:src.off+src.n]...)
	}
	return lzSpan{off, src.n}, nil
}

// utf16ToString converts JavaScript code units to UTF-8; lone surrogates
// become U+FFFD, as encoding/json would do with them.
func utf16ToString(u []uint16) string {
	buf := make([]byte, 0, len(u))
	for i := 0; i < len(u); i++ {
		r := rune(u[i])
		if utf16.IsSurrogate(r) && i+1 < len(u) {
			if d := utf16.DecodeRune(r, rune(u[i+1])); d != utf8.RuneError {
				buf = utf8.AppendRune(buf, d)
				i++
				continue
			}
		}
		buf = utf8.AppendRune(buf, r) // a lone surrogate is written as U+FFFD
	}
	return string(buf)
}
