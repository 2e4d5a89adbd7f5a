package flags

import (
	"encoding/json"
	"testing"
)

func TestWireShapes(t *testing.T) {
	exp := mustDecodeCompile(t, `{"id":5,"version":3,"key":"exp","filters":{"groups":[{"variant":"test"}],
		"multivariate":{"variants":[{"key":"control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]},
		"payloads":{"test":"{\"a\": [1, 2]}"}}}`)
	on := mustDecodeCompile(t, `{"id":6,"key":"on","filters":{"groups":[{}],"payloads":{"true":"\"hi\""}}}`)
	off := mustDecodeCompile(t, `{"id":7,"version":1,"key":"off","filters":{"groups":[{"properties":[{"key":"a","value":"b"}]}],"payloads":{"true":"1"}}}`)
	dis := mustDecodeCompile(t, `{"id":8,"key":"dis","active":false}`)
	rs := EvaluateAll([]*Compiled{exp, on, off, dis}, &Subject{DistinctID: "u"}, nil)

	details := Details(rs)
	got, err := json.Marshal(details)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"dis":{"key":"dis","enabled":false,"variant":null,"reason":{"code":"flag_disabled","condition_index":null,"description":"Feature flag is disabled"},"metadata":{"id":8,"version":0,"description":null,"payload":null}},` +
		`"exp":{"key":"exp","enabled":true,"variant":"test","reason":{"code":"condition_match","condition_index":0,"description":"Matched condition set 1"},"metadata":{"id":5,"version":3,"description":null,"payload":"{\"a\":[1,2]}"}},` +
		`"off":{"key":"off","enabled":false,"variant":null,"reason":{"code":"no_condition_match","condition_index":0,"description":"No matching condition set"},"metadata":{"id":7,"version":1,"description":null,"payload":null}},` +
		`"on":{"key":"on","enabled":true,"variant":null,"reason":{"code":"condition_match","condition_index":0,"description":"Matched condition set 1"},"metadata":{"id":6,"version":0,"description":null,"payload":"\"hi\""}}}`
	if string(got) != want {
		t.Fatalf("v2 details\n%s\nwant\n%s", got, want)
	}

	flags, payloads := Legacy(rs)
	lf, _ := json.Marshal(flags)
	lp, _ := json.Marshal(payloads)
	if string(lf) != `{"dis":false,"exp":"test","off":false,"on":true}` || string(lp) != `{"exp":"{\"a\":[1,2]}","on":"\"hi\""}` {
		t.Fatalf("legacy %s %s", lf, lp)
	}
	if Errored(rs) {
		t.Fatal("no errors expected")
	}
	if d := Detail(Result{Key: "x", Reason: ReasonOutOfRollout, ConditionIndex: 2}); d.Reason.Description != "Out of rollout bound" || *d.Reason.ConditionIndex != 2 {
		t.Fatalf("%+v", d)
	}
	if ReasonNoGroupType.Description(-1) != "No group type" {
		t.Fatal("description")
	}

	defs := NewDefinitions([]*Flag{on.Flag()}, map[int]string{0: "company"}, nil)
	b, _ := json.Marshal(defs)
	const wantDefs = `{"flags":[{"id":6,"key":"on","name":"","active":true,"version":0,"filters":{"groups":[{"properties":[],"rollout_percentage":null,"variant":null}],"multivariate":null,"payloads":{"true":"\"hi\""},"aggregation_group_type_index":null},"ensure_experience_continuity":false}],"group_type_mapping":{"0":"company"},"cohorts":{}}`
	if string(b) != wantDefs {
		t.Fatalf("definitions\n%s\nwant\n%s", b, wantDefs)
	}
	// What we serve, we read back.
	var back struct {
		Flags json.RawMessage `json:"flags"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if fs, err := DecodeList(back.Flags); err != nil || len(fs) != 1 || fs[0].Key != "on" {
		t.Fatalf("%v %v", fs, err)
	}
}
