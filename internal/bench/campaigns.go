package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // the server's metadata file, read beside it

	"github.com/journey-dev/journey/internal/capture"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
)

// CampaignsOptions sizes `journey bench campaigns` (issue 15,
// performance).
type CampaignsOptions struct {
	Binary  string
	DataDir string        // empty = a temporary directory
	Rate    int           // trigger events per second (target: p99 < 1 s at 5 000)
	Batch   int           // events per capture request
	For     time.Duration // how long triggers are sent
	Persons int           // distinct ids the triggers come from
	Sends   int           // sends made due at once for the sender's throughput
	Pending int           // pending sends held for the memory figure
	// ProfileDir, when set, receives the server's CPU profiles of (a) and
	// (b) (trigger.pprof, sender.pprof; the server runs with --pprof).
	ProfileDir string
}

// CampaignsResult is the contract output of `journey bench campaigns --json`.
type CampaignsResult struct {
	Rate           int     `json:"rate"`
	AchievedRate   float64 `json:"achieved_rate"`
	Triggers       int     `json:"triggers"`
	CaptureErrors  int     `json:"capture_errors"`
	CaptureRetries int     `json:"capture_retries"` // requests answered 429 or 503 and sent again
	// LoadClients is how many client addresses the load client sends
	// from (loopback addresses 127.0.0.1 …), InFlight how many requests
	// it has open at once: within capture's per-client limit, so that the
	// engine, not the limiter, is measured.
	LoadClients      int     `json:"load_clients"`
	InFlight         int     `json:"in_flight"`
	ScheduledP50MS   float64 `json:"scheduled_p50_ms"`
	ScheduledP99MS   float64 `json:"scheduled_p99_ms"`
	ScheduledMaxMS   float64 `json:"scheduled_max_ms"`
	Sends            int     `json:"sends"`
	DeliveriesPerS   float64 `json:"deliveries_per_s"`
	Receiver         ReceiverCounts
	Pending          int     `json:"pending"`
	RSSBeforeMB      float64 `json:"rss_before_mb"`
	RSSAfterMB       float64 `json:"rss_after_mb"`
	DueAmongPending  int     `json:"due_among_pending"`
	DueDeliveredInMS float64 `json:"due_delivered_in_ms"`
	Cores            int     `json:"cores"`
}

// benchCampaign is the body of the campaign the benchmarks create: every
// trigger (added_to_cart with a price) schedules one webhook message
// after delay, nobody held out.
func benchCampaign(url, secret, delay string, sendRate int) map[string]any {
	c := map[string]any{
		"name":    "Bench reminder",
		"trigger": map[string]any{"event": "added_to_cart", "filters": []any{map[string]any{"property": "price", "op": "gt", "value": 0}}},
		"goal":    map[string]any{"event": "order_completed", "match": "item", "within": "72h"},
		"wait":    map[string]any{"delay": delay},
		"holdout": 0,
		"channel": map[string]any{"type": "webhook", "url": url, "secret": secret},
		"variants": []any{map[string]any{"name": "plain", "weight": 1, "subject": "Still thinking?",
			"body": "{{item}} is waiting", "url": "https://shop.example.com/item/{{item}}"}},
		"status": "active",
	}
	if sendRate > 0 {
		c["audience"] = map[string]any{"send_rate": sendRate}
	}
	return c
}

// CreateCampaign creates a campaign through the API with the project's
// secret key and returns its id.
func (s *Server) CreateCampaign(secretKey string, body map[string]any) (int64, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/campaigns", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+secretKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("cannot create the campaign: %s %s", resp.Status, out)
	}
	var c struct {
		ID int64 `json:"id"`
	}
	return c.ID, json.Unmarshal(out, &c)
}

// trigger is one added_to_cart event of a benchmark.
type trigger struct {
	Event      string         `json:"event"`
	DistinctID string         `json:"distinct_id"`
	UUID       string         `json:"uuid"`
	Timestamp  string         `json:"timestamp"`
	Properties map[string]any `json:"properties"`
}

func newTrigger(who string, at time.Time) trigger {
	return trigger{Event: "added_to_cart", DistinctID: who, UUID: uuid.NewString(), Timestamp: at.UTC().Format(time.RFC3339Nano),
		Properties: map[string]any{"item": "sku-" + strconv.Itoa(len(who)%7), "price": 12.5}}
}

func triggerBody(token string, evs []trigger) []byte {
	b, _ := json.Marshal(map[string]any{"api_key": token, "batch": evs})
	return b
}

