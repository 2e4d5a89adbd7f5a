package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// MemSample splits a server's resident memory so that a soak can tell
// Go's heap from what cgo (DuckDB) allocates and from mapped files
// (the journey index's segments, reclaimable page cache): all in MB.
type MemSample struct {
	RSSMB     float64 `json:"rss_mb"`
	AnonMB    float64 `json:"anon_mb"` // RssAnon: heap memory, Go's and C's
	FileMB    float64 `json:"file_mb"` // RssFile: mapped files
	GoHeapMB  float64 `json:"go_heap_mb"`
	GoMB      float64 `json:"go_mb"`     // all Go holds from the OS less what it released
	NonGoMB   float64 `json:"non_go_mb"` // AnonMB − GoMB: cgo, mostly DuckDB
	Goroutine float64 `json:"goroutines"`
	LagBytes  float64 `json:"loader_lag_bytes"`
}

// procStatusKB reads fields of /proc/PID/status in kB.
func procStatusKB(pid int, keys ...string) map[string]float64 {
	out := map[string]float64{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		for _, want := range keys {
			if string(k) == want {
				out[want], _ = strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 64)
			}
		}
	}
	return out
}

// scrape reads the unlabelled series of a Prometheus text page.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	for _, line := range strings.Split(string(body), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.ContainsRune(name, '{') {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[name] = f
		}
	}
	return out
}

// memSample takes one MemSample of the server.
func (s *Server) memSample() MemSample {
	st := procStatusKB(s.Pid(), "VmRSS", "RssAnon", "RssFile", "RssShmem")
	m := scrape(s.URL + "/metrics")
	const mb = 1 << 20
	ms := MemSample{
		RSSMB: st["VmRSS"] / 1024, AnonMB: st["RssAnon"] / 1024, FileMB: (st["RssFile"] + st["RssShmem"]) / 1024,
		GoHeapMB:  m["go_memstats_heap_inuse_bytes"] / mb,
		GoMB:      (m["go_memstats_sys_bytes"] - m["go_memstats_heap_released_bytes"]) / mb,
		Goroutine: m["go_goroutines"],
		LagBytes:  -1,
	}
	if v, ok := m["journey_loader_lag_bytes"]; ok {
		ms.LagBytes = v
	}
	ms.NonGoMB = max(0, ms.AnonMB-ms.GoMB)
	return ms
}
