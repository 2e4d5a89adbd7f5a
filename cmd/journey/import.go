package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/importer"
	"github.com/journey-dev/journey/internal/meta"
)

func cmdImport(args []string) error {
	var cfg app.Config
	var token string
	f := newFlags("import")
	appFlags(f, &cfg)
	f.str(&token, "token", "", "project token of the project to import into")
	if err := f.parse(args); err != nil {
		return err
	}
	if token == "" {
		return errors.New("invalid --token: missing (the project token events are imported into)")
	}
	if f.NArg() == 0 {
		return errors.New("no input: give one or more NDJSON files (- for standard input)")
	}
	a, err := app.Open(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	ctx := context.Background()
	p, err := a.Meta.ProjectByToken(ctx, token)
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("invalid --token: no project has token %q", token)
	}
	if err != nil {
		return err
	}
	before, err := a.Events.CountEvents(ctx, p.ID)
	if err != nil {
		return err
	}
	var total importer.Summary
	total.Reasons = map[string]int{}
	for _, name := range f.Args() {
		sum, err := importFile(ctx, a, p, token, name)
		total.Lines += sum.Lines
		total.Accepted += sum.Accepted
		total.Skipped += sum.Skipped
		for r, n := range sum.Reasons {
			total.Reasons[r] += n
		}
		total.Examples = append(total.Examples, sum.Examples...)
		if err != nil {
			return err
		}
	}
	if err := a.Loader.Sync(ctx); err != nil {
		return err
	}
	after, err := a.Events.CountEvents(ctx, p.ID)
	if err != nil {
		return err
	}
	stored := int(after - before)
	fmt.Printf("Read %d lines: imported %d events, skipped %d duplicates (uuid/messageId already stored), skipped %d invalid lines.\n",
		total.Lines, stored, total.Accepted-stored, total.Skipped)
	for _, r := range total.TopReasons() {
		fmt.Printf("  %6d × %s\n", total.Reasons[r], r)
	}
	for i, ex := range total.Examples {
		if i == 5 {
			break
		}
		fmt.Println("  e.g.", ex)
	}
	return nil
}

func importFile(ctx context.Context, a *app.App, p meta.Project, token, name string) (importer.Summary, error) {
	in := os.Stdin
	size := int64(-1)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return importer.Summary{}, fmt.Errorf("cannot open %q: %w", name, err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
	}
	bar := progressbar.NewOptions64(size, progressbar.OptionSetDescription("Importing "+name),
		progressbar.OptionShowBytes(true), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	defer bar.Finish()
	return importer.Import(ctx, in, a.Log.Append, importer.Options{
		ProjectID: p.ID, Token: token, Progress: func(n int64) { bar.Add64(n) },
	})
}
