package journeyidx

import (
	"slices"
	"testing"
)

// FuzzSegment feeds the segment decoder damaged and made-up files: it
// must return an error or entries within the footer's bounds, never panic.
func FuzzSegment(f *testing.F) {
	f.Add(encodeSegment(1, 2, []entry{{0, 0, 10}, {0, 1, 20}, {1, 0, 5}}))
	es := make([]entry, 5000)
	for i := range es {
		es[i] = entry{dense: uint32(i / 3), code: uint32(i % 5), t: int64(i) * 1000}
	}
	f.Add(encodeSegment(3, 4, es))
	f.Add([]byte(segMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, verify := range []bool{true, false} {
			s, err := parseSegment(data, verify)
			if err != nil {
				continue
			}
			got, err := s.entries()
			if err != nil {
				continue
			}
			for i, e := range got {
				if e.code >= s.foot.maxCode || e.dense >= s.foot.maxDense {
					t.Fatalf("entry %d out of the footer's bounds", i)
				}
			}
			if !slices.IsSortedFunc(got, func(a, b entry) int { return compare(a.dense, b.dense) }) {
				t.Fatal("entries not in person order")
			}
		}
	})
}
