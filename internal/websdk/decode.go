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
)

// maxFlagsBody bounds a /flags body, raw and decompressed: it holds a
// distinct id and the properties a client evaluates flags against (a few
// KB from posthog-js). Decoding JSON takes up to ~25 × its size (`{}`
// objects), and these bodies are not counted in capture's memory budget,
// so the bound is kept small.
const maxFlagsBody = 256 << 10

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
func DecodeFlagsRequest(h http.Header, query url.Values, body []byte) (FlagsRequest, error) {
	payload, err := flagsPayload(h, query, body)
	if err != nil {
		return FlagsRequest{}, err
	}
	var req FlagsRequest
	if len(bytes.TrimSpace(payload)) > 0 {
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
	if req.DistinctID, err = stringField(fields, "distinct_id"); err != nil {
		return req, err
	}
	if req.AnonDistinctID, err = stringField(fields, "$anon_distinct_id"); err != nil {
		return req, err
	}
	if err = objectField(fields, "groups", &req.Groups); err != nil {
		return req, err
	}
	if err = objectField(fields, "person_properties", &req.PersonProperties); err != nil {
		return req, err
	}
	if err = objectField(fields, "group_properties", &req.GroupProperties); err != nil {
		return req, err
	}
	if err = objectField(fields, "flag_keys", &req.FlagKeys); err != nil {
		return req, err
	}
	return req, nil
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
