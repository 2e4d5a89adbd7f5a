package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// SettingSDK is the project setting that says how the browser SDKs behave
// (posthog-js reads it as its remote config) and what capture keeps of a
// client's address.
const SettingSDK = "sdk"

// IP handling at capture.
const (
	IPKeep     = "keep"     // $ip as received
	IPTruncate = "truncate" // last octet (IPv4) or last 80 bits (IPv6) zeroed
	IPDrop     = "drop"     // no $ip at all
)

// SDKSettings is the value of SettingSDK. The zero value is not the
// default: use DefaultSDKSettings (autocapture on, IPs kept), which unset
// fields of a stored value also take.
type SDKSettings struct {
	Autocapture        bool   `json:"autocapture"`
	CapturePerformance bool   `json:"capture_performance"` // web vitals and network timing
	Heatmaps           bool   `json:"heatmaps"`
	DeadClicks         bool   `json:"dead_clicks"`
	Exceptions         bool   `json:"exceptions"`
	IP                 string `json:"ip"` // IPKeep, IPTruncate or IPDrop
}

// DefaultSDKSettings is what a project has until someone changes it.
func DefaultSDKSettings() SDKSettings {
	return SDKSettings{Autocapture: true, CapturePerformance: true, Heatmaps: false, DeadClicks: true, Exceptions: true, IP: IPKeep}
}

// Validate names the first field that is wrong.
func (s SDKSettings) Validate() error {
	switch s.IP {
	case IPKeep, IPTruncate, IPDrop:
		return nil
	}
	return fmt.Errorf(`invalid field "ip": want %q, %q or %q, got %q`, IPKeep, IPTruncate, IPDrop, s.IP)
}

// LoadSDKSettings reads a project's SDK settings, the defaults when unset.
func LoadSDKSettings(ctx context.Context, st Store, projectID int64) (SDKSettings, error) {
	out := DefaultSDKSettings()
	raw, err := st.Setting(ctx, projectID, SettingSDK)
	if errors.Is(err, ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("cannot read sdk settings of project %d: %w", projectID, err)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return DefaultSDKSettings(), fmt.Errorf("cannot decode sdk settings of project %d: %w", projectID, err)
	}
	return out, nil
}
