package privacy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// ApplyRetention drops, in every project with a retention setting, the
// events older than its retention_days before now, and returns how many
// it dropped by project. A project that fails is logged and skipped, so
// one bad setting does not keep the others' data.
func ApplyRetention(ctx context.Context, md meta.Store, events store.Privacy, now time.Time) (map[int64]int64, error) {
	projects, err := md.Projects(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot list projects for retention: %w", err)
	}
	out := map[int64]int64{}
	for _, p := range projects {
		r, err := meta.LoadRetention(ctx, md, p.ID)
		if err == nil {
			err = r.Validate()
		}
		if err != nil {
			slog.Warn("skipping retention of project", "project", p.ID, "err", err)
			continue
		}
		if r.Days == 0 {
			continue
		}
		n, err := events.DeleteEventsBefore(ctx, p.ID, now.AddDate(0, 0, -r.Days))
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			slog.Warn("cannot apply retention of project", "project", p.ID, "err", err)
			continue
		}
		if n > 0 {
			slog.Info("events past retention dropped", "project", p.ID, "days", r.Days, "events", n)
		}
		out[p.ID] = n
	}
	return out, nil
}
