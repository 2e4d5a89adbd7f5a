package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/stats"
)

// The statistics calculator (secret key): the same engine experiments use,
// on numbers the caller brings. The request and answer shapes are contract.
func (s *Server) registerStats(mux *routeMux) {
	mux.HandleFunc("POST /api/v1/stats/compare", s.withProject(statsCompare))
	mux.HandleFunc("POST /api/v1/stats/srm", s.withProject(statsSRM))
	mux.HandleFunc("POST /api/v1/stats/adjust", s.withProject(statsAdjust))
	mux.HandleFunc("POST /api/v1/stats/sample-size", s.withProject(statsSampleSize))
}

// maxStatsBody bounds a calculator request (lists of p-values or arms).
const maxStatsBody = 1 << 20

// maxStatsList bounds the p-values or arms of one request.
const maxStatsList = 10000

// decodeStats reads a calculator body strictly into v.
func decodeStats(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxStatsBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return insight.Bad("body", "cannot decode body as JSON: %v", err)
	}
	return nil
}

// statsArm is one arm: {"n","sum","sum_squares"} for a mean metric or
// {"n","conversions"} for a conversion rate.
type statsArm struct {
	N           *float64 `json:"n"`
	Sum         *float64 `json:"sum"`
	SumSquares  *float64 `json:"sum_squares"`
	Conversions *float64 `json:"conversions"`
}

func (a *statsArm) stats(field string) (stats.Stats, error) {
	switch {
	case a == nil:
		return stats.Stats{}, insight.Bad(field, "missing")
	case a.N == nil:
		return stats.Stats{}, insight.Bad(field+".n", "missing")
	case a.Conversions != nil && (a.Sum != nil || a.SumSquares != nil):
		return stats.Stats{}, insight.Bad(field, "give either conversions or sum and sum_squares, not both")
	case a.Conversions != nil && (*a.Conversions < 0 || *a.Conversions > *a.N):
		return stats.Stats{}, insight.Bad(field+".conversions", "must be between 0 and n (%v)", *a.N)
	case a.Conversions != nil:
		return stats.Proportion(*a.N, *a.Conversions), nil
	case a.Sum == nil:
		return stats.Stats{}, insight.Bad(field+".sum", "missing (or give conversions)")
	case a.SumSquares == nil:
		return stats.Stats{}, insight.Bad(field+".sum_squares", "missing")
	}
	return stats.Mean(*a.N, *a.Sum, *a.SumSquares), nil
}

// statsError answers a calculator error: the engine's input errors name
// their field in its own spelling ("treatment.value.sum_squares"), which
// the arm shape here flattens ("treatment.sum_squares").
func statsError(w http.ResponseWriter, err error) {
	var in *stats.InputError
	if errors.As(err, &in) {
		field := strings.Replace(in.Field, ".value.", ".", 1)
		writeBad(w, insight.Bad(field, "%s", in.Reason))
		return
	}
	writeBad(w, err)
}

type compareAnswer struct {
	Effect      float64        `json:"effect"`
	CI          stats.Interval `json:"ci"`
	SE          float64        `json:"se"`
	PValue      *float64       `json:"p_value,omitempty"`
	ChanceToWin *float64       `json:"chance_to_win,omitempty"`
	Risk        *[2]float64    `json:"risk,omitempty"`
}

func statsCompare(w http.ResponseWriter, r *http.Request, _ meta.Project) {
	var req struct {
		Method    stats.Method `json:"method"`
		Relative  bool         `json:"relative"`
		Alpha     float64      `json:"alpha"`
		Sided     stats.Sided  `json:"sided"`
		Prior     *stats.Prior `json:"prior"`
		Tuning    float64      `json:"sequential_tuning"`
		Inverse   bool         `json:"inverse"`
		Control   *statsArm    `json:"control"`
		Treatment *statsArm    `json:"treatment"`
	}
	if err := decodeStats(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	switch req.Method {
	case "", stats.Frequentist, stats.Bayesian, stats.Sequential:
	default:
		writeBad(w, insight.Bad("method", "must be frequentist, bayesian or sequential, not %q", req.Method))
		return
	}
	control, err := req.Control.stats("control")
	if err != nil {
		writeBad(w, err)
		return
	}
	treatment, err := req.Treatment.stats("treatment")
	if err != nil {
		writeBad(w, err)
		return
	}
	opt := stats.Options{Method: req.Method, Alpha: req.Alpha, Relative: req.Relative, Sided: req.Sided,
		SequentialTuning: req.Tuning, Inverse: req.Inverse}
	if req.Prior != nil {
		opt.Prior = *req.Prior
	}
	res, err := stats.Compare(control, treatment, opt)
	if err != nil {
		statsError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, compareAnswer{Effect: res.Effect, CI: res.CI, SE: res.SE,
		PValue: res.PValue, ChanceToWin: res.ChanceToWin, Risk: res.Risk})
}

func statsSRM(w http.ResponseWriter, r *http.Request, _ meta.Project) {
	var req struct {
		Users   []float64 `json:"users"`
		Weights []float64 `json:"weights"`
	}
	if err := decodeStats(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	if len(req.Users) > maxStatsList {
		writeBad(w, insight.Bad("users", "at most %d arms", maxStatsList))
		return
	}
	p, err := stats.SRM(req.Users, req.Weights)
	if err != nil {
		statsError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"p_value": p, "mismatch": stats.SRMFlag(p)})
}

func statsAdjust(w http.ResponseWriter, r *http.Request, _ meta.Project) {
	var req struct {
		Method  string    `json:"method"`
		PValues []float64 `json:"p_values"`
	}
	if err := decodeStats(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	if len(req.PValues) > maxStatsList {
		writeBad(w, insight.Bad("p_values", "at most %d p-values", maxStatsList))
		return
	}
	switch req.Method {
	case "holm", "bh":
	default:
		writeBad(w, insight.Bad("method", "must be holm or bh, not %q", req.Method))
		return
	}
	for i, p := range req.PValues {
		if math.IsNaN(p) || p < 0 || p > 1 {
			writeBad(w, insight.Bad(fmt.Sprintf("p_values[%d]", i), "must be in [0, 1]"))
			return
		}
	}
	adjusted, err := stats.Adjust(req.Method, req.PValues)
	if err != nil {
		statsError(w, err)
		return
	}
	if adjusted == nil {
		adjusted = []float64{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"p_values": adjusted})
}

func statsSampleSize(w http.ResponseWriter, r *http.Request, _ meta.Project) {
	var req struct {
		Baseline *float64 `json:"baseline"`
		MDE      *float64 `json:"mde"`
		Relative bool     `json:"relative"`
		Alpha    float64  `json:"alpha"`
		Power    float64  `json:"power"`
		// Variance makes it a mean metric; without it baseline is a
		// conversion rate.
		Variance *float64 `json:"variance"`
	}
	if err := decodeStats(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	switch {
	case req.Baseline == nil:
		writeBad(w, insight.Bad("baseline", "missing"))
		return
	case req.MDE == nil:
		writeBad(w, insight.Bad("mde", "missing"))
		return
	}
	in := stats.SampleSizeInput{Baseline: *req.Baseline, MDE: *req.MDE, Relative: req.Relative,
		Alpha: req.Alpha, Power: req.Power, Proportion: req.Variance == nil}
	if req.Variance != nil {
		in.Variance = *req.Variance
	}
	n, err := stats.SampleSize(in)
	if err != nil {
		statsError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"per_arm": n})
}
