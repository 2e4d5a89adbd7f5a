package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// postHogPayload turns a PostHog request into the JSON text of its events,
// undoing every encoding the SDKs use: gzip (header, parameter or magic
// bytes), form bodies (`data=`), base64 and lz-string.
func postHogPayload(r Request, limit int) ([]byte, *Error) {
	raw, fromQuery := r.Body, false
	if len(raw) == 0 {
		// GET requests (and some image-pixel clients) carry the data in the URL.
		raw, fromQuery = []byte(r.Query.Get("data")), true
	}
	compression := strings.ToLower(r.Query.Get("compression"))
	if fromQuery {
		return decodePayload(raw, compression, limit)
	}
	raw, err := gunzipTransport(raw, r.Header, limit)
	if err != nil {
		return nil, err
	}
	if isForm(r.Header, raw) {
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
	}
	return decodePayload(raw, compression, limit)
}

// decodePayload undoes the `compression` parameter. Clients are not always
// truthful about it, so a payload that already looks like JSON is taken as
// JSON, and one that does not is tried as base64.
func decodePayload(raw []byte, compression string, limit int) ([]byte, *Error) {
	if looksLikeJSON(raw) {
		return raw, nil
	}
	if isGzip(raw) {
		return gunzip(raw, limit)
	}
	if compression == "lz64" || compression == "lz-string" {
		s, err := decompressLZBase64(string(raw), limit)
		if err != nil {
			if errors.Is(err, errLZTooLarge) {
				return nil, tooLarge("request body too large: over %s decompressed", size(limit))
			}
			return nil, badRequest("cannot decompress lz64 body: %v", err)
		}
		return []byte(s), nil
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
		return gunzip(decoded, limit)
	}
	return decoded, nil
}

// gunzipTransport undoes gzip at the transport level: by Content-Encoding
// or by the magic bytes, because posthog-js sends gzip as text/plain with no
// hint at all.
func gunzipTransport(raw []byte, h http.Header, limit int) ([]byte, *Error) {
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	switch {
	case isGzip(raw):
		return gunzip(raw, limit)
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
// gzip bomb cannot make us allocate gigabytes.
func gunzip(b []byte, limit int) ([]byte, *Error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, badRequest("cannot decompress gzip body: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, badRequest("cannot decompress gzip body: %v", err)
	}
	if len(out) > limit {
		return nil, tooLarge("request body too large: over %s decompressed", size(limit))
	}
	return out, nil
}

// isForm recognises form bodies by their content type, or by a data field
// (some clients send forms as text/plain). JSON, base64 and lz64 never
// contain "&data=" nor start with "data=".
func isForm(h http.Header, raw []byte) bool {
	if bytes.HasPrefix(raw, []byte("data=")) || bytes.Contains(raw, []byte("&data=")) {
		return !looksLikeJSON(raw)
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

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