// metaDB opens the server's SQLite metadata beside it (WAL: the server
// keeps writing).
func metaDB(dataDir string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+filepath.Join(dataDir, "meta.db")+"?_pragma=busy_timeout(10000)")
}

// Campaigns runs the campaign benchmark on one server: (a) trigger to
// scheduled latency at Rate trigger events/s, (b) the sender's webhook
// deliveries/s to a verifying loopback receiver, (c) RSS with Pending
// sends held.
func Campaigns(ctx context.Context, o CampaignsOptions, logf func(string, ...any)) (CampaignsResult, error) {
	res := CampaignsResult{Rate: o.Rate, Cores: runtime.NumCPU()}
	dir := o.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "journey-bench-campaigns-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	secret := channel.NewSecret()
	rc, err := NewReceiver(secret)
	if err != nil {
		return res, err
	}
	defer rc.Close()
	args, pprofURL, err := profileArgs(o.ProfileDir)
	if err != nil {
		return res, err
	}
	srv, err := StartServer(o.Binary, dir, args...)
	if err != nil {
		return res, err
	}
	defer func() { srv.Kill() }()
	token, key, err := srv.CreateProject("bench-campaigns")
	if err != nil {
		return res, err
	}
	cid, err := srv.CreateCampaign(key, benchCampaign(rc.URL, secret, "1h", 0))
	if err != nil {
		return res, err
	}
	db, err := metaDB(dir)
	if err != nil {
		return res, err
	}
	defer db.Close()

	// (a) Triggers at Rate, open loop; each one's 200 against its send's
	// created time.
	clients := loadClients(srv.URL)
	res.LoadClients, res.InFlight = len(clients), len(clients)*perClientInFlight
	logf("(a) %d trigger events/s for %s in /batch/ requests of %d from %d persons; load client: %d requests at once from %d loopback addresses, %d each (capture admits %d per client)",
		o.Rate, o.For, o.Batch, o.Persons, res.InFlight, len(clients), perClientInFlight, capture.DefaultClientBodies)
	stopProfile := profile(pprofURL, o.For, o.ProfileDir, "trigger.pprof", logf)
	acks, errs, retries, achieved := sendTriggers(srv.URL, token, o, clients)
	stopProfile()
	res.Triggers, res.CaptureErrors, res.CaptureRetries, res.AchievedRate = len(acks), errs, retries, achieved
	lat, err := scheduledLatency(db, cid, acks, 10*time.Minute)
	if err != nil {
		return res, err
	}
	res.ScheduledP50MS, res.ScheduledP99MS, res.ScheduledMaxMS = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1)
	logf("    %d triggers (%.0f/s offered, %d failed requests, %d retried after 429/503): scheduled p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		res.Triggers, achieved, errs, retries, res.ScheduledP50MS, res.ScheduledP99MS, res.ScheduledMaxMS)

	// (b) Sends made due at once, delivered by a restarted server.
	if err := srv.Stop(); err != nil {
		return res, fmt.Errorf("cannot stop the server: %w", err)
	}
	now := time.Now().Add(-time.Second).UnixMilli()
	r, err := db.Exec(`UPDATE sends SET due_ms = ?, next_attempt_ms = ?, wake_ms = ? WHERE id IN (
		SELECT id FROM sends WHERE campaign_id = ? AND state = 'pending' ORDER BY id LIMIT ?)`, now, now, now, cid, o.Sends)
	if err != nil {
		return res, fmt.Errorf("cannot make sends due: %w", err)
	}
	n, _ := r.RowsAffected()
	res.Sends = int(n)
	logf("(b) %d sends due at once, delivered to a loopback receiver that verifies signatures", n)
	if srv, err = StartServer(o.Binary, dir, args...); err != nil {
		return res, err
	}
	stopProfile = profile(pprofURL, 5*time.Second, o.ProfileDir, "sender.pprof", logf)
	if err := rc.WaitUnique(res.Sends, 10*time.Minute); err != nil {
		return res, err
	}
	stopProfile()
	res.Receiver = rc.Counts()
	if d := res.Receiver.Last.Sub(res.Receiver.First); d > 0 {
		res.DeliveriesPerS = float64(res.Sends-1) / d.Seconds()
	}
	logf("    %.0f deliveries/s (%d unique, %d raw, %d bad signatures, %d conflicting)", res.DeliveriesPerS,
		res.Receiver.Unique, res.Receiver.Raw, res.Receiver.Bad, res.Receiver.Conflicts)
	if res.Receiver.Bad != 0 || res.Receiver.Conflicts != 0 || res.Receiver.Doubled != 0 {
		return res, fmt.Errorf("receiver: %+v", res.Receiver)
	}

	// (c) Pending sends held: RSS idle before, and after scheduling
	// Pending more (due in a day) while the server runs, with a few
	// due among them that must still go out at once.
	if o.Pending > 0 {
		if err := pendingPhase(srv, dir, db, cid, rc, o, &res, logf); err != nil {
			return res, err
		}
	}
	return res, srv.Stop()
}

