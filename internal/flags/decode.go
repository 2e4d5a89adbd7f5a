package flags

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Decode reads one flag from PostHog's JSON, strictly: an unknown field,
// a value of the wrong type or a value Validate refuses is an Errors
// naming each field. Fields PostHog's API returns that carry no targeting
// (created_at, tags, …) are ignored, so an exported PostHog flag decodes;
// targeting features Journey lacks (super groups, holdouts, device-id
// bucketing) are refused rather than ignored.
func Decode(data []byte) (*Flag, error) {
	var d decoder
	f := d.flag(data)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	if err := Validate(f); err != nil {
		return nil, err
	}
	return f, nil
}

// DecodeList reads a JSON array of flags (as /flags/definitions serves
// them); errors name the flag by index, e.g. "[2].key".
func DecodeList(data []byte) ([]*Flag, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, Errors{{Field: "", Msg: "must be a JSON array of flags"}}
	}
	var errs Errors
	out := make([]*Flag, 0, len(raws))
	keys := map[string]int{}
	for i, raw := range raws {
		f, err := Decode(raw)
		if err != nil {
			for _, fe := range err.(Errors) {
				errs.add(joinIndex(fmt.Sprintf("[%d]", i), fe.Field), fe.Msg)
			}
			continue
		}
		if j, dup := keys[f.Key]; dup {
			errs.add(fmt.Sprintf("[%d].key", i), fmt.Sprintf("duplicates the key of flag [%d]", j))
			continue
		}
		keys[f.Key] = i
		out = append(out, f)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func joinIndex(prefix, field string) string {
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

type decoder struct{ errs Errors }

func (d *decoder) fail(field, msg string) { d.errs.add(field, msg) }

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// object reads raw as a JSON object. Keys in known are returned; keys in
// ignored are dropped; any other key is an error. ok is false (and an
// error recorded) when raw is not an object; null is an empty object when
// nullOK.
func (d *decoder) object(path string, raw json.RawMessage, nullOK bool, known, ignored []string) (map[string]json.RawMessage, bool) {
	if isNull(raw) {
		if !nullOK {
			d.fail(path, "must be an object, not null")
			return nil, false
		}
		return map[string]json.RawMessage{}, true
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		d.fail(path, "must be an object")
		return nil, false
	}
	var unknown []string
	for k := range m {
		if contains(known, k) {
			continue
		}
		if contains(ignored, k) {
			delete(m, k)
			continue
		}
		unknown = append(unknown, k)
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		d.fail(join(path, k), "unknown field")
		delete(m, k)
	}
	return m, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (d *decoder) array(path string, raw json.RawMessage) ([]json.RawMessage, bool) {
	if isNull(raw) {
		return nil, true
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		d.fail(path, "must be a list")
		return nil, false
	}
	return a, true
}

func (d *decoder) str(path string, raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.fail(path, "must be a string")
	}
	return s
}

func (d *decoder) boolean(path string, raw json.RawMessage, def bool) bool {
	if isNull(raw) {
		return def
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		d.fail(path, "must be true or false")
		return def
	}
	return b
}

func (d *decoder) int64(path string, raw json.RawMessage) int64 {
	if isNull(raw) {
		return 0
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		d.fail(path, "must be a whole number")
	}
	return n
}

func (d *decoder) intPtr(path string, raw json.RawMessage) *int {
	if isNull(raw) {
		return nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		d.fail(path, "must be a whole number or null")
		return nil
	}
	return &n
}

func (d *decoder) floatPtr(path string, raw json.RawMessage) *float64 {
	if isNull(raw) {
		return nil
	}
	var x float64
	if err := json.Unmarshal(raw, &x); err != nil {
		d.fail(path, "must be a number or null")
		return nil
	}
	return &x
}

// value reads any JSON value, numbers as json.Number.
func (d *decoder) value(path string, raw json.RawMessage) any {
	if isNull(raw) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		d.fail(path, "must be a JSON value")
		return nil
	}
	return v
}

var (
	flagFields = []string{"id", "key", "name", "active", "version", "filters", "ensure_experience_continuity",
		"deleted", "bucketing_identifier"}
	// Read-only or bookkeeping fields of PostHog's flag API.
	flagIgnored = []string{"created_at", "created_by", "updated_at", "last_modified_by", "tags",
		"evaluation_tags", "team_id", "is_simple_flag", "rollout_percentage", "experiment_set",
		"surveys", "features", "usage_dashboard", "analytics_dashboards", "has_enriched_analytics",
		"can_edit", "user_access_level", "status", "is_remote_configuration",
		"has_encrypted_payloads", "evaluation_runtime", "last_called_at", "_create_in_folder",
		"creation_context", "description"}
	filtersFields  = []string{"groups", "multivariate", "payloads", "aggregation_group_type_index", "super_groups", "holdout_groups", "holdout", "feature_enrollment", "early_exit", "bucketing_identifier"}
	groupFields    = []string{"properties", "rollout_percentage", "variant", "aggregation_group_type_index"}
	groupIgnored   = []string{"description", "sort_key", "users_affected"}
	propFields     = []string{"key", "value", "operator", "type", "group_type_index", "negation"}
	propIgnored    = []string{"label", "cohort_name", "dependency_chain"}
	mvFields       = []string{"variants"}
	variantFields  = []string{"key", "name", "rollout_percentage"}
	variantIgnored = []string{"description"}
)

func (d *decoder) flag(data []byte) *Flag {
	f := &Flag{}
	m, ok := d.object("", data, false, flagFields, flagIgnored)
	if !ok {
		return f
	}
	f.ID = d.int64("id", m["id"])
	f.Key = d.str("key", m["key"])
	f.Name = d.str("name", m["name"])
	f.Active = d.boolean("active", m["active"], true)
	f.Version = d.int64("version", m["version"])
	f.EnsureExperienceContinuity = d.boolean("ensure_experience_continuity", m["ensure_experience_continuity"], false)
	if d.boolean("deleted", m["deleted"], false) {
		d.fail("deleted", "a deleted flag cannot be saved")
	}
	d.bucketing("bucketing_identifier", m["bucketing_identifier"])
	if raw, ok := m["filters"]; ok {
		f.Filters = d.filters("filters", raw)
	}
	return f
}

func (d *decoder) bucketing(path string, raw json.RawMessage) {
	switch s := d.str(path, raw); s {
	case "", "distinct_id":
	default:
		d.fail(path, fmt.Sprintf("bucketing by %q is not supported (only distinct_id)", s))
	}
}

func (d *decoder) filters(path string, raw json.RawMessage) Filters {
	var fs Filters
	m, ok := d.object(path, raw, true, filtersFields, nil)
	if !ok {
		return fs
	}
	groups, _ := d.array(join(path, "groups"), m["groups"])
	for i, g := range groups {
		fs.Groups = append(fs.Groups, d.condition(fmt.Sprintf("%s.groups[%d]", path, i), g))
	}
	if raw, ok := m["multivariate"]; ok && !isNull(raw) {
		fs.Multivariate = d.multivariate(join(path, "multivariate"), raw)
	}
	fs.Payloads = d.payloads(join(path, "payloads"), m["payloads"])
	fs.AggregationGroupTypeIndex = d.intPtr(join(path, "aggregation_group_type_index"), m["aggregation_group_type_index"])
	for _, name := range []string{"super_groups", "holdout_groups"} {
		if list, ok := d.array(join(path, name), m[name]); ok && len(list) > 0 {
			d.fail(join(path, name), "not supported by Journey")
		}
	}
	if !isNull(m["holdout"]) {
		d.fail(join(path, "holdout"), "not supported by Journey")
	}
	if d.boolean(join(path, "feature_enrollment"), m["feature_enrollment"], false) {
		d.fail(join(path, "feature_enrollment"), "early-access enrollment is not supported by Journey")
	}
	if d.boolean(join(path, "early_exit"), m["early_exit"], false) {
		d.fail(join(path, "early_exit"), "not supported by Journey")
	}
	d.bucketing(join(path, "bucketing_identifier"), m["bucketing_identifier"])
	return fs
}

func (d *decoder) condition(path string, raw json.RawMessage) Condition {
	var c Condition
	m, ok := d.object(path, raw, false, groupFields, groupIgnored)
	if !ok {
		return c
	}
	props, _ := d.array(join(path, "properties"), m["properties"])
	for i, p := range props {
		c.Properties = append(c.Properties, d.property(fmt.Sprintf("%s.properties[%d]", path, i), p))
	}
	c.RolloutPercentage = d.floatPtr(join(path, "rollout_percentage"), m["rollout_percentage"])
	if v := d.str(join(path, "variant"), m["variant"]); v != "" {
		c.Variant = &v
	}
	c.AggregationGroupTypeIndex = d.intPtr(join(path, "aggregation_group_type_index"), m["aggregation_group_type_index"])
	return c
}

func (d *decoder) property(path string, raw json.RawMessage) Property {
	var p Property
	m, ok := d.object(path, raw, false, propFields, propIgnored)
	if !ok {
		return p
	}
	p.Key = d.propKey(join(path, "key"), m["key"])
	p.Value = d.value(join(path, "value"), m["value"])
	p.Operator = d.str(join(path, "operator"), m["operator"])
	p.Type = d.str(join(path, "type"), m["type"])
	p.GroupTypeIndex = d.intPtr(join(path, "group_type_index"), m["group_type_index"])
	p.Negation = d.boolean(join(path, "negation"), m["negation"], false)
	return p
}

// propKey reads a property key; PostHog writes a flag dependency's key
// (a flag id) as a number at times.
func (d *decoder) propKey(path string, raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return string(n)
		}
	}
	return d.str(path, raw)
}

