package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// envelope is the top level of a request body.
type envelope struct {
	// top holds the fields of a top-level object (batch fields such as
	// api_key and sent_at, or the single event's own fields); nil for a bare
	// array.
	top map[string]any
	// items are the events, each still of any JSON type.
	items []any
	// batch is true when items came from an array, so error fields name
	// them batch[i].
	batch bool
}

// splitBody reads a bare array of events, an object with a `batch` array,
// or a single event object. The body is decoded in one pass (ingest speed
// matters here), numbers kept as json.Number so that huge integers survive
// to the store unchanged.
func splitBody(data []byte) (envelope, *Error) {
	data = bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(data) == 0 {
		return envelope{}, badRequest("cannot decode body as JSON: empty body")
	}
	if data[0] != '{' && data[0] != '[' {
		return envelope{}, badRequest("cannot decode body as JSON: expected an object or an array")
	}
	v, err := decodeJSON(data)
	if err != nil {
		return envelope{}, badRequest("cannot decode body as JSON: %v", err)
	}
	switch x := v.(type) {
	case []any:
		return envelope{items: x, batch: true}, nil
	case map[string]any:
		return splitObject(x)
	}
	return envelope{}, badRequest("cannot decode body as JSON: expected an object or an array")
}

func splitObject(top map[string]any) (envelope, *Error) {
	b, ok := top["batch"]
	if !ok {
		return envelope{top: top, items: []any{top}}, nil
	}
	env := envelope{top: top, batch: true}
	switch x := b.(type) {
	case nil:
		return env, nil
	case []any:
		env.items = x
		return env, nil
	}
	return envelope{}, badField("batch", "must be an array of events")
}

var errTrailingData = errors.New("unexpected data after the JSON value")

// decodeJSON decodes exactly one JSON value with numbers as json.Number:
// fastDecode for the text SDKs send, encoding/json for the rest and for
// naming what is wrong.
func decodeJSON(data []byte) (any, error) {
	if v, ok := fastDecode(data); ok {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("unexpected end of JSON input")
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailingData
	}
	return v, nil
}

// topString reads a string field of the top-level object; "" when absent or
// not a string.
func (e envelope) topString(key string) string {
	return stringField(e.top, key)
}

// rawItem is one event of the request, as an object, with its position.
type rawItem struct {
	index int // position in the batch; -1 for a single event
	m     map[string]any
}

// checkItems keeps the items that are objects of at most maxItem bytes of
// JSON. The others are reported as invalid instead of failing the request,
// so the rest of the batch is still stored. Sizes are measured only when the
// whole payload is larger than maxItem: otherwise no item can be.
func checkItems(env envelope, payloadLen, maxItem int) ([]rawItem, []*Error) {
	items := make([]rawItem, 0, len(env.items))
	var invalid []*Error
	for i, v := range env.items {
		idx := i
		if !env.batch {
			idx = -1
		}
		m, ok := v.(map[string]any)
		if !ok {
			invalid = append(invalid, badField(itemField(idx, ""), "must be an object"))
			continue
		}
		if payloadLen > maxItem && encodedSize(m) > maxItem {
			invalid = append(invalid, &Error{Status: http.StatusRequestEntityTooLarge, Field: itemField(idx, ""), Msg: "event too large: over " + size(maxItem)})
			continue
		}
		items = append(items, rawItem{index: idx, m: m})
	}
	return items, invalid
}

// encodedSize is the length of m's JSON encoding; the decoded values of a
// JSON document always encode.
func encodedSize(m map[string]any) int {
	b, err := json.Marshal(m)
	if err != nil {
		return 0
	}
	return len(b)
}