// profileArgs are the server's flags: with a profile directory, --pprof
// on a free loopback port, whose profile URL is returned.
func profileArgs(dir string) ([]string, string, error) {
	args := []string{"--webhook-allow-private"}
	if dir == "" {
		return args, "", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return append(args, "--pprof", addr), "http://" + addr + "/debug/pprof/profile", nil
}

// profile records the server's CPU profile for d into dir/name; stop
// waits for it. Nothing without a profile URL.
func profile(pprofURL string, d time.Duration, dir, name string, logf func(string, ...any)) (stop func()) {
	if pprofURL == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("%s?seconds=%d", pprofURL, max(1, int(d.Seconds()))))
		if err != nil {
			logf("    cannot profile the server: %v", err)
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			logf("    cannot write the server's profile: %v", err)
			return
		}
		logf("    server CPU profile: %s", filepath.Join(dir, name))
	}()
	return func() { <-done }
}

func pendingPhase(srv *Server, dir string, db *sql.DB, cid int64, rc *Receiver, o CampaignsOptions, res *CampaignsResult, logf func(string, ...any)) error {
	time.Sleep(5 * time.Second)
	res.RSSBeforeMB = RSSNowMB(srv.Pid())
	logf("(c) RSS %.0f MB idle; scheduling %d pending sends beside the server", res.RSSBeforeMB, o.Pending)
	m, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		return err
	}
	defer m.Close()
	var pid int64
	if err := db.QueryRow(`SELECT project_id FROM campaigns WHERE id = ?`, cid).Scan(&pid); err != nil {
		return err
	}
	later := time.Now().Add(24 * time.Hour)
	due := min(1000, o.Pending)
	batch := make([]meta.Send, 0, meta.MaxSendBatch)
	var dueAt time.Time
	for i := 0; i < o.Pending; {
		batch = batch[:0]
		for ; len(batch) < meta.MaxSendBatch && i < o.Pending; i++ {
			at := later
			if i >= o.Pending-due {
				if dueAt.IsZero() {
					dueAt = time.Now()
				}
				at = dueAt
			}
			p, _ := json.Marshal(map[string]any{"subject": "held", "body": "pending " + strconv.Itoa(i), "trigger_event": "added_to_cart",
				"trigger_at": time.Now().UTC(), "ids": "-", "goal": "-"})
			batch = append(batch, meta.Send{Key: fmt.Sprintf("bench_pending_%d_%d", cid, i), ProjectID: pid, CampaignID: cid,
				PersonID: int64(10_000_000 + i), DistinctID: "held-" + strconv.Itoa(i), Variant: "plain", TriggerUUID: uuid.NewString(),
				Channel: "webhook", DueAt: at, Payload: p})
		}
		if err := scheduleRetrying(m, batch); err != nil {
			return err
		}
	}
	before := rc.Counts().Unique
	if err := rc.WaitUnique(before+due, 5*time.Minute); err != nil {
		return err
	}
	res.Pending, res.DueAmongPending = o.Pending, due
	res.DueDeliveredInMS = float64(time.Since(dueAt).Milliseconds())
	time.Sleep(5 * time.Second)
	res.RSSAfterMB = RSSNowMB(srv.Pid())
	logf("    %d pending held: RSS %.0f MB (before %.0f MB); the %d due among them delivered %.0f ms after they were stored",
		o.Pending, res.RSSAfterMB, res.RSSBeforeMB, due, res.DueDeliveredInMS)
	return nil
}

// perClientInFlight is how many requests the load client has open at once
// per client address: half of capture's per-client limit, so that a
// client is never refused for its count of bodies in flight.
const perClientInFlight = capture.DefaultClientBodies / 2

