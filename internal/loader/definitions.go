package loader

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

var (
	definitionWrites  = metrics.NewCounter("journey_loader_definitions_writes_total")
	definitionErrors  = metrics.NewCounter("journey_loader_definitions_errors_total")
	definitionSkipped = metrics.NewCounter("journey_loader_definitions_skipped_total")
)

// DefinitionsWriter is where the loader keeps event and property
// definitions (meta.DefinitionStore's upsert).
type DefinitionsWriter interface {
	UpsertDefinitions(ctx context.Context, b meta.DefinitionsBatch) error
}

// maxPendingDefinitions bounds what waits for a slow or failing writer;
// batches past it are skipped (counted), never queued without bound.
const maxPendingDefinitions = 100_000

// definitionWriteTimeout bounds one upsert, so a stuck database holds
// back only definitions, never the loader.
const definitionWriteTimeout = 30 * time.Second

// definitions aggregates each applied write on the loader's goroutine and
// upserts it on a goroutine of its own: a slow or failing metadata store
// never blocks nor fails ingest (errors are logged and counted). While an
// upsert runs, later batches merge into one pending aggregate.
type definitions struct {
	mu      sync.Mutex
	w       DefinitionsWriter
	pending *defAggregate
	running bool
	idle    chan struct{} // closed when no upsert runs nor waits
}

// SetDefinitions makes the loader keep event and property definitions in
// w after every applied write (nil stops it).
func (l *Loader) SetDefinitions(w DefinitionsWriter) {
	l.defs.mu.Lock()
	l.defs.w = w
	l.defs.mu.Unlock()
}

// DefinitionsIdle answers a channel closed once every applied write's
// definitions are written (or failed): for tests and shutdown.
func (l *Loader) DefinitionsIdle() <-chan struct{} {
	l.defs.mu.Lock()
	defer l.defs.mu.Unlock()
	if !l.defs.running {
		c := make(chan struct{})
		close(c)
		return c
	}
	return l.defs.idle
}

// feed aggregates w and hands it to the writer goroutine.
func (d *definitions) feed(w *store.Write) {
	d.mu.Lock()
	writer := d.w
	d.mu.Unlock()
	if writer == nil || (len(w.Events) == 0 && len(w.Persons) == 0) {
		return
	}
	d.push(aggregate(w))
}

// push queues agg for the writer goroutine, starting it when none runs.
func (d *definitions) push(agg *defAggregate) {
	d.mu.Lock()
	defer d.mu.Unlock()
	writer := d.w
	if writer == nil {
		return
	}
	switch {
	case d.pending == nil:
		d.pending = agg
	case d.pending.size()+agg.size() > maxPendingDefinitions:
		definitionSkipped.Inc()
		slog.Warn("definitions writer behind; skipping a batch's definitions", "names", agg.size())
		return
	default:
		d.pending.merge(agg)
	}
	if !d.running {
		d.running = true
		d.idle = make(chan struct{})
		go d.write(writer)
	}
}

// write upserts pending aggregates until none is left.
func (d *definitions) write(w DefinitionsWriter) {
	for {
		d.mu.Lock()
		agg := d.pending
		d.pending = nil
		if agg == nil {
			d.running = false
			close(d.idle)
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), definitionWriteTimeout)
		err := w.UpsertDefinitions(ctx, agg.batch())
		cancel()
		if err != nil {
			definitionErrors.Inc()
			slog.Error("cannot write event and property definitions", "err", err)
			continue
		}
		definitionWrites.Inc()
	}
}

type defKey struct {
	project int64
	kind    string // "" for event names, else meta.PropertiesOf*
	name    string
}

type defValue struct {
	typ         string
	first, last time.Time
	volume      int64
}

// defAggregate is one batch's (or several merged batches') definitions.
type defAggregate struct{ m map[defKey]*defValue }

func (a *defAggregate) size() int { return len(a.m) }

