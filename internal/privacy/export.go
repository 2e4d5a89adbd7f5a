package privacy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// ExportEvent is one event of an export.
type ExportEvent struct {
	UUID       string          `json:"uuid"`
	Event      string          `json:"event"`
	DistinctID string          `json:"distinct_id"`
	PersonID   int64           `json:"person_id"` // as stored: merged-away persons' ids too
	Timestamp  time.Time       `json:"timestamp"`
	ReceivedAt time.Time       `json:"received_at"`
	Properties json.RawMessage `json:"properties"`
}

// exportPage is how many events an export reads at a time: its memory is
// one page, whatever the person's number of events.
const exportPage = 500

// Export writes everything stored about a person as one JSON object:
// person (properties, created_at), distinct_ids, merged_ids, events (by
// time), survey_answers (its `survey sent` events), feedback (with
// comments), sends, cohort_memberships and flag_hash_keys. Events are
// read and written a page at a time, so memory stays bounded by the page
// and the metadata lists (meta.MaxPersonMetadata each). An error after
// the first byte cuts the object short: the answer is not valid JSON, so
// a reader cannot take it for a complete export.
func Export(ctx context.Context, w io.Writer, events store.Store, md meta.Store, sub *store.Subject) error {
	ps, ok := events.(store.Privacy)
	if !ok {
		return fmt.Errorf("cannot export person %d: the event store has no exports", sub.PersonID)
	}
	person, _, err := events.PersonByID(ctx, sub.ProjectID, sub.PersonID)
	if err != nil && err != store.ErrNotFound {
		return fmt.Errorf("cannot read person %d: %w", sub.PersonID, err)
	}
	m, err := md.PersonMetadata(ctx, sub.ProjectID, sub.PersonIDs(), sub.DistinctIDs)
	if err != nil {
		return fmt.Errorf("cannot read metadata of person %d: %w", sub.PersonID, err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	head, _ := json.Marshal(map[string]any{"id": sub.PersonID, "created_at": person.CreatedAt.UTC(), "properties": nonNilMap(person.Properties)})
	fmt.Fprintf(bw, `{"person":%s,"distinct_ids":%s,"merged_ids":%s,"events":`, head, mustJSON(sub.DistinctIDs), mustJSON(sub.MergedIDs))
	if err := streamEvents(ctx, bw, ps, sub, func(store.Row) bool { return true }); err != nil {
		return err
	}
	bw.WriteString(`,"survey_answers":`)
	if err := streamEvents(ctx, bw, ps, sub, func(r store.Row) bool { return r.Event == store.SurveyEvent }); err != nil {
		return err
	}
	fmt.Fprintf(bw, `,"feedback":%s,"sends":%s,"cohort_memberships":%s,"flag_hash_keys":%s}`+"\n",
		mustJSON(m.Feedback), mustJSON(m.Sends), mustJSON(m.CohortMembers), mustJSON(m.FlagHashKeys))
	return bw.Flush()
}

// streamEvents writes the subject's events that keep selects as a JSON
// list, page by page, flushing after each page.
func streamEvents(ctx context.Context, bw *bufio.Writer, ps store.Privacy, sub *store.Subject, keep func(store.Row) bool) error {
	bw.WriteByte('[')
	first := true
	var cur store.EventCursor
	for {
		page, err := ps.SubjectEvents(ctx, sub, cur, exportPage)
		if err != nil {
			return err
		}
		for _, r := range page {
			cur = store.EventCursor{T: r.Timestamp, UUID: r.UUID}
			if !keep(r) {
				continue
			}
			props := r.Properties
			if !json.Valid(props) {
				props = json.RawMessage("{}")
			}
			b, err := json.Marshal(ExportEvent{UUID: uuid.UUID(r.UUID).String(), Event: r.Event, DistinctID: r.DistinctID, PersonID: r.PersonID,
				Timestamp: r.Timestamp.UTC(), ReceivedAt: r.ReceivedAt.UTC(), Properties: props})
			if err != nil {
				return err
			}
			if !first {
				bw.WriteByte(',')
			}
			first = false
			bw.Write(b)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if len(page) < exportPage {
			break
		}
	}
	bw.WriteByte(']')
	return nil
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return []byte("[]")
	}
	return b
}
