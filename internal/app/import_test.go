package app

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/importer"
)

func TestImportNDJSON(t *testing.T) {
	ta := newTestApp(t)
	p := ta.project("import")
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	ts := day.Add(time.Hour).Format(time.RFC3339)
	lines := []string{
		fmt.Sprintf(`{"event":"imported","distinct_id":"a","uuid":"0195f3a4-7c1e-7b7e-9d6a-2f5b8c1d0e01","timestamp":%q}`, ts),
		fmt.Sprintf(`{"event":"imported","properties":{"distinct_id":"b"},"uuid":"0195f3a4-7c1e-7b7e-9d6a-2f5b8c1d0e02","timestamp":%q}`, ts),
		fmt.Sprintf(`{"event":"imported","distinct_id":"a","uuid":"0195f3a4-7c1e-7b7e-9d6a-2f5b8c1d0e01","timestamp":%q}`, ts), // duplicate uuid
		fmt.Sprintf(`{"type":"track","event":"imported","userId":"c","messageId":"m-1","timestamp":%q}`, ts),
		fmt.Sprintf(`{"type":"track","event":"imported","userId":"c","messageId":"m-1","timestamp":%q}`, ts), // duplicate messageId
		fmt.Sprintf(`{"type":"identify","userId":"c","anonymousId":"b","messageId":"m-2","timestamp":%q}`, ts),
		`{"event":"imported","timestamp":"2026-03-02T01:00:00Z"}`, // no distinct_id
		`{not json`,
		``,
	}
	sum, err := importer.Import(context.Background(), strings.NewReader(strings.Join(lines, "\n")), ta.Log.Append,
		importer.Options{ProjectID: p.ID, Token: p.Token, Chunk: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 8 || sum.Accepted != 6 || sum.Skipped != 2 {
		t.Fatalf("summary = %+v, want 8 lines, 6 accepted, 2 skipped", sum)
	}
	if len(sum.Examples) != 2 || !strings.Contains(sum.Examples[0], "line 7") || !strings.HasSuffix(sum.Examples[0], "distinct_id: missing") {
		t.Fatalf("examples = %q, want line 7 naming distinct_id first", sum.Examples)
	}
	ta.sync()
	n, err := ta.Events.CountEvents(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 { // a, b, c, and the $identify; duplicates dropped
		t.Fatalf("stored %d events, want 4", n)
	}
	// b and c were merged by the Segment identify: 2 persons did "imported".
	if got := ta.trend(p.SecretKey, "imported", "dau", day, day.AddDate(0, 0, 1)); !reflect.DeepEqual(got, []float64{2}) {
		t.Fatalf("dau = %v, want [2]", got)
	}
}