func (a *defAggregate) add(k defKey, typ string, at time.Time, n int64) {
	v := a.m[k]
	if v == nil {
		a.m[k] = &defValue{typ: typ, first: at, last: at, volume: n}
		return
	}
	if v.typ == "" {
		v.typ = typ
	}
	if at.Before(v.first) {
		v.first = at
	}
	if at.After(v.last) {
		v.last = at
	}
	v.volume += n
}

func (a *defAggregate) merge(b *defAggregate) {
	for k, v := range b.m {
		a.add(k, v.typ, v.first, v.volume)
		a.m[k].last = maxTime(a.m[k].last, v.last)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (a *defAggregate) batch() meta.DefinitionsBatch {
	var b meta.DefinitionsBatch
	for k, v := range a.m {
		if k.kind == "" {
			b.Events = append(b.Events, meta.EventDefinition{ProjectID: k.project, Name: k.name, FirstSeen: v.first, LastSeen: v.last, Volume: v.volume})
			continue
		}
		typ := v.typ
		if typ == "" { // only nulls seen so far
			typ = meta.TypeString
		}
		b.Properties = append(b.Properties, meta.PropertyDefinition{ProjectID: k.project, Kind: k.kind, Name: k.name, Type: typ,
			FirstSeen: v.first, LastSeen: v.last, Volume: v.volume})
	}
	return b
}

// personChanges are the keys of a row's properties that carry person
// changes, not event properties.
var personChanges = map[string]bool{"$set": true, "$set_once": true, "$unset": true}

// aggregate counts w's event names and the top-level property keys of its
// events and persons, with the type of the first non-null value of each.
// Persons have no event time: they take the write's latest event time.
func aggregate(w *store.Write) *defAggregate {
	a := &defAggregate{m: map[defKey]*defValue{}}
	var latest time.Time
	var props map[string]json.RawMessage
	for i := range w.Events {
		r := &w.Events[i]
		latest = maxTime(latest, r.Timestamp)
		a.add(defKey{project: r.ProjectID, name: r.Event}, "", r.Timestamp, 1)
		clear(props)
		if len(r.Properties) == 0 || json.Unmarshal(r.Properties, &props) != nil {
			continue
		}
		for k, raw := range props {
			if personChanges[k] {
				continue
			}
			key := defKey{project: r.ProjectID, kind: meta.PropertiesOfEvents, name: k}
			typ := ""
			if v := a.m[key]; v == nil || v.typ == "" {
				typ = rawType(raw)
			}
			a.add(key, typ, r.Timestamp, 1)
		}
	}
	if latest.IsZero() {
		latest = time.Now()
	}
	for _, p := range w.Persons {
		for k, v := range p.Properties {
			key := defKey{project: p.ProjectID, kind: meta.PropertiesOfPersons, name: k}
			typ := ""
			if d := a.m[key]; d == nil || d.typ == "" {
				typ = valueType(v)
			}
			a.add(key, typ, latest, 1)
		}
	}
	return a
}

// rawType is the definition type of a JSON value ("" for null).
func rawType(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return meta.TypeString
		}
		return stringType(s)
	case 't', 'f':
		return meta.TypeBoolean
	case '{':
		return meta.TypeObject
	case '[':
		return meta.TypeArray
	case 'n':
		return ""
	default:
		return meta.TypeNumeric
	}
}

// valueType is rawType of a decoded value (persons' properties).
func valueType(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return stringType(x)
	case bool:
		return meta.TypeBoolean
	case map[string]any:
		return meta.TypeObject
	case []any:
		return meta.TypeArray
	case float64, json.Number, int, int64:
		return meta.TypeNumeric
	default:
		return meta.TypeString
	}
}

// dateLayouts are the strings that read as a DateTime: ISO 8601 dates and
// times, as PostHog detects them.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

func stringType(s string) string {
	if len(s) >= 10 && len(s) <= 35 && s[4] == '-' && s[7] == '-' && strings.IndexFunc(s[:4], notDigit) < 0 {
		for _, l := range dateLayouts {
			if _, err := time.Parse(l, s); err == nil {
				return meta.TypeDateTime
			}
		}
	}
	return meta.TypeString
}

func notDigit(r rune) bool { return r < '0' || r > '9' }
