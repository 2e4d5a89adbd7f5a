package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// postHogPayload turns a PostHog request into the JSON text of its events,
// undoing every encoding the SDKs use: gzip (header, parameter or magic
// bytes), form bodies (`data=`), base64 and lz-string.
func postHogPayload(r Request, limit int, b *bounds) ([]byte, *Error) {
	raw, fromQuery := r.Body, false
	if len(raw) == 0 {
		// GET requests (and some image-pixel clients) carry the data in the URL.
		raw, fromQuery = []byte(r.Query.Get("data")), true
	}
	compression := strings.ToLower(r.Query.Get("compression"))
	if fromQuery {
		return decodePayload(raw, compression, limit, b)
	}
	raw, err := gunzipTransport(raw, r.Header, limit, b)
	if err != nil {
		return nil, err
	}
	if isForm(r.Header, raw) {
		// The form is copied to a string, then its values are unescaped.
		if err := take(b.mem, 2*len(raw)); err != nil {
			return nil, err
		}
		form, perr := url.ParseQuery(string(raw))
		if perr != nil {
			return nil, badRequest("cannot decode form body: %v", perr)
		}
		if c := form.Get("compression"); c != "" {
			compression = strings.ToLower(c)
		}
		if !form.Has("data") {
			return nil, badField("data", "missing form field")
		}
		raw = []byte(form.Get("data"))
		b.charged = 0 // what was charged was for the form, not its data
	}
	return decodePayload(raw, compression, limit, b)
}

// decodePayload undoes the `compression` parameter. Clients are not always
// truthful about it, so a payload that already looks like JSON is taken as
// JSON, and one that does not is tried as base64.
func decodePayload(raw []byte, compression string, limit int, b *bounds) ([]byte, *Error) {
	if looksLikeJSON(raw) {
		return raw, nil
	}
	if isGzip(raw) {
		return gunzip(raw, limit, b)
	}
	if compression == "lz64" || compression == "lz-string" {
		return decompressLZ(raw, limit, b)
	}
	// A string of it, a copy without whitespace, then decodings of that.
	if err := take(b.mem, 3*len(raw)); err != nil {
		return nil, err
	}
	decoded, ok := decodeBase64(raw)
	if !ok {
		if compression == "base64" {
			return nil, badRequest("cannot decode body as base64")
		}
		// Let the JSON decoder name what is wrong with it.
		return raw, nil
	}
	if isGzip(decoded) {
		return gunzip(decoded, limit, b)
	}
	return decoded, nil
}

// lzBytesPerUnit is what lz-string decompression holds per unit of output
// it is allowed: the UTF-16 buffer with append's slack, its UTF-8 copy and
// the string made of that (ASCII JSON).
const lzBytesPerUnit = 6

// decompressLZ undoes lz64 within the bounds. A few bytes of lz-string
// can stand for megabytes, so each try is allowed an output whose memory
// is reserved first, starting in proportion to the input and growing 4×
// up to limit; what the result does not need is given back.
func decompressLZ(raw []byte, limit int, b *bounds) ([]byte, *Error) {
	units := limit
	if b.mem != nil {
		units = min(limit, max(16*len(raw), 64<<10))
	}
	if err := take(b.mem, len(raw)); err != nil {
		return nil, err
	}
	text := string(raw)
	for {
		if err := take(b.mem, units*lzBytesPerUnit); err != nil {
			return nil, err
		}
		s, err := decompressLZBase64(text, units)
		switch {
		case err == nil:
			// Kept: the string and the []byte copy of it.
			if err := adjust(b.mem, units*lzBytesPerUnit, 2*len(s)); err != nil {
				return nil, err
			}
			return []byte(s), nil
		case !errors.Is(err, errLZTooLarge):
			return nil, badRequest("cannot decompress lz64 body: %v", err)
		case units >= limit:
			return nil, tooLarge("request body too large: over %s decompressed", size(limit))
		}
		free(b.mem, units*lzBytesPerUnit)
		units = min(limit, 4*units)
	}
}

