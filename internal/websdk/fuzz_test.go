package websdk

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// FuzzDecodeFlagsRequest: whatever a client sends to /flags, the decoder
// answers a request or a 4xx *DecodeError, and never panics; the token
// peekFlagsToken reads before the decode, when it reads one, is the
// decoded request's. The seeds (testdata/fuzz) hold each encoding the
// SDKs use.
func FuzzDecodeFlagsRequest(f *testing.F) {
	body := `{"token":"jpt_a","distinct_id":"u1","$anon_distinct_id":"a1","groups":{"company":"acme"},"person_properties":{"plan":"pro"},"group_properties":{"company":{"mrr":10}},"flag_keys":["beta"]}`
	b64 := base64.StdEncoding.EncodeToString([]byte(body))
	f.Add("application/json", "", "v=2", []byte(body))
	f.Add("text/plain", "", "v=2&compression=gzip-js", gz([]byte(body)))
	f.Add("application/json", "gzip", "v=2", gz([]byte(body)))
	f.Add("application/x-www-form-urlencoded", "", "v=2&compression=base64", []byte("data="+url.QueryEscape(b64)))
	f.Add("", "", "v=2&data="+url.QueryEscape(b64), []byte(nil))
	f.Add("", "", "token=jpt_a", []byte(nil))
	f.Add("text/plain", "", "", []byte(`{"api_key":123,"distinct_id":4.5e3}`))
	f.Add("", "", "", []byte(base64.RawURLEncoding.EncodeToString(gz([]byte(body)))))
	f.Add("application/json", "", "token=q", []byte(`{"token":"","api_key":12e3,"$token":"t","x":{"token":"no"},"token":null}`))
	f.Add("application/json", "", "", []byte(`{"a":"\"}","token":"t1","token":"t2"} trailing`))
	f.Add("application/json", "", "", []byte(`{"token":"x","api_key":"k"}`))
	f.Fuzz(func(t *testing.T, contentType, contentEncoding, query string, body []byte) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set("Content-Encoding", contentEncoding)
		q, _ := url.ParseQuery(query)
		req, err := DecodeFlagsRequest(h, q, body)
		if payload, perr := flagsPayload(h, q, body); perr == nil && err == nil {
			if token, ok := peekFlagsToken(payload, q); ok && token != req.Token {
				t.Fatalf("peeked token %q, decoded %q", token, req.Token)
			}
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Status < 400 || de.Status > 499 || de.Msg == "" {
				t.Fatalf("error %v (%T), want a 4xx *DecodeError with a message", err, err)
			}
			return
		}
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("decoded request cannot be encoded: %v", err)
		}
	})
}

// FuzzDecodeOFREP: whatever an OFREP client sends, the decoder answers a
// targeting key and properties, or an *OFREPError with one of the
// protocol's codes; it never panics.
func FuzzDecodeOFREP(f *testing.F) {
	for _, seed := range []string{
		`{"context":{"targetingKey":"u1","plan":"pro","n":3,"tags":["a"],"nested":{"x":null}}}`,
		`{"context":{"targetingKey":"u1"}}`, `{"context":{}}`, `{"context":null}`, `{"context":[]}`,
		`{"context":{"targetingKey":5}}`, `{}`, `[]`, `null`, ``, `{"context":{"targetingKey":"` + "\xff" + `"}}`,
		`{"context":{"targetingKey":"u","targetingKey":"v"}}`,
	} {
		f.Add([]byte(seed))
	}
	codes := map[string]bool{OFREPParseError: true, OFREPTargetingKeyMissing: true, OFREPInvalidContext: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeOFREP(body)
		if err != nil {
			var oe *OFREPError
			if !errors.As(err, &oe) || !codes[oe.Code] || oe.Details == "" {
				t.Fatalf("error %v (%T), want an *OFREPError with a code and details", err, err)
			}
			return
		}
		if req.TargetingKey == "" {
			t.Fatal("no targeting key and no error")
		}
		if _, ok := req.Properties["targetingKey"]; ok {
			t.Fatal("the targeting key is also a property")
		}
		if _, err := json.Marshal(req.Properties); err != nil {
			t.Fatalf("properties cannot be encoded: %v", err)
		}
	})
}
