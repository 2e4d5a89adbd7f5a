package websdk

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
)

// maxFlagsBody bounds a /flags body, raw and decompressed: it holds a
// distinct id and the properties a client evaluates flags against (a few
// KB from posthog-js). Decoding JSON takes up to ~25 × its size (`{}`
// objects), and these bodies are not counted in capture's memory budget,
// so the bound is kept small.
const maxFlagsBody = 256 << 10

// Bounds on what a /flags or OFREP request carries (400 past them): ids
// as capture stores them, properties as flags compare them.
const (
	// maxRequestProperties bounds the properties of one object
	// (person_properties, one group's group_properties, an OFREP context).
	maxRequestProperties = 1000
	// maxPropertyKeyLen: no filter names a longer key.
	maxPropertyKeyLen = 1000
	// maxPropertyValueLen: flags compare no longer value (as JSON).
	maxPropertyValueLen = flags.MaxMatchLen
	// maxRequestGroups bounds groups and group_properties (PostHog has 5
	// group types).
	maxRequestGroups = 16
	// maxGroupTypeLen is a group type name's bound (the group type
	// mapping's); maxGroupKeyLen a group key's.
	maxGroupTypeLen = 400
	maxGroupKeyLen  = 1000
)

// FlagsRequest is what a /flags (or /decide) call asks for, as posthog-js,
// posthog-node and the other PostHog SDKs send it.
type FlagsRequest struct {
	Token            string
	DistinctID       string
	AnonDistinctID   string
	Groups           map[string]any
	PersonProperties map[string]any
	GroupProperties  map[string]map[string]any
	FlagKeys         []string
}

// DecodeError is a request that cannot be decoded: 400, or 413 when too
// large.
type DecodeError struct {
	Status int
	Msg    string
}

func (e *DecodeError) Error() string { return e.Msg }

func badFlags(format string, args ...any) *DecodeError {
	return &DecodeError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// DecodeFlagsRequest undoes every encoding PostHog SDKs use for /flags:
// JSON; gzip (by Content-Encoding or by its magic bytes, as posthog-js
// sends it as text/plain); a form or bare body of base64 (`data=`); and
// GET with the payload in ?data= or only ?token=. A token in the query
// counts when the body has none. It never returns an error other than
// *DecodeError.
//
// Ids over flagserve.MaxDistinctIDLen characters, and properties past the
// bounds above, are refused (400) naming the field.
func DecodeFlagsRequest(h http.Header, query url.Values, body []byte) (FlagsRequest, error) {
	payload, err := flagsPayload(h, query, body)
	if err != nil {
		return FlagsRequest{}, err
	}
	return decodeFlagsPayload(payload, query)
}

// decodeFlagsPayload is DecodeFlagsRequest past the encodings: the JSON
// (or nothing) and the query.
func decodeFlagsPayload(payload []byte, query url.Values) (FlagsRequest, error) {
	var req FlagsRequest
	if len(bytes.TrimSpace(payload)) > 0 {
		var err error
		if req, err = parseFlags(payload); err != nil {
			return FlagsRequest{}, err
		}
	}
	if req.Token == "" {
		req.Token = firstNonEmpty(query.Get("token"), query.Get("api_key"))
	}
	return req, nil
}

func flagsPayload(h http.Header, query url.Values, body []byte) ([]byte, error) {
	if len(body) == 0 {
		return decodeText([]byte(query.Get("data")))
	}
	body, err := gunzipBody(h, body)
	if err != nil {
		return nil, err
	}
	if isForm(h, body) {
		form, perr := url.ParseQuery(string(body))
		if perr != nil {
			return nil, badFlags("cannot decode form body: %v", perr)
		}
		if !form.Has("data") {
			return nil, badFlags(`invalid field "data": missing form field`)
		}
		body = []byte(form.Get("data"))
	}
	return decodeText(body)
}

// decodeText takes JSON as it is and anything else as base64 (of JSON or
// of gzip).
func decodeText(b []byte) ([]byte, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] == '{' || t[0] == '[' {
		return b, nil
	}
	if isGzip(t) {
		return gunzip(t)
	}
	decoded, ok := decodeBase64(string(t))
	if !ok {
		return b, nil // let the JSON decoder name what is wrong
	}
	if isGzip(decoded) {
		return gunzip(decoded)
	}
	return decoded, nil
}

func gunzipBody(h http.Header, b []byte) ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	switch {
	case isGzip(b):
		return gunzip(b)
	case enc == "gzip" || enc == "x-gzip":
		return nil, badFlags("cannot decompress gzip body: not gzip data")
	case enc == "" || enc == "identity":
		return b, nil
	}
	return nil, badFlags("cannot decode body: unsupported Content-Encoding %q", enc)
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// gunzip stops at maxFlagsBody, so a small gzip bomb cannot take memory.
func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, badFlags("cannot decompress gzip body: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxFlagsBody+1))
	if err != nil {
		return nil, badFlags("cannot decompress gzip body: %v", err)
	}
	if len(out) > maxFlagsBody {
		return nil, &DecodeError{Status: http.StatusRequestEntityTooLarge, Msg: "request body too large: over 256 KiB decompressed"}
	}
	return out, nil
}