// gunzipTransport undoes gzip at the transport level: by Content-Encoding
// or by the magic bytes, because posthog-js sends gzip as text/plain with no
// hint at all.
func gunzipTransport(raw []byte, h http.Header, limit int, b *bounds) ([]byte, *Error) {
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	switch {
	case isGzip(raw):
		return gunzip(raw, limit, b)
	case enc == "gzip" || enc == "x-gzip":
		if len(raw) == 0 {
			return raw, nil
		}
		return nil, badRequest("cannot decompress gzip body: not gzip data")
	case enc == "" || enc == "identity":
		return raw, nil
	default:
		return nil, badRequest("cannot decode body: unsupported Content-Encoding %q", enc)
	}
}

func isGzip(b []byte) bool {
	return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
}

// gunzip reads at most limit bytes out of a gzip stream, so that a small
// gzip bomb cannot make us allocate gigabytes, into a buffer that grows as
// it is inflated, each growth reserved first, and what decoding the JSON
// inflated so far will cost too (bounds.prefix): a bomb is stopped by its
// first megabytes rather than after its last.
func gunzip(data []byte, limit int, b *bounds) ([]byte, *Error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, badRequest("cannot decompress gzip body: %v", err)
	}
	out, err := readGrowing(zr, max(initialBuffer, 8*len(data)), limit, b.mem, b.prefix)
	var e *Error
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, errOverLimit):
		return nil, tooLarge("request body too large: over %s decompressed", size(limit))
	case errors.As(err, &e):
		return nil, e
	}
	return nil, badRequest("cannot decompress gzip body: %v", err)
}

// isForm recognises form bodies by their content type, or by a data field
// (some clients send forms as text/plain). JSON, base64 and lz64 never
// contain "&data=" nor start with "data=".
func isForm(h http.Header, raw []byte) bool {
	if bytes.HasPrefix(raw, []byte("data=")) || bytes.Contains(raw, []byte("&data=")) {
		return !looksLikeJSON(raw)
	}
	ct := h.Get("Content-Type")
	if len(ct) < len(formType) {
		return false // a media type is never longer than its header; skips ParseMediaType's allocation
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == formType
}

const formType = "application/x-www-form-urlencoded"

func looksLikeJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// decodeBase64 accepts the standard and URL alphabets, with or without
// padding. A '+' that reached us as a space (form decoding of an unescaped
// '+') is put back.
func decodeBase64(raw []byte) ([]byte, bool) {
	s := strings.Map(func(r rune) rune {
		switch r {
		case ' ':
			return '+'
		case '\r', '\n', '\t':
			return -1
		}
		return r
	}, string(raw))
	if s == "" {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if out, err := enc.DecodeString(s); err == nil {
			return out, true
		}
	}
	return nil, false
}

// size writes a byte limit the way people say it (2 MB, 32 KB).
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KB"
	}
	return strconv.Itoa(n) + " bytes"
}

// reserver is charged for memory before it is taken: a request's hold.
type reserver interface {
	reserve(n int64) *Error
	free(n int64)
}

// take reserves n bytes from mem; a nil mem reserves nothing.
func take(mem reserver, n int) *Error {
	if mem == nil || n <= 0 {
		return nil
	}
	return mem.reserve(int64(n))
}

func free(mem reserver, n int) {
	if mem != nil && n > 0 {
		mem.free(int64(n))
	}
}

// adjust turns a reservation of had bytes into one of want.
func adjust(mem reserver, had, want int) *Error {
	if want > had {
		return take(mem, want-had)
	}
	free(mem, had-want)
	return nil
}

// bounds is what the handler adds to decoding: each step's memory is
// reserved before it is taken, and the tokens at the top of the body are
// checked before its events are decoded. The zero value bounds nothing
// (DecodePostHog and DecodeSegment stay pure functions, for fuzzing and
// imports).
type bounds struct {
	mem   reserver
	token func(token string) *Error // nil: tokens are checked after decoding
	// charged is the decoding cost already reserved for the JSON being
	// inflated (prefix), which split then only tops up.
	charged int
}

// prefix checks JSON text as it is being inflated: past maxEvents events
// it stops it, and what decoding the text so far will cost is reserved.
func (b *bounds) prefix(text []byte) *Error {
	if b.mem == nil || !looksLikeJSON(text) {
		return nil
	}
	o, _ := outlineJSON(text) // a prefix: its counts so far
	if o.events > maxEvents {
		return tooManyEvents()
	}
	cost := decodeCost(len(text), o)
	if err := take(b.mem, cost-b.charged); err != nil {
		return err
	}
	b.charged = max(cost, b.charged)
	return nil
}

