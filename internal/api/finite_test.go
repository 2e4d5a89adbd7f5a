package api

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"
)

type inner struct {
	V float64 `json:"v"`
}

type answer struct {
	inner
	Name   string             `json:"name"`
	Skip   float64            `json:"-"`
	Empty  []float64          `json:"empty,omitempty"`
	Points []inner            `json:"points"`
	ByKey  map[string]float64 `json:"by_key"`
	At     time.Time          `json:"at"`
	Ptr    *float64           `json:"ptr"`
	Raw    json.RawMessage    `json:"raw"`
	hidden float64
}

// TestWriteJSONNonFinite: an answer holding NaN or ±Inf is written whole,
// with null in their place and their paths in non_finite, as encoding/json
// would write it otherwise (names, omitempty, "-", embedded fields).
func TestWriteJSONNonFinite(t *testing.T) {
	inf := math.Inf(1)
	v := answer{inner: inner{V: math.NaN()}, Name: "x", Skip: inf, Points: []inner{{1}, {math.Inf(-1)}},
		ByKey: map[string]float64{"a": 2, "b": inf}, At: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Ptr: &inf,
		Raw: json.RawMessage(`{"k":1}`), hidden: inf}
	w := httptest.NewRecorder()
	writeJSON(w, 200, v)
	want := `{"at":"2026-01-02T00:00:00Z","by_key":{"a":2,"b":null},"name":"x","non_finite":["v","points[1].v","by_key.b","ptr"],"points":[{"v":1},{"v":null}],"ptr":null,"raw":{"k":1},"v":null}` + "\n"
	if w.Code != 200 || w.Body.String() != want {
		t.Fatalf("got %d %s\nwant %s", w.Code, w.Body.String(), want)
	}
	// A finite answer is encoding/json's own text.
	w = httptest.NewRecorder()
	writeJSON(w, 201, inner{V: 1.5})
	if w.Code != 201 || w.Body.String() != `{"v":1.5}`+"\n" || w.Header().Get("Content-Length") != "10" {
		t.Fatalf("finite: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	// What cannot be encoded at all is a 500 with a message, not an empty 200.
	w = httptest.NewRecorder()
	writeJSON(w, 200, map[string]any{"f": func() {}})
	if w.Code != 500 || w.Body.Len() == 0 {
		t.Fatalf("unencodable: %d %q", w.Code, w.Body.String())
	}
}
