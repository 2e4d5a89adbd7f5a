package flags

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// AppendDetails appends json.Marshal(Details(rs)) to dst, byte for byte,
// without reflection or the map: /flags?v=2 encodes one per request. rs
// must be in strictly increasing key order (as evaluations answer);
// otherwise it falls back to json.Marshal.
func AppendDetails(dst []byte, rs []Result) []byte {
	for i := 1; i < len(rs); i++ {
		if rs[i-1].Key >= rs[i].Key {
			b, _ := json.Marshal(Details(rs)) // FlagDetail always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '{')
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, r.Key)
		dst = append(dst, `:{"key":`...)
		dst = appendString(dst, r.Key)
		dst = append(dst, `,"enabled":`...)
		dst = strconv.AppendBool(dst, r.Enabled)
		dst = append(dst, `,"variant":`...)
		if r.Enabled && r.Variant != "" {
			dst = appendString(dst, r.Variant)
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, `,"reason":{"code":`...)
		dst = appendString(dst, string(r.Reason))
		dst = append(dst, `,"condition_index":`...)
		if r.ConditionIndex >= 0 {
			dst = strconv.AppendInt(dst, int64(r.ConditionIndex), 10)
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, `,"description":`...)
		dst = appendString(dst, r.Reason.Description(r.ConditionIndex))
		dst = append(dst, `},"metadata":{"id":`...)
		dst = strconv.AppendInt(dst, r.ID, 10)
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendInt(dst, r.Version, 10)
		dst = append(dst, `,"description":null,"payload":`...)
		if r.Enabled && r.Payload != nil {
			dst = appendString(dst, string(r.Payload))
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, "}}"...)
	}
	return append(dst, '}')
}

// appendString appends s as encoding/json writes a string: plain
// printable ASCII as is, anything else (escapes, HTML characters,
// non-ASCII, invalid UTF-8) through json.Marshal itself.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // strings always encode
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
