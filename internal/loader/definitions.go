package loader

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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

// defGroup is one project's names of one kind ("" for event names, else
// meta.PropertiesOf*); names are looked up by the key's bytes, so only a
// name new to the batch allocates.
type defGroup struct {
	project int64
	kind    string
}

type defValue struct {
	typ         string
	first, last time.Time
	volume      int64
}

// defAggregate is one batch's (or several merged batches') definitions.
type defAggregate struct {
	m map[defGroup]map[string]*defValue
	n int
}

func newAggregate() *defAggregate { return &defAggregate{m: map[defGroup]map[string]*defValue{}} }

func (a *defAggregate) size() int { return a.n }

// names answers g's names, made on first use.
func (a *defAggregate) names(g defGroup) map[string]*defValue {
	m := a.m[g]
	if m == nil {
		m = map[string]*defValue{}
		a.m[g] = m
	}
	return m
}

// add counts n uses of name at at; typ is kept if none was.
func (a *defAggregate) add(names map[string]*defValue, name string, typ string, at time.Time, n int64) {
	v := names[name]
	if v == nil {
		names[name] = &defValue{typ: typ, first: at, last: at, volume: n}
		a.n++
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
	for g, bn := range b.m {
		an := a.names(g)
		for name, v := range bn {
			a.add(an, name, v.typ, v.first, v.volume)
			an[name].last = maxTime(an[name].last, v.last)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (a *defAggregate) batch() meta.DefinitionsBatch {
	var b meta.DefinitionsBatch
	for g, names := range a.m {
		for name, v := range names {
			if g.kind == "" {
				b.Events = append(b.Events, meta.EventDefinition{ProjectID: g.project, Name: name, FirstSeen: v.first, LastSeen: v.last, Volume: v.volume})
				continue
			}
			typ := v.typ
			if typ == "" { // only nulls seen so far
				typ = meta.TypeString
			}
			b.Properties = append(b.Properties, meta.PropertyDefinition{ProjectID: g.project, Kind: g.kind, Name: name, Type: typ,
				FirstSeen: v.first, LastSeen: v.last, Volume: v.volume})
		}
	}
	return b
}

// personChanges are the keys of a row's properties that carry person
// changes, not event properties.
var personChanges = map[string]bool{"$set": true, "$set_once": true, "$unset": true}

// aggregate counts w's event names and the top-level property keys of its
// events and persons, with the type of the first non-null value of each.
// Persons have no event time: they take the write's latest event time.
// Event properties are scanned (topLevel), not decoded: the loader pays
// this for every event.
func aggregate(w *store.Write) *defAggregate {
	a := newAggregate()
	var latest time.Time
	var events, props map[string]*defValue
	var last defGroup
	for i := range w.Events {
		r := &w.Events[i]
		latest = maxTime(latest, r.Timestamp)
		if events == nil || last.project != r.ProjectID {
			last = defGroup{project: r.ProjectID}
			events = a.names(last)
			props = a.names(defGroup{project: r.ProjectID, kind: meta.PropertiesOfEvents})
		}
		a.add(events, r.Event, "", r.Timestamp, 1)
		topLevel(r.Properties, func(key []byte, value []byte) {
			if v := props[string(key)]; v != nil { // no allocation: a lookup by the bytes
				if v.typ == "" {
					v.typ = rawType(value)
				}
				v.first, v.last, v.volume = minTime(v.first, r.Timestamp), maxTime(v.last, r.Timestamp), v.volume+1
				return
			}
			k := string(key)
			if personChanges[k] {
				return
			}
			a.add(props, k, rawType(value), r.Timestamp, 1)
		})
	}
	if latest.IsZero() {
		latest = time.Now()
	}
	for _, p := range w.Persons {
		names := a.names(defGroup{project: p.ProjectID, kind: meta.PropertiesOfPersons})
		for k, v := range p.Properties {
			typ := ""
			if d := names[k]; d == nil || d.typ == "" {
				typ = valueType(v)
			}
			a.add(names, k, typ, latest, 1)
		}
	}
	return a
}

// topLevel calls f with each key of the JSON object in js and its value's
// raw text, without decoding the values. Keys with escapes are unquoted.
// Text that is not an object yields nothing; malformed text may yield the
// keys before the fault (the loader stores what capture already checked).
func topLevel(js []byte, f func(key, value []byte)) {
	i := skipSpace(js, 0)
	if i >= len(js) || js[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(js, i)
		if i >= len(js) || js[i] != '"' {
			return
		}
		end := skipString(js, i)
		if end < 0 {
			return
		}
		key := js[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) { // as encoding/json reads it
			var s string
			if json.Unmarshal(js[i:end], &s) != nil {
				return
			}
			key = []byte(s)
		}
		i = skipSpace(js, end)
		if i >= len(js) || js[i] != ':' {
			return
		}
		i = skipSpace(js, i+1)
		vend := skipValue(js, i)
		if vend < 0 {
			return
		}
		f(key, js[i:vend])
		i = skipSpace(js, vend)
		if i >= len(js) || js[i] != ',' {
			return
		}
		i++
	}
}

func skipSpace(js []byte, i int) int {
	for i < len(js) && (js[i] == ' ' || js[i] == '\t' || js[i] == '\n' || js[i] == '\r') {
		i++
	}
	return i
}

// skipString answers the index after the string starting at js[i] (a
// quote), or -1.
func skipString(js []byte, i int) int {
	for j := i + 1; j < len(js); j++ {
		switch js[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue answers the index after the value starting at js[i], or -1.
func skipValue(js []byte, i int) int {
	if i >= len(js) {
		return -1
	}
	switch js[i] {
	case '"':
		return skipString(js, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(js); j++ {
			switch js[j] {
			case '"':
				if j = skipString(js, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(js) && js[j] != ',' && js[j] != '}' && js[j] != ' ' && js[j] != '\n' && js[j] != '\t' && js[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
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
