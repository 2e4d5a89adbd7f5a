package identity

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/store"
)

// MergeDangerously is PostHog's event that merges its alias into its
// distinct id even when the alias's person is already identified.
const MergeDangerously = "$merge_dangerously"

// refusedMerges counts the merges refused because the person merged away
// was identified (PostHog's cannot_merge_already_identified warning).
var refusedMerges = metrics.NewCounter("journey_identity_refused_merges_total")

// Identified persons are PostHog's is_identified ones: the persons of the
// events that asked for a merge ($identify with an $anon_distinct_id,
// $create_alias, $merge_dangerously with an alias, each other than the
// event's distinct id), made or not. Nothing is written for it: a store
// derives the list from those stored events (store.Identity.Identified,
// person ids as stored), and the resolver follows the overrides to the
// persons that absorbed them, so a restart refuses the same merges.
// Retention that drops such an event forgets it after a restart.
func loadIdentified(st store.Identity) map[int64]bool {
	into := make(map[int64]int64, len(st.Overrides))
	for _, o := range st.Overrides {
		into[o.OldPersonID] = o.PersonID
	}
	out := make(map[int64]bool, len(st.Identified))
	for _, p := range st.Identified {
		if q, ok := into[p]; ok {
			p = q
		}
		out[p] = true
	}
	return out
}

// Identified reports whether a person is identified.
func (r *Resolver) Identified(person int64) bool { return r.identified[person] }