func tooManyEvents() *Error {
	return tooLarge("too many events in one request: over %d; send smaller batches", maxEvents)
}

// maxEvents caps the events of one request, so that a body of tiny or
// empty events is refused by its first few hundred kilobytes, and the list
// of skipped events in an answer stays short. PostHog's 20 MB at 100 000
// events is 200 bytes an event, less than any SDK's events; SDKs send 100
// to 1000 at a time. posthog-node halves a batch answered 413.
const maxEvents = 100_000

// The decoded form of JSON (maps, interfaces, strings) costs more than its
// text: SDK events keep about 3× their bytes, each object or array some 60
// bytes and each further value some 30 (TestDecodeCostCovers: a text of
// `{},` keeps 26× its size, one of `1,` 16×). These costs, with room for
// the garbage decoding leaves, are reserved before a body is decoded, so
// that text made of tiny values is charged for what it becomes.
const (
	decodePerByte      = 4
	decodePerValue     = 32
	decodePerContainer = 128
)

// decodeCost is the memory reserved to decode a JSON text outlined as o.
func decodeCost(n int, o outline) int {
	return decodePerByte*n + decodePerValue*o.values + decodePerContainer*o.containers
}

// split is splitBody and checkItems within the bounds. An outline of the
// JSON, taken without allocating, refuses more than maxEvents events, has
// the tokens at the top checked (api_key may come before or after batch)
// and the decoding's memory reserved, all before any of it is decoded.
func (b *bounds) split(payload []byte, maxItem int, tokens func(outline) []string) (envelope, []rawItem, []*Error, *Error) {
	o, ok := outlineJSON(payload)
	if !ok {
		return envelope{}, nil, nil, b.notJSON(payload)
	}
	if o.events > maxEvents {
		return envelope{}, nil, nil, tooManyEvents()
	}
	if b.token != nil && o.events > 0 {
		for _, t := range tokens(o) {
			if err := b.token(t); err != nil {
				return envelope{}, nil, nil, err
			}
		}
	}
	if err := take(b.mem, decodeCost(len(payload), o)-b.charged); err != nil {
		return envelope{}, nil, nil, err
	}
	env, err := splitBody(payload)
	if err != nil {
		return envelope{}, nil, nil, err
	}
	items, invalid := checkItems(env, len(payload), maxItem)
	return env, items, invalid, nil
}

// notJSON names what is wrong with a text outlineJSON refused. Invalid
// JSON fails splitBody's syntax scan, on its copy of the text, before
// anything is decoded.
func (b *bounds) notJSON(payload []byte) *Error {
	if !json.Valid(bytes.TrimLeft(payload, " \t\r\n\ufeff")) {
		if err := take(b.mem, len(payload)); err != nil {
			return err
		}
		if _, err := splitBody(payload); err != nil {
			return err
		}
	}
	return badRequest("cannot decode body as JSON: expected an object or an array")
}

// postHogTopTokens are the tokens at the top of a PostHog body, as
// postHogToken reads them: a batch's api_key and token, or a single
// event's first of token, $token and api_key.
func postHogTopTokens(o outline) []string {
	if !o.object {
		return nil
	}
	if o.hasBatch {
		var ts tokenSet
		ts.add(o.field("api_key"))
		ts.add(o.field("token"))
		return ts
	}
	for _, k := range []string{"token", "$token", "api_key"} {
		if v := o.field(k); v != "" {
			return []string{v}
		}
	}
	return nil
}

// segmentTopTokens: the writeKey at the top of a batch or of a single
// call (where it is the call's own).
func segmentTopTokens(o outline) []string {
	if v := o.field("writeKey"); o.object && v != "" {
		return []string{v}
	}
	return nil
}

// outline is what one pass over a JSON text finds without decoding it.
type outline struct {
	events     int  // top-level events: a bare array's elements, a batch's, else 1
	object     bool // the text is an object, not a bare array
	hasBatch   bool // an object with a batch field
	values     int  // values and object members, at any depth
	containers int  // objects and arrays, at any depth
	fields     [len(outlineKeys)]string
}