// loadClients are the HTTP clients of the load client: on a loopback
// server, one per address 127.0.0.1 … 127.0.0.8 (all of 127/8 is the
// machine's own), each a client identity of its own for capture's
// per-client limits; one client elsewhere.
func loadClients(base string) []*http.Client {
	n := 1
	if u, err := url.Parse(base); err == nil && strings.HasPrefix(u.Hostname(), "127.") {
		n = 8
	}
	out := make([]*http.Client, n)
	for i := range out {
		d := &net.Dialer{Timeout: 5 * time.Second}
		if n > 1 {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i+1))}
		}
		out[i] = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
			MaxIdleConnsPerHost: perClientInFlight}}
	}
	return out
}

// scheduleRetrying schedules a batch of sends beside the running server,
// again while SQLite answers busy: the server's writes can hold the file
// past the busy timeout on a loaded machine.
func scheduleRetrying(m meta.Store, batch []meta.Send) error {
	for attempt := 0; ; attempt++ {
		_, err := m.ScheduleSends(context.Background(), batch)
		if err == nil || attempt == 20 || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sendTriggers sends o.Rate trigger events a second for o.For, open loop,
// perClientInFlight requests at a time from each client, and returns each
// acknowledged trigger's uuid with the time of its 200.
func sendTriggers(base, token string, o CampaignsOptions, clients []*http.Client) (map[string]time.Time, int, int, float64) {
	perTick := max(1, o.Batch)
	interval := time.Duration(float64(time.Second) * float64(perTick) / float64(o.Rate))
	ticks := int(o.For / interval)
	type job struct{ evs []trigger }
	jobs := make(chan job, 4096)
	var mu sync.Mutex
	acks := make(map[string]time.Time, ticks*perTick)
	errs, retries := 0, 0
	var wg sync.WaitGroup
	for w := range len(clients) * perClientInFlight {
		client := clients[w%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				body := triggerBody(token, j.evs)
				var resp *http.Response
				var err error
				// A 429 or 503 (still possible: the memory share, a
				// full loader) is retried, as SDKs do: the trigger's
				// time is its 200's.
				for attempt := 0; ; attempt++ {
					resp, err = client.Post(base+"/batch/", "application/json", bytes.NewReader(body))
					if err != nil || attempt == 50 || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
						break
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					retries++
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
				at := time.Now()
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if ok {
					for _, e := range j.evs {
						acks[e.UUID] = at
					}
				} else {
					errs++
					if err == nil && errs <= 3 {
						fmt.Fprintf(os.Stderr, "bench campaigns: capture answered %s\n", resp.Status)
					} else if errs <= 3 {
						fmt.Fprintf(os.Stderr, "bench campaigns: capture failed: %v\n", err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	seq := 0
	for k := range ticks {
		time.Sleep(time.Until(start.Add(time.Duration(k) * interval)))
		evs := make([]trigger, perTick)
		now := time.Now()
		for i := range evs {
			evs[i] = newTrigger("p"+strconv.Itoa(seq%o.Persons), now)
			seq++
		}
		jobs <- job{evs}
	}
	close(jobs)
	wg.Wait()
	return acks, errs, retries, float64(seq) / time.Since(start).Seconds()
}

// scheduledLatency waits until every acknowledged trigger has its send
// and returns, per trigger, the milliseconds from its 200 to the send's
// row (created_ms, written in the transaction that inserts it).
func scheduledLatency(db *sql.DB, cid int64, acks map[string]time.Time, timeout time.Duration) ([]float64, error) {
	deadline := time.Now().Add(timeout)
	for {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sends WHERE campaign_id = ?`, cid).Scan(&n); err != nil {
			return nil, err
		}
		if n >= len(acks) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d triggers scheduled within %s", n, len(acks), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rows, err := db.Query(`SELECT trigger_uuid, created_ms FROM sends WHERE campaign_id = ?`, cid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var lat []float64
	for rows.Next() {
		var id string
		var created int64
		if err := rows.Scan(&id, &created); err != nil {
			return nil, err
		}
		if at, ok := acks[id]; ok {
			lat = append(lat, max(0, float64(created-at.UnixMilli())))
		}
	}
	if len(lat) != len(acks) {
		return nil, fmt.Errorf("%d sends for %d acknowledged triggers", len(lat), len(acks))
	}
	sort.Float64s(lat)
	return lat, rows.Err()
}

// RSSNowMB reads a process's current resident set from /proc.
func RSSNowMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseFloat(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 64)
			return kb / 1024
		}
	}
	return 0
}
