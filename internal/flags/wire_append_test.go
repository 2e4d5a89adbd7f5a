package flags

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// AppendDetails writes exactly what json.Marshal(Details(rs)) writes, for
// results of every kind (variants, payloads, condition indexes, reasons)
// and keys, variants and payloads needing JSON escapes, HTML escapes,
// non-ASCII and invalid UTF-8; out-of-order results take the fallback.
func TestAppendDetailsAsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 14))
	words := []string{"a", "checkout-flow", "x<y", "amp&", "q\"uote", "back\\slash", "tab\t", "한국어", "line\u2028sep", "bad\xffutf8", "ctl\x01", "z"}
	payloads := []json.RawMessage{nil, json.RawMessage(`{"a":1}`), json.RawMessage(`"<b>"`), json.RawMessage(`[1,2]`), json.RawMessage(`true`)}
	reasons := []Reason{ReasonConditionMatch, ReasonNoConditionMatch, ReasonOutOfRollout, ReasonDisabled}
	for n := range 500 {
		var rs []Result
		seen := map[string]bool{}
		for range rng.IntN(6) {
			k := words[rng.IntN(len(words))] + fmt.Sprint(rng.IntN(3))
			if seen[k] {
				continue
			}
			seen[k] = true
			r := Result{Key: k, ID: rng.Int64N(1000), Version: rng.Int64N(9), Enabled: rng.IntN(2) == 0,
				Payload: payloads[rng.IntN(len(payloads))], Reason: reasons[rng.IntN(len(reasons))], ConditionIndex: rng.IntN(4) - 1}
			if rng.IntN(2) == 0 {
				r.Variant = words[rng.IntN(len(words))]
			}
			if rng.IntN(5) == 0 {
				r.Err = errors.New("cohort")
			}
			rs = append(rs, r)
		}
		if n%7 != 0 {
			sort.Slice(rs, func(i, j int) bool { return rs[i].Key < rs[j].Key })
		}
		want, err := json.Marshal(Details(rs))
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendDetails([]byte("prefix"), rs); string(got) != "prefix"+string(want) {
			t.Fatalf("results %+v:\nappended %s\nmarshal  %s", rs, got[6:], want)
		}
	}
}

func BenchmarkAppendDetails(b *testing.B) {
	rs := make([]Result, 20)
	for i := range rs {
		rs[i] = Result{Key: fmt.Sprintf("bench-flag-%02d", i), ID: int64(i), Version: 1, Enabled: i%2 == 0, Reason: ReasonConditionMatch, ConditionIndex: 0}
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 8<<10)
	for b.Loop() {
		buf = AppendDetails(buf[:0], rs)
	}
}
