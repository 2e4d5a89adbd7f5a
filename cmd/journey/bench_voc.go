package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/journey-dev/journey/internal/bench"
)

// benchVoC: journey bench voc, the impact ranking of feedback themes
// (issue 16): 100 000 items over 1 M persons and 10 000 accounts on the
// embedded stack, goal under 1 s.
func benchVoC(args []string) error {
	var o bench.VoCOptions
	var asJSON bool
	f := newFlags("bench voc")
	f.boolean(&asJSON, "json", false, "print one JSON object")
	f.integer(&o.Items, "items", 100_000, "feedback items")
	f.integer(&o.Persons, "persons", 1_000_000, "stored persons")
	f.integer(&o.Accounts, "accounts", 10_000, "accounts (groups of type company with an mrr)")
	f.integer(&o.Themes, "themes", 200, "themes the items fall in")
	f.integer(&o.Runs, "runs", 5, "measured rankings (the median is reported)")
	f.integer(&o.Seed, "seed", 1, "generator seed")
	f.str(&o.Dir, "dir", "", "directory for the benchmark's stores (default: a temporary one)")
	f.integer(&o.Threads, "threads", 0, "DuckDB threads (0 = all cores)")
	f.str(&o.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the measured rankings to this file")
	if err := f.parse(args); err != nil {
		return err
	}
	if o.Items < 1 || o.Persons < 1 || o.Accounts < 1 || o.Themes < 1 || o.Runs < 1 {
		return errors.New("--items, --persons, --accounts, --themes and --runs must be positive")
	}
	logf := func(format string, a ...any) {
		if !asJSON {
			fmt.Printf(format+"\n", a...)
		}
	}
	res, err := bench.VoC(context.Background(), o, logf)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("\n%d items, %d themes, %d persons, %d accounts, %d events\n", res.Items, res.Themes, res.Persons, res.Accounts, res.Events)
	fmt.Printf("impact ranking %8.1f ms median of %d (goal < 1000), of which reading the items %.1f ms; CPU %.1f ms; top theme %q, %d persons, score %.2f\n",
		res.RankMS, len(res.RunsMS), res.ReadMS, res.RankCPUMS, res.TopTheme, res.RankedPersons, res.TopScore)
	return nil
}
