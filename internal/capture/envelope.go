package capture

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// envelope is the top level of a request body, split without decoding the
// events yet, so that each event's size can be checked on its raw bytes.
type envelope struct {
	// top holds the fields of a top-level object (batch fields such as
	// api_key and sent_at, or the single event's own fields); nil for a bare
	// array.
	top map[string]json.RawMessage
	// items are the raw events.
	items []json.RawMessage
	// batch is true when items came from an array, so error fields name
	// them batch[i].
	batch bool
}

// splitBody reads a bare array of events, an object with a `batch` array,
// or a single event object.
func splitBody(data []byte) (envelope, *Error) {
	data = bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(data) == 0 {
		return envelope{}, badRequest("cannot decode body as JSON: empty body")
	}
	switch data[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return envelope{}, badRequest("cannot decode body as JSON: %v", err)
		}
		return envelope{items: items, batch: true}, nil
	case '{':
		return splitObject(data)
	}
	return envelope{}, badRequest("cannot decode body as JSON: expected an object or an array")
}

func splitObject(data []byte) (envelope, *Error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return envelope{}, badRequest("cannot decode body as JSON: %v", err)
	}
	raw, ok := top["batch"]
	if !ok {
		return envelope{top: top, items: []json.RawMessage{data}}, nil
	}
	env := envelope{top: top, batch: true}
	if isJSONNull(raw) {
		return env, nil
	}
	if err := json.Unmarshal(raw, &env.items); err != nil {
		return envelope{}, badField("batch", "must be an array of events")
	}
	return env, nil
}

func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// topString reads a string field of the top-level object; "" when absent or
// not a string.
func (e envelope) topString(key string) string {
	raw, ok := e.top[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// topValue decodes a field of the top-level object with numbers kept as
// json.Number; nil when absent or malformed.
func (e envelope) topValue(key string) any {
	raw, ok := e.top[key]
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// rawItem is one event of the request, decoded, with its position.
type rawItem struct {
	index int // position in the batch; -1 for a single event
	m     map[string]any
}

// decodeItems decodes every raw event into an object. Items that are too
// large or not objects are reported as invalid instead of failing the
// request, so the rest of the batch is still stored.
func decodeItems(env envelope, maxItem int) ([]rawItem, []*Error) {
	items := make([]rawItem, 0, len(env.items))
	var invalid []*Error
	for i, raw := range env.items {
		idx := i
		if !env.batch {
			idx = -1
		}
		if len(raw) > maxItem {
			invalid = append(invalid, &Error{Status: http.StatusRequestEntityTooLarge, Field: itemField(idx, ""), Msg: "event too large: over " + size(maxItem)})
			continue
		}
		m, ok := decodeObject(raw)
		if !ok {
			invalid = append(invalid, badField(itemField(idx, ""), "must be an object"))
			continue
		}
		items = append(items, rawItem{index: idx, m: m})
	}
	return items, invalid
}
