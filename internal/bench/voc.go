package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/voc"
)

// VoCOptions size the impact-ranking benchmark.
type VoCOptions struct {
	Items    int // feedback items (default 100 000)
	Persons  int // stored persons (default 1 M)
	Accounts int // groups of type company with an mrr (default 10 000)
	Themes   int // themes the items fall in (default 200)
	Runs     int // measured rankings (default 5); the median is reported
	Seed     int
	Dir      string // where the stores go; "" = a temporary directory
	Threads  int    // DuckDB threads; 0 = all cores
	// CPUProfile, when set, is a file for a Go CPU profile of the
	// measured rankings only (not the warm-up run, not the data's
	// generation).
	CPUProfile string
}

// VoCResult is the output of `journey bench voc --json`.
type VoCResult struct {
	Items    int `json:"items"`
	Persons  int `json:"persons"`
	Accounts int `json:"accounts"`
	Themes   int `json:"themes"`
	Events   int `json:"events"`
	// RankMS is the median of one ranking as GET /api/v1/themes runs it:
	// the items read from SQLite (ReadMS), then voc.Rank (the event
	// store's persons, accounts and bad days, the groups' mrr, and the
	// scores); the goal is under 1 s. Each run is a whole ranking from
	// the stores (one unmeasured run first warms their caches); nothing
	// of one ranking is kept for the next.
	RankMS float64 `json:"rank_ms"`
	ReadMS float64 `json:"read_ms"`
	// RankCPUMS is the median of the process' CPU time (user + system, all
	// threads, DuckDB's too) over one ranking: a figure that a machine
	// shared with other work inflates less than RankMS.
	RankCPUMS float64   `json:"rank_cpu_ms"`
	RunsMS    []float64 `json:"runs_ms"`
	TopTheme  string    `json:"top_theme"`
	TopScore  float64   `json:"top_score"`
	// RankedPersons is the top theme's persons, a check that the ranking
	// read the event store (every author is a stored person).
	RankedPersons int `json:"ranked_persons"`
}

// vocEventsSQL stores, for persons 1..%[2]d of project %[1]d (distinct id
// p<id>, as personsSQL stores them), one $pageview a day ago with the
// person's account acc<person mod %[3]d> in $groups, and an $exception
// for one person in 20; and the accounts with an mrr.
const vocEventsSQL = `
INSERT INTO events
SELECT %[1]d, uuid(), ev, 'p' || person::VARCHAR, person, TIMESTAMP '%[4]s' - INTERVAL 1 DAY + to_microseconds(person::BIGINT), props, TIMESTAMP '%[4]s'
FROM (
    SELECT person, '$pageview' AS ev, '{"$groups":{"company":"acc' || (person %% %[3]d)::VARCHAR || '"}}' AS props FROM range(1, %[2]d + 1) t(person)
    UNION ALL
    SELECT person, '$exception', '{}' FROM range(1, %[2]d + 1) t(person) WHERE hash(person, 99) %% 20 = 0
);
INSERT INTO groups
SELECT %[1]d, 'company', 'acc' || k::VARCHAR, TIMESTAMP '%[4]s', '{"mrr":' || (10 + hash(k, 7) %% 990)::VARCHAR || '}' FROM range(%[3]d) t(k);
CHECKPOINT`

