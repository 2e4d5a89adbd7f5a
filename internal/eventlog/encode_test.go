package eventlog

import (
	"bytes"
	stdjson "encoding/json"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/journey-dev/journey/internal/event"
)

// goJSON is what the log wrote before batchEncoder: go-json's Encoder.
func goJSON(t testing.TB, b event.Batch) ([]byte, bool) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(b); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true
}

// checkEncoder fails when batchEncoder writes anything but go-json's
// bytes; it may leave a batch to go-json unless mustEncode.
func checkEncoder(t *testing.T, b event.Batch, mustEncode bool) {
	t.Helper()
	var e batchEncoder
	got, ok := e.append(nil, b)
	want, wantOK := goJSON(t, b)
	switch {
	case ok && !wantOK:
		t.Fatalf("batchEncoder wrote %s for a batch go-json refuses", got)
	case ok && !bytes.Equal(got, want):
		t.Fatalf("batchEncoder wrote\n%s\ngo-json\n%s", got, want)
	case !ok && mustEncode:
		t.Fatalf("batchEncoder left to go-json a batch it must encode: %s", want)
	}
}

// decodedProps is what capture hands the log: JSON decoded with UseNumber.
func decodedProps(t testing.TB, text string) map[string]any {
	dec := stdjson.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("cannot decode %s: %v", text, err)
	}
	return m
}

func TestAppendBatchMatchesGoJSON(t *testing.T) {
	ts := time.Date(2024, 5, 1, 11, 59, 59, 123_000_000, time.UTC)
	props := decodedProps(t, `{"$current_url":"https://shop.example/?a=1&b=<2>","price":19.99,"n":-0,"big":123456789012345678901234567890,
		"nested":{"z":[1,"two",null,true,false,{"k":{}}],"a":[],"":"empty key"},"ctl":"\b\f\n\r\t\u0001\u001f\u007f\u2028\u2029\"\\/","uni":"é日😀"}`)
	props["bad utf8 \xff"] = "x\xc3y\xff"
	for _, k := range []string{"a", "a!", "a ", "a<", "ab", "\u2028", "z", "\x01"} { // go-json's key order
		props[k] = k
	}
	batches := []event.Batch{
		{ProjectID: 7, Events: []event.Event{{UUID: "0190b0a2-8c1e-7d3a-9f00-000000000017", Event: "$pageview", DistinctID: "lat-17",
			Timestamp: ts, ReceivedAt: ts.Add(time.Second), Properties: props}}},
		{ProjectID: 1, Events: []event.Event{
			{UUID: "u1", Event: "$identify", DistinctID: "d", Timestamp: ts, ReceivedAt: ts,
				Set: map[string]any{"email": "a@b.c", "plan": stdjson.Number("3")}, SetOnce: map[string]any{"first": true},
				Unset: []string{"old", "<x>"}, NoPerson: true, Properties: map[string]any{}},
			{UUID: "u2", Event: "e", DistinctID: "d", Timestamp: time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("x", 3600)), ReceivedAt: ts},
		}},
		{ProjectID: 2, Events: []event.Event{}},
		{ProjectID: 3},
	}
	for _, b := range batches {
		checkEncoder(t, b, true)
	}
	// Left to go-json: values capture does not make, times JSON refuses.
	for _, b := range []event.Batch{
		{Events: []event.Event{{Properties: map[string]any{"f": 1.5}}}},
		{Events: []event.Event{{Properties: map[string]any{"n": stdjson.Number("1.")}}}},
		{Events: []event.Event{{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}},
	} {
		var e batchEncoder
		if got, ok := e.append(nil, b); ok {
			t.Fatalf("batchEncoder wrote %s, want it left to go-json", got)
		}
		checkEncoder(t, b, false)
	}
}

// FuzzAppendBatch: for any properties capture could decode and any
// strings, batchEncoder writes go-json's bytes or leaves the batch to it.
func FuzzAppendBatch(f *testing.F) {
	f.Add(`{"a":"<b>&","n":1.5e3,"m":{"x":[null,true]}}`, "uuid-1", "$pageview", "user\x00\xff")
	f.Add(`{"\u2028":"\ud83d\ude00","z":{"y":{"x":{}}}}`, "", "e", "")
	f.Fuzz(func(t *testing.T, props, uuid, name, id string) {
		dec := stdjson.NewDecoder(strings.NewReader(props))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil {
			m = map[string]any{"raw": props}
		}
		ts := time.Unix(1_700_000_000, int64(len(props))).UTC()
		b := event.Batch{ProjectID: int64(len(uuid)) - 3, Events: []event.Event{
			{UUID: uuid, Event: name, DistinctID: id, Timestamp: ts, ReceivedAt: ts, Properties: m, Set: m, Unset: []string{id, name}},
		}}
		checkEncoder(t, b, true)
	})
}
