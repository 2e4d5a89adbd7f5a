package bench

import (
	"context"
	"testing"
)

// TestVoCSmall runs the ranking benchmark small: every figure is there
// and the ranking read the event store (the top theme's persons are
// stored persons, so it has some).
func TestVoCSmall(t *testing.T) {
	res, err := VoC(context.Background(), VoCOptions{Items: 2000, Persons: 5000, Accounts: 100, Themes: 20, Runs: 2, Dir: t.TempDir()}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 2000 || res.Events < 5000 || len(res.RunsMS) != 2 || res.RankMS <= 0 || res.ReadMS <= 0 || res.RankCPUMS <= 0 ||
		res.TopTheme != "Theme 1" || res.RankedPersons < 100 || res.TopScore <= 0 {
		t.Fatalf("VoC = %+v", res)
	}
}
