package loader

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

var definitionTypes = map[string]bool{meta.TypeString: true, meta.TypeNumeric: true, meta.TypeBoolean: true,
	meta.TypeDateTime: true, meta.TypeObject: true, meta.TypeArray: true}

// FuzzAggregate: any properties text a client sends aggregates without a
// panic; a JSON object yields each of its keys but $set/$set_once/$unset
// once with its value's type, and the event name with volume 1; other text
// yields no panic and known types only.
func FuzzAggregate(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":"2024-01-02","c":null,"d":[1],"e":{"f":true}}`, `{"$set":{"x":1}}`, `not json`, `[1,2]`,
		`{"a":"2024-02-30T00:00:00Z"}`, `{"a":  -1e9, "b":"\u0000"}`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, props string) {
		w := &store.Write{Events: []store.Row{{ProjectID: 1, Event: "e", Timestamp: time.Unix(0, 0), Properties: json.RawMessage(props)}}}
		agg := aggregate(w)
		b := agg.batch()
		if len(b.Events) != 1 || b.Events[0].Volume != 1 {
			t.Fatalf("events = %+v", b.Events)
		}
		for _, p := range b.Properties {
			if !definitionTypes[p.Type] || p.Volume < 1 || p.Kind != meta.PropertiesOfEvents {
				t.Fatalf("definition %+v of %q", p, props)
			}
		}
		// Valid objects (what the loader reads) yield exactly their keys.
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(props), &m) != nil {
			return
		}
		want := 0
		for k := range m {
			if !personChanges[k] {
				want++
			}
		}
		if len(b.Properties) != want {
			t.Fatalf("%d property definitions of %q, want %d", len(b.Properties), props, want)
		}
		for _, p := range b.Properties {
			raw, ok := m[p.Name]
			if !ok {
				t.Fatalf("key %q is not in %q", p.Name, props)
			}
			if want := rawType(raw); want != "" && p.Type != want {
				t.Fatalf("type of %q = %q, want %q (%q)", p.Name, p.Type, want, props)
			}
		}
	})
}

// BenchmarkAggregate: the loader's cost per event of keeping definitions
// (10 properties an event).
func BenchmarkAggregate(b *testing.B) {
	props := json.RawMessage(`{"$current_url":"https://x.io/a","$browser":"Chrome","$os":"Mac OS X","$lib":"web","$lib_version":"1.2.3","n":3,"ok":true,"when":"2024-01-02T03:04:05Z","$session_id":"0190","tags":["a"]}`)
	w := &store.Write{}
	for i := range 1000 {
		w.Events = append(w.Events, store.Row{ProjectID: 1, Event: []string{"$pageview", "$autocapture", "signup"}[i%3], Timestamp: time.Unix(int64(i), 0), Properties: props})
	}
	b.ReportAllocs()
	for b.Loop() {
		aggregate(w)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(w.Events)), "ns/event")
}