// isForm: a urlencoded content type, or a body that starts with data=
// (posthog-js's base64 bodies are sent as forms; some clients say
// text/plain).
func isForm(h http.Header, b []byte) bool {
	if bytes.HasPrefix(b, []byte("data=")) || bytes.Contains(b, []byte("&data=")) {
		t := bytes.TrimSpace(b)
		return len(t) == 0 || (t[0] != '{' && t[0] != '[')
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// decodeBase64 takes the standard and URL alphabets, padded or not (form
// decoding may have turned + into a space).
func decodeBase64(s string) ([]byte, bool) {
	s = strings.ReplaceAll(s, " ", "+")
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// parseFlags reads the JSON object; the SDKs' fields have loose types
// (a numeric distinct_id is a string in PostHog), so each is read apart.
func parseFlags(payload []byte) (FlagsRequest, error) {
	var fields map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&fields); err != nil || fields == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		return FlagsRequest{}, badFlags("cannot decode body as a JSON object: %v", err)
	}
	var req FlagsRequest
	var err error
	if req.Token, err = stringField(fields, "token", "api_key", "$token"); err != nil {
		return req, err
	}
	if req.DistinctID, err = idField(fields, "distinct_id"); err != nil {
		return req, err
	}
	if req.AnonDistinctID, err = idField(fields, "$anon_distinct_id"); err != nil {
		return req, err
	}
	if req.Groups, err = groupsField(fields, "groups"); err != nil {
		return req, err
	}
	if req.PersonProperties, err = propertiesField(fields, "person_properties"); err != nil {
		return req, err
	}
	if req.GroupProperties, err = groupPropertiesField(fields, "group_properties"); err != nil {
		return req, err
	}
	if err = objectField(fields, "flag_keys", &req.FlagKeys); err != nil {
		return req, err
	}
	return req, nil
}

// idField is stringField for a distinct id: at most
// flagserve.MaxDistinctIDLen characters (capture truncates longer ids, so
// no stored person has one).
func idField(fields map[string]json.RawMessage, name string) (string, error) {
	s, err := stringField(fields, name)
	if err == nil && !flagserve.ValidDistinctID(s) {
		err = badFlags("invalid field %q: longer than %d characters (the longest distinct id PostHog and Journey store)", name, flagserve.MaxDistinctIDLen)
	}
	return s, err
}

// propertiesField reads an object of properties within the bounds.
func propertiesField(fields map[string]json.RawMessage, name string) (map[string]any, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	return properties(name, raw, func(format string, args ...any) error { return badFlags(format, args...) })
}

// properties decodes raw, an object of at most maxRequestProperties
// properties with keys of maxPropertyKeyLen bytes and values of
// maxPropertyValueLen (as JSON) at most; fail makes the error of a
// message naming the field.
func properties(name string, raw json.RawMessage, fail func(format string, args ...any) error) (map[string]any, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fail("invalid field %q: %v", name, err)
	}
	if len(m) > maxRequestProperties {
		return nil, fail("invalid field %q: %d properties, at most %d", name, len(m), maxRequestProperties)
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if len(k) > maxPropertyKeyLen {
			return nil, fail("invalid field %q: a property key of %d bytes, at most %d", name, len(k), maxPropertyKeyLen)
		}
		if len(v) > maxPropertyValueLen {
			return nil, fail("invalid field %q: the value is %d bytes (as JSON), at most %d", name+"."+clip(k), len(v), maxPropertyValueLen)
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, fail("invalid field %q: %v", name+"."+clip(k), err)
		}
		out[k] = x
	}
	return out, nil
}

// clip shortens a client's key for an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// groupPropertiesField reads {"<group type>": {properties}} within the
// bounds.
func groupPropertiesField(fields map[string]json.RawMessage, name string) (map[string]map[string]any, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, badFlags("invalid field %q: %v", name, err)
	}
	if len(m) > maxRequestGroups {
		return nil, badFlags("invalid field %q: %d group types, at most %d", name, len(m), maxRequestGroups)
	}
	out := make(map[string]map[string]any, len(m))
	for t, v := range m {
		if len(t) > maxGroupTypeLen {
			return nil, badFlags("invalid field %q: a group type of %d bytes, at most %d", name, len(t), maxGroupTypeLen)
		}
		if string(v) == "null" {
			out[t] = nil
			continue
		}
		props, err := properties(name+"."+clip(t), v, func(format string, args ...any) error { return badFlags(format, args...) })
		if err != nil {
			return nil, err
		}
		out[t] = props
	}
	return out, nil
}

// groupsField reads {"<group type>": "<group key>"} within the bounds.
func groupsField(fields map[string]json.RawMessage, name string) (map[string]any, error) {
	var groups map[string]any
	if err := objectField(fields, name, &groups); err != nil {
		return nil, err
	}
	if len(groups) > maxRequestGroups {
		return nil, badFlags("invalid field %q: %d groups, at most %d", name, len(groups), maxRequestGroups)
	}
	for t, v := range groups {
		if len(t) > maxGroupTypeLen {
			return nil, badFlags("invalid field %q: a group type of %d bytes, at most %d", name, len(t), maxGroupTypeLen)
		}
		if k, ok := v.(string); ok && len(k) > maxGroupKeyLen {
			return nil, badFlags("invalid field %q: a group key of %d bytes, at most %d", name+"."+clip(t), len(k), maxGroupKeyLen)
		}
	}
	return groups, nil
}

// stringField reads the first of names present: a string, or a number
// taken as its text; null is absent.
func stringField(fields map[string]json.RawMessage, names ...string) (string, error) {
	for _, name := range names {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			if s != "" {
				return s, nil
			}
			continue
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			return n.String(), nil
		}
		return "", badFlags("invalid field %q: want a string, got %s", name, kindOf(raw))
	}
	return "", nil
}

func objectField(fields map[string]json.RawMessage, name string, dst any) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return badFlags("invalid field %q: %v", name, err)
	}
	return nil
}

func kindOf(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return "a value"
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
