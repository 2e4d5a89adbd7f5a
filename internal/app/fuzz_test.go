package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzQuery sends arbitrary bodies to POST /api/v1/query on a real store
// with some data: whatever the body, the answer is never a 500 and the
// server never panics.
func FuzzQuery(f *testing.F) {
	seeds := []string{
		`{"kind":"trend","series":[{"event":"e","math":"dau"}],"interval":"day","from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"trend","series":[{"event":"e","math":"p90","property":"n"},{"event":"f","math":"wau"}],"formula":"A/B","compare":true,"breakdown":{"property":"src","type":"person"},"from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"trend","series":[{"event":"e"}],"filters":[{"property":"x') OR 1=1 --","op":"in","value":["a",1,null]}],"unit":"group:company","from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"funnel","steps":[{"event":"e"},{"event":"f"}],"window":"1h","order":"strict","persons":"dropped:1","from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"funnel","steps":[{"event":"e"},{"event":"f"}],"order":"unordered","over_time":"day","breakdown":{"property":"src"},"exclusions":[{"event":"g","from_step":1,"to_step":2}],"from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"funnel","steps":[{"event":"e"},{"event":"ef"},{"event":"fe"},{"event":"é\u0000"}],"window":"1d","breakdown":{"property":"src"},"from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"retention","start":{"event":"e"},"return":{"event":"f"},"period":"week","periods":4,"mode":"recurring","from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"stickiness","series":[{"event":"e"}],"interval":"day","from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"lifecycle","event":"e","interval":"day","from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"bad_days","bad":[{"event":"$exception"}],"from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"paths","end":{"event":"f"},"steps":3,"from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"journey","stages":[{"name":"a","events":[{"event":"e"}]}],"from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"kpi","denominator":{"conditions":[{"event":"e","first_time":true}]},"numerator":{"conditions":[{"event":"f","did":false}]},"from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"sql","query":"SELECT event, count(*) FROM events GROUP BY 1"}`,
		`{"kind":"sql","query":"SELECT * FROM read_parquet('x')"}`,
		`{"kind":"trend","series":[{"event":"e","filters":[{"type":"cohort","cohort":{"behavior":{"event":"f","days":3}}}]}],"from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`,
		`{"kind":"trend","from":"x"}`, `[]`, `{"kind":7}`, `{`, ``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	a, err := Open(Config{DataDir: f.TempDir(), AdminKey: testAdminKey, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	p, secret, err := a.Meta.CreateProject(context.Background(), "fuzz", "Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	body := `{"api_key":"` + p.Token + `","batch":[
	 {"event":"e","distinct_id":"a","timestamp":"2026-01-01T10:00:00Z","properties":{"src":"x","n":3,"$groups":{"company":"c1"}}},
	 {"event":"f","distinct_id":"a","timestamp":"2026-01-01T10:05:00Z"},
	 {"event":"$exception","distinct_id":"b","timestamp":"2026-01-02T10:00:00Z"}]}`
	resp, err := http.Post(srv.URL+"/batch/", "application/json", bytes.NewReader([]byte(body)))
	if err != nil || resp.StatusCode != 200 {
		f.Fatalf("capture: %v", err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	a.Loader.Sync(ctx)
	cancel()
	f.Fuzz(func(t *testing.T, q []byte) {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/query", bytes.NewReader(q))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("query %s answered %d", q, resp.StatusCode)
		}
	})
}
