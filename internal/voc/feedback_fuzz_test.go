package voc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// checkInput holds what every accepted input must satisfy: the store's
// bounds, so a decoded body never fails there.
func checkInput(t *testing.T, in Input) {
	t.Helper()
	if in.Text == "" || len(in.Text) > meta.MaxFeedbackText || !utf8.ValidString(in.Text) || strings.ContainsRune(in.Text, 0) {
		t.Fatalf("accepted text %q", in.Text)
	}
	if in.DistinctID == "" || len(in.DistinctID) > MaxDistinctID || !utf8.ValidString(in.DistinctID) {
		t.Fatalf("accepted distinct id %q", in.DistinctID)
	}
	if !validSource(in.Source) || len(in.Tags) > meta.MaxFeedbackTags || len(in.Accounts) > meta.MaxFeedbackLinks || len(in.Attachments) > meta.MaxFeedbackLinks {
		t.Fatalf("accepted %+v", in)
	}
	for _, tag := range in.Tags {
		if tag == "" || len(tag) > meta.MaxFeedbackTag || tag != strings.ToLower(tag) {
			t.Fatalf("accepted tag %q", tag)
		}
	}
}

// refusal checks that an error names a field.
func refusal(t *testing.T, err error) {
	t.Helper()
	var ie *insight.Error
	if !errors.As(err, &ie) || ie.Field == "" {
		t.Fatalf("error %v (%T) names no field", err, err)
	}
}

func FuzzDecodeFeedback(f *testing.F) {
	for _, s := range []string{
		`{"text":"Invoice export fails","distinct_id":"u1","source":"api","tags":["Billing"," export "],"theme_id":3}`,
		`{"text":"송장 내보내기가 실패해요","distinct_id":"u2","account":"acme","attachments":["https://x.example/a.png"]}`,
		`{"text":"x","distinct_id":"u","priority":"urgent","token":"jpt_x"}`,
		`{"text":"","distinct_id":"u"}`, `{"text":"x"}`, `[]`, `{"text":1}`, `{"nope":1}`, `{"text":"a\u0000b","distinct_id":"u"}`,
		`{"text":"x","distinct_id":"u"} {}`, `{"text":"x","distinct_id":"u","theme_id":1e40}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeFeedback(body, meta.SourceAPI)
		if err != nil {
			refusal(t, err)
			return
		}
		checkInput(t, in)
	})
}

func FuzzDecodeInbound(f *testing.F) {
	for _, s := range []string{
		`{"external_id":"ZD-1","subject":"Export fails","body":"since Monday","requester":{"email":"Ann@Acme.example"},"tags":["billing"],"priority":"HIGH"}`,
		`{"text":"로그인이 안 돼요","distinct_id":"u1","source":"email","created_at":"2026-03-01T10:00:00Z"}`,
		`{"subject":"","body":"","requester":{}}`, `{"source":"fax","text":"x","distinct_id":"u"}`, `{"requester":null,"text":"x"}`,
		`{"created_at":"yesterday","text":"x","distinct_id":"u"}`, `null`, `{"requester":{"id":"` + strings.Repeat("x", 300) + `"},"text":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeInbound(body)
		if err != nil {
			refusal(t, err)
			return
		}
		checkInput(t, in)
		if in.Source != meta.SourceEmail && in.Source != meta.SourceWebhook {
			t.Fatalf("inbound source %q", in.Source)
		}
	})
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"text,distinct_id,tags,account,created_at\nExport fails,u1,billing;export,acme,2026-01-05\n\"Multi\nline, quoted\",u2,,,\n",
		"\ufeffText,Email\n송장 내보내기,Ann@Acme.example\n",
		"text,email,priority\nx,a@b,p0\n,a@b,low\n",
		"distinct_id\nu1\n", "", "text,distinct_id\n\"unterminated,u1\n", "text,distinct_id,external_id\na,u,1\na,u,1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ins, bad, err := ParseCSV(bytes.NewReader(body))
		if err != nil {
			refusal(t, err)
			return
		}
		if len(bad) > 100 || len(ins) > MaxCSVRows {
			t.Fatalf("%d rows, %d refused", len(ins), len(bad))
		}
		for _, in := range ins {
			checkInput(t, in)
			if in.Source != meta.SourceCSV {
				t.Fatalf("csv row source %q", in.Source)
			}
		}
		for _, b := range bad {
			if b.Row < 2 || b.Error == "" {
				t.Fatalf("row error %+v", b)
			}
		}
	})
}

func TestDecoders(t *testing.T) {
	in, err := DecodeFeedback([]byte(`{"text":"  Export fails ","distinct_id":"u1","tags":["Billing","billing"," x "],"account":"acme","accounts":["beta"]}`), meta.SourceAPI)
	if err != nil || in.Text != "Export fails" || in.Source != meta.SourceAPI || strings.Join(in.Tags, ",") != "billing,x" || strings.Join(in.Accounts, ",") != "acme,beta" {
		t.Fatalf("DecodeFeedback = %+v, %v", in, err)
	}
	for body, field := range map[string]string{
		`{"text":"x","distinct_id":"u","tagz":[]}`:                      "tagz",
		`{"text":"x","distinct_id":"u","theme_id":"3"}`:                 "theme_id",
		`{"text":"x","distinct_id":"u","source":"fax"}`:                 "source",
		`{"text":"x","distinct_id":"u","attachments":["javascript:1"]}`: "attachments[0]",
		`{"distinct_id":"u"}`:                                           "text",
		`{"text":"x"}`:                                                  "distinct_id",
	} {
		_, err := DecodeFeedback([]byte(body), meta.SourceAPI)
		var ie *insight.Error
		if !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("DecodeFeedback(%s) = %v, want a refusal of %q", body, err, field)
		}
	}
	in, err = DecodeInbound([]byte(`{"external_id":"ZD-1","subject":"Export fails","body":"since Monday","requester":{"email":"Ann@Acme.example"},"priority":"HIGH"}`))
	if err != nil || in.Text != "Export fails\n\nsince Monday" || in.DistinctID != "ann@acme.example" || in.Source != meta.SourceWebhook || in.Priority != "high" || in.ExternalID != "ZD-1" {
		t.Fatalf("DecodeInbound = %+v, %v", in, err)
	}
	ins, bad, err := ParseCSV(strings.NewReader("text,email,tags,created_at,priority\nExport fails,Ann@x.example,billing;export,2026-01-05,\n,b@x,,,\nok,c@x,,,p0\n"))
	if err != nil || len(ins) != 1 || len(bad) != 2 || ins[0].DistinctID != "ann@x.example" || ins[0].CreatedAt.Format("2006-01-02") != "2026-01-05" ||
		bad[0].Row != 3 || bad[0].Field != "text" || bad[1].Row != 4 || bad[1].Field != "priority" {
		t.Fatalf("ParseCSV = %+v, %+v, %v", ins, bad, err)
	}
}