func (d *decoder) multivariate(path string, raw json.RawMessage) *Multivariate {
	mv := &Multivariate{}
	m, ok := d.object(path, raw, false, mvFields, nil)
	if !ok {
		return mv
	}
	list, _ := d.array(join(path, "variants"), m["variants"])
	for i, raw := range list {
		vp := fmt.Sprintf("%s.variants[%d]", path, i)
		vm, ok := d.object(vp, raw, false, variantFields, variantIgnored)
		if !ok {
			continue
		}
		v := Variant{Key: d.str(join(vp, "key"), vm["key"]), Name: d.str(join(vp, "name"), vm["name"])}
		if r := d.floatPtr(join(vp, "rollout_percentage"), vm["rollout_percentage"]); r != nil {
			v.RolloutPercentage = *r
		} else {
			d.fail(join(vp, "rollout_percentage"), "is required")
		}
		mv.Variants = append(mv.Variants, v)
	}
	return mv
}

// payloads reads {"true"|variant: payload}. A payload is PostHog's JSON
// string holding JSON, or a JSON value itself; either way it is kept as
// compact JSON. null (or a string holding null) is no payload.
func (d *decoder) payloads(path string, raw json.RawMessage) map[string]json.RawMessage {
	if isNull(raw) {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		d.fail(path, "must be an object of JSON payloads")
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]json.RawMessage{}
	for _, k := range keys {
		p, ok := canonicalPayload(m[k])
		if !ok {
			d.fail(join(path, k), "must be valid JSON (a JSON value or a string holding JSON, in UTF-8)")
			continue
		}
		if p != nil {
			out[k] = p
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func canonicalPayload(raw json.RawMessage) (json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	content := []byte(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false
		}
		content = []byte(s)
	}
	if !utf8.Valid(content) || !json.Valid(content) {
		return nil, false
	}
	var b bytes.Buffer
	if err := json.Compact(&b, content); err != nil {
		return nil, false
	}
	if b.String() == "null" {
		return nil, true
	}
	return json.RawMessage(b.Bytes()), true
}
