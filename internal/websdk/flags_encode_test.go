package websdk

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
)

// appendFlagsV2 writes what json.Marshal of the flagsV2 answer writes,
// requestId aside (a new uuid each), for no results, errored answers and
// results needing escapes.
func TestAppendFlagsV2AsMarshal(t *testing.T) {
	id := regexp.MustCompile(`"requestId":"[0-9a-f-]{36}"`)
	for _, ans := range []*flagserve.Answer{
		{},
		{Errored: true},
		{Results: []flags.Result{
			{Key: "a<b", ID: 1, Version: 2, Enabled: true, Variant: "test&", Payload: json.RawMessage(`{"x":"<y>"}`), Reason: flags.ReasonConditionMatch, ConditionIndex: 1},
			{Key: "b", ID: 3, Reason: flags.ReasonNoConditionMatch, ConditionIndex: -1},
			{Key: "c", ID: 4, Enabled: true, Payload: json.RawMessage(`true`), Reason: flags.ReasonOutOfRollout, ConditionIndex: 0},
		}},
	} {
		want, err := json.Marshal(flagsV2{Flags: flags.Details(ans.Results), ErrorsWhileComputingFlags: ans.Errored, RequestID: "00000000-0000-0000-0000-000000000000", EvaluatedAt: 1_800_000_000_123})
		if err != nil {
			t.Fatal(err)
		}
		got := appendFlagsV2(nil, 1_800_000_000_123, ans)
		if !id.Match(got) {
			t.Fatalf("no uuid requestId in %s", got)
		}
		if g := id.ReplaceAll(got, []byte(`"requestId":"00000000-0000-0000-0000-000000000000"`)); string(g) != string(want) {
			t.Fatalf("appended %s\nmarshal  %s", g, want)
		}
	}
}
