package api_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

type groupsPage struct {
	Results []struct {
		GroupTypeIndex  int            `json:"group_type_index"`
		GroupKey        string         `json:"group_key"`
		GroupProperties map[string]any `json:"group_properties"`
		CreatedAt       time.Time      `json:"created_at"`
	} `json:"results"`
	Next string `json:"next"`
}

func (x *e2e) groups(path string) groupsPage {
	x.t.Helper()
	var p groupsPage
	x.decode(x.do("GET", path, x.key, nil, 200), &p)
	return p
}

func groupKeys(p groupsPage) []string {
	out := []string{}
	for _, r := range p.Results {
		out = append(out, r.GroupKey)
	}
	return out
}

// TestGroupsAPI (issue 17 item 2): groups stored by $groupidentify are
// listed by type index, searched by a literal substring of the key, paged
// with next, read one at a time with their properties, and the group
// types listed, in the documented shapes; bad parameters name their field;
// no key is 401.
func TestGroupsAPI(t *testing.T) {
	x := newE2E(t)
	t0 := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	gi := func(typ, key string, at time.Time, set map[string]any) event {
		return ev("$groupidentify", "u-"+key, at, map[string]any{"$group_type": typ, "$group_key": key, "$group_set": set})
	}
	x.send([]event{
		gi("company", "acme", t0, map[string]any{"plan": "pro"}),
		gi("company", "Acme/East", t0.Add(time.Minute), map[string]any{"seats": 4}),
		gi("company", "50%_off", t0.Add(2*time.Minute), nil),
		gi("company", "globex", t0.Add(3*time.Minute), nil),
		gi("team", "acme-team", t0, nil),
	})
	d := newDocSchemas(t, x.do("GET", "/api/v1/openapi.json", "", nil, 200))

	// Without a mapping there are no types, and index 0 names none.
	if b := x.do("GET", "/api/v1/groups/types", x.key, nil, 200); strings.TrimSpace(string(b)) != "[]" {
		t.Fatalf("types before the mapping = %s", b)
	}
	x.fieldErr("/api/v1/groups?group_type_index=0", "group_type_index")
	x.do("PUT", "/api/v1/flags/group_types", x.key, map[string]string{"0": "company", "1": "team"}, 200)

	body := x.do("GET", "/api/v1/groups/types", x.key, nil, 200)
	if err := d.check("GET /api/v1/groups/types", 200, body); err != nil {
		t.Errorf("types do not match the document: %v\n%s", err, body)
	}
	var types []map[string]any
	x.decode(body, &types)
	if want := []map[string]any{{"group_type_index": 0.0, "group_type": "company"}, {"group_type_index": 1.0, "group_type": "team"}}; !reflect.DeepEqual(types, want) {
		t.Fatalf("types = %s", body)
	}

	body = x.do("GET", "/api/v1/groups?group_type_index=0", x.key, nil, 200)
	if err := d.check("GET /api/v1/groups", 200, body); err != nil {
		t.Errorf("groups do not match the document: %v\n%s", err, body)
	}
	var all groupsPage
	x.decode(body, &all)
	if got, want := groupKeys(all), []string{"globex", "50%_off", "Acme/East", "acme"}; !reflect.DeepEqual(got, want) || all.Next != "" {
		t.Fatalf("groups = %v next %q, want %v", got, all.Next, want)
	}
	acme := all.Results[3]
	if acme.GroupTypeIndex != 0 || !acme.CreatedAt.Equal(t0) || !reflect.DeepEqual(acme.GroupProperties, map[string]any{"plan": "pro"}) {
		t.Errorf("acme = %+v", acme)
	}
	if got := groupKeys(x.groups("/api/v1/groups?group_type_index=0&search=ACME")); !reflect.DeepEqual(got, []string{"Acme/East", "acme"}) {
		t.Errorf("search ACME = %v", got)
	}
	if got := groupKeys(x.groups("/api/v1/groups?group_type_index=0&search=" + url.QueryEscape("%_"))); !reflect.DeepEqual(got, []string{"50%_off"}) {
		t.Errorf("search %%_ = %v, want the literal match only", got)
	}
	if got := groupKeys(x.groups("/api/v1/groups?group_type_index=0&search=0_")); len(got) != 0 {
		t.Errorf("search 0_ = %v: _ matched as a wildcard", got)
	}
	if got := groupKeys(x.groups("/api/v1/groups?group_type_index=1")); !reflect.DeepEqual(got, []string{"acme-team"}) {
		t.Errorf("team groups = %v", got)
	}

	// Paging: next is the following page's path, until the last.
	p1 := x.groups("/api/v1/groups?group_type_index=0&limit=3")
	if got := groupKeys(p1); !reflect.DeepEqual(got, []string{"globex", "50%_off", "Acme/East"}) || p1.Next == "" {
		t.Fatalf("page 1 = %v next %q", got, p1.Next)
	}
	p2 := x.groups(p1.Next)
	if got := groupKeys(p2); !reflect.DeepEqual(got, []string{"acme"}) || p2.Next != "" {
		t.Fatalf("page 2 (%s) = %v next %q", p1.Next, got, p2.Next)
	}

	// One group, its key escaped in the path.
	body = x.do("GET", "/api/v1/groups/0/"+url.PathEscape("Acme/East"), x.key, nil, 200)
	if err := d.check("GET /api/v1/groups/{type_index}/{key}", 200, body); err != nil {
		t.Errorf("group does not match the document: %v\n%s", err, body)
	}
	var one map[string]any
	x.decode(body, &one)
	if one["group_key"] != "Acme/East" || !reflect.DeepEqual(one["group_properties"], map[string]any{"seats": 4.0}) || one["group_type_index"] != 0.0 {
		t.Errorf("Acme/East = %s", body)
	}
	x.do("GET", "/api/v1/groups/0/acme-team", x.key, nil, 404) // a team, not a company
	x.do("GET", "/api/v1/groups/1/acme-team", x.key, nil, 200)
	x.fieldErr("/api/v1/groups/7/acme", "type_index")

	x.fieldErr("/api/v1/groups?group_type_index=0&limit=1001", "limit")
	x.fieldErr("/api/v1/groups?group_type_index=0&limit=0", "limit")
	x.fieldErr("/api/v1/groups?group_type_index=0&offset=-1", "offset")
	x.fieldErr("/api/v1/groups", "group_type_index")
	x.fieldErr("/api/v1/groups?group_type_index=x", "group_type_index")
	if got := x.groups("/api/v1/groups?group_type_index=0&limit=1000"); len(got.Results) != 4 {
		t.Errorf("limit 1000 = %d results", len(got.Results))
	}
	for _, path := range []string{"/api/v1/groups?group_type_index=0", "/api/v1/groups/types", "/api/v1/groups/0/acme"} {
		x.do("GET", path, "", nil, 401)
	}
}

// fieldErr asserts a 400 naming field.
func (x *e2e) fieldErr(path, field string) {
	x.t.Helper()
	var e struct {
		Field string `json:"field"`
	}
	b := x.do("GET", path, x.key, nil, 400)
	if err := json.Unmarshal(b, &e); err != nil || e.Field != field {
		x.t.Errorf("GET %s: %s, want the field %q", path, b, field)
	}
}