// VoC runs the impact-ranking benchmark on the embedded stack (DuckDB
// events, SQLite metadata).
func VoC(ctx context.Context, o VoCOptions, logf func(string, ...any)) (VoCResult, error) {
	o.defaults()
	res := VoCResult{Items: o.Items, Persons: o.Persons, Accounts: o.Accounts, Themes: o.Themes}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "journey-bench-voc-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	st, err := openBenchStore(filepath.Join(dir, "events.duckdb"), o.Threads)
	if err != nil {
		return res, err
	}
	defer st.Close()
	os.Remove(filepath.Join(dir, "meta.db"))
	m, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		return res, err
	}
	defer m.Close()
	project, _, err := m.CreateProject(ctx, "bench", "UTC")
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := generatePersons(ctx, st, project.ID, FlagsOptions{Persons: o.Persons, Seed: o.Seed}); err != nil {
		return res, err
	}
	now := time.Now().UTC()
	if _, err := st.sql.ExecContext(ctx, fmt.Sprintf(vocEventsSQL, project.ID, o.Persons, o.Accounts, now.Format("2006-01-02 15:04:05"))); err != nil {
		return res, fmt.Errorf("cannot store the events: %w", err)
	}
	if err := st.sql.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&res.Events); err != nil {
		return res, err
	}
	logf("stored %d persons, %d events and %d accounts in %s", o.Persons, res.Events, o.Accounts, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := generateFeedback(ctx, m, project.ID, o, now); err != nil {
		return res, err
	}
	logf("stored %d feedback items in %d themes in %s", o.Items, o.Themes, time.Since(start).Round(time.Millisecond))

	var ranks, reads, cpus []float64
	stopProfile := func() {}
	defer func() { stopProfile() }()
	for run := 0; run <= o.Runs; run++ { // run 0 warms the caches
		if run == 1 && o.CPUProfile != "" {
			stop, err := startCPUProfile(o.CPUProfile)
			if err != nil {
				return res, err
			}
			stopProfile = stop
		}
		t0, cpu0 := time.Now(), cpuTime()
		items, err := m.FeedbackImpact(ctx, project.ID, voc.MaxRankItems)
		if err != nil {
			return res, err
		}
		themes, err := m.Themes(ctx, project.ID)
		if err != nil {
			return res, err
		}
		t1 := time.Now()
		r, err := voc.Rank(ctx, st.Store, project.ID, items, themes, voc.RankOptions{Now: now})
		if err != nil {
			return res, err
		}
		total, cpu := time.Since(t0), cpuTime()-cpu0
		if len(r.Themes) == 0 {
			return res, fmt.Errorf("the ranking found no themes")
		}
		if run == 0 {
			res.TopTheme, res.TopScore, res.RankedPersons = r.Themes[0].Name, r.Themes[0].Score, r.Themes[0].Persons
			continue
		}
		ranks, reads, cpus = append(ranks, ms(total)), append(reads, ms(t1.Sub(t0))), append(cpus, ms(cpu))
		logf("ranking %d: %.0f ms (items read %.0f ms), CPU %.0f ms", run, ms(total), ms(t1.Sub(t0)), ms(cpu))
	}
	res.RunsMS, res.RankMS, res.ReadMS, res.RankCPUMS = ranks, median(ranks), median(reads), median(cpus)
	return res, nil
}

func (o *VoCOptions) defaults() {
	if o.Items <= 0 {
		o.Items = 100_000
	}
	if o.Persons <= 0 {
		o.Persons = 1_000_000
	}
	if o.Accounts <= 0 {
		o.Accounts = 10_000
	}
	if o.Themes <= 0 {
		o.Themes = 200
	}
	if o.Runs <= 0 {
		o.Runs = 5
	}
}

// generateFeedback stores o.Items items by random persons, in o.Themes
// themes (theme k's share falls with k, as real themes' do), one in ten
// without a theme, created over the last 60 days, in batches as the CSV
// import stores them.
func generateFeedback(ctx context.Context, m meta.Store, projectID int64, o VoCOptions, now time.Time) error {
	themes := make([]int64, o.Themes)
	for i := range themes {
		th, err := m.CreateTheme(ctx, meta.Theme{ProjectID: projectID, Name: fmt.Sprintf("Theme %d", i+1)})
		if err != nil {
			return err
		}
		themes[i] = th.ID
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 16))
	batch := make([]meta.FeedbackItem, 0, meta.MaxFeedbackBatch)
	for i := 0; i < o.Items; i++ {
		var theme int64
		if rng.IntN(10) > 0 {
			theme = themes[int(float64(o.Themes)*rng.Float64()*rng.Float64())]
		}
		batch = append(batch, meta.FeedbackItem{ProjectID: projectID, Source: meta.SourceAPI, ThemeID: theme,
			Text:       fmt.Sprintf("Issue %d with feature %d", i, theme),
			DistinctID: fmt.Sprintf("p%d", 1+rng.IntN(o.Persons)), CreatedAt: now.Add(-time.Duration(rng.Int64N(int64(60 * 24 * time.Hour))))})
		if len(batch) == cap(batch) || i == o.Items-1 {
			if _, err := m.ImportFeedback(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// startCPUProfile starts a Go CPU profile into path; the function it
// returns stops it (once).
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cannot create the CPU profile %q: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot start the CPU profile %q: %w", path, err)
	}
	done := false
	return func() {
		if !done {
			done = true
			pprof.StopCPUProfile()
			f.Close()
		}
	}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