// outlineKeys are the top-level string fields an outline keeps.
var outlineKeys = [...]string{"api_key", "token", "$token", "writeKey"}

func (o *outline) field(key string) string {
	for i, k := range outlineKeys {
		if k == key {
			return o.fields[i]
		}
	}
	return ""
}

func (o *outline) setField(key, raw []byte) {
	for i, k := range outlineKeys {
		if string(key) == k {
			s, _ := unquote(raw) // "" for a value that is not a string
			o.fields[i] = s
		}
	}
}

// outlineJSON outlines a JSON text as splitBody reads it; ok is false when
// the text is not shaped as JSON (splitBody then says what is wrong). It
// skips over values without checking their syntax, so it is linear and
// allocates nothing but the fields it keeps. Every batch field counts:
// the JSON decoder decodes each one, though only the last is kept.
func outlineJSON(data []byte) (o outline, ok bool) {
	data = bytes.TrimLeft(data, " \t\r\n\ufeff")
	var end int
	switch {
	case len(data) == 0:
		return o, false
	case data[0] == '[':
		o.events, end, ok = o.array(data, 0)
	case data[0] == '{':
		o.object = true
		end, ok = o.members(data)
		if !o.hasBatch {
			o.events = 1
		}
	default:
		return o, false
	}
	return o, ok && skipSpace(data, end) == len(data)
}

// members outlines the top-level object at data[0].
func (o *outline) members(data []byte) (int, bool) {
	o.containers++
	i := skipSpace(data, 1)
	if i < len(data) && data[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return i, false
		}
		kend, ok := skipString(data, i)
		if !ok {
			return kend, false
		}
		key, ok := outlineKey(data[i:kend])
		if i = skipSpace(data, kend); !ok || i >= len(data) || data[i] != ':' {
			return i, false
		}
		o.values++
		start := skipSpace(data, i+1)
		if i, ok = o.member(data, start, key); !ok {
			return i, false
		}
		if i = skipSpace(data, i); i >= len(data) {
			return i, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// member outlines the value of top-level field key at data[i].
func (o *outline) member(data []byte, i int, key []byte) (int, bool) {
	if string(key) == "batch" {
		o.hasBatch = true
		if i < len(data) && data[i] == '[' {
			n, end, ok := o.array(data, i)
			o.events += n
			return end, ok
		}
	}
	end, ok := o.skipValue(data, i)
	if ok {
		o.setField(key, data[i:end])
	}
	return end, ok
}

// array counts the elements of the array at data[i].
func (o *outline) array(data []byte, i int) (n, end int, ok bool) {
	o.containers++
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return 0, i + 1, true
	}
	for {
		if i, ok = o.skipValue(data, i); !ok {
			return n, i, false
		}
		n++
		if i = skipSpace(data, i); i >= len(data) {
			return n, i, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return n, i + 1, true
		default:
			return n, i, false
		}
	}
}

// skipValue returns the end of the value at data[i], counting the values
// and containers in it.
func (o *outline) skipValue(data []byte, i int) (int, bool) {
	o.values++
	if i >= len(data) {
		return i, false
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		return o.skipNested(data, i)
	}
	for i < len(data) && !endsScalar(data[i]) {
		i++
	}
	return i, true
}

func endsScalar(c byte) bool {
	switch c {
	case ',', ':', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// skipNested returns the end of the object or array at data[i].
func (o *outline) skipNested(data []byte, i int) (int, bool) {
	depth := 0
	for i < len(data) {
		switch data[i] {
		case '"':
			end, ok := skipString(data, i)
			if !ok {
				return end, false
			}
			i = end
			continue
		case '{', '[':
			depth++
			o.containers++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1, true
			}
		case ',':
			o.values++
		}
		i++
	}
	return i, false
}

// skipString returns the end of the string whose quote is at data[i].
func skipString(data []byte, i int) (int, bool) {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// outlineKey is the text of a member's key: the bytes between the quotes
// when it has no escapes (no copy: members are only compared), else
// unquoted.
func outlineKey(raw []byte) ([]byte, bool) {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true
	}
	s, ok := unquote(raw)
	return []byte(s), ok
}

// unquote reads a JSON string; ok is false for anything else.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if !bytes.ContainsAny(raw, "\\") {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
