package insight

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/stats"
)

// Experiment is {"kind":"experiment"}: the results of a feature-flag
// experiment computed from events, as sufficient statistics per variant
// and metric that stats.Compare takes (SPEC §5).
//
// Exposure: a person's first $feature_flag_called event in [From, To)
// whose $feature_flag is FlagKey and whose $feature_flag_response is one
// of Variants (compared as text: a boolean flag's responses are "true"
// and "false"). Persons are persons after merges, as in every insight. A
// person exposed to two or more different variants is excluded from every
// variant and counted in MultipleExposures.
//
// A metric's value for a person counts the events at or after the
// person's exposure and before exposure + the metric's window (and before
// To). With CUPED on (the default), each metric also gets its
// pre-exposure covariate: the same value over [exposure - PreDays days,
// exposure). The query's filters (event, person and cohort filters)
// select the exposures, so who is in the analysis: a person counts from
// their first exposure event that passes them. Metric events are
// filtered by their metric's own filters only.
type Experiment struct {
	FlagKey string `json:"flag_key"`
	// Variants are the flag's responses compared; the first is control.
	Variants []string           `json:"variants"`
	Metrics  []ExperimentMetric `json:"metrics"`
	// CUPED adds each metric's pre-exposure covariate; default true.
	CUPED *bool `json:"cuped,omitempty"`
	// PreDays is the covariate's period before each exposure, 1..365
	// days of 24 hours; default 14. Validate sets it to 0 when CUPED is
	// false: 0 means no covariate.
	PreDays int `json:"pre_days,omitempty"`
	Range
}

// ExperimentMetric is one metric of an experiment. Kind is
//   - "conversion": 1 when the person did Event in the window, or did
//     Steps in order (each step strictly after the one before), else 0;
//     a proportion (binomial);
//   - "count": the number of Event the person did in the window;
//   - "sum": the sum of Property over the person's Event in the window
//     (events whose Property is not a finite number add nothing);
//   - "mean": the mean of Property per event: the ratio of the persons'
//     sums of Property over their numbers of Event with a numeric
//     Property (delta method);
//   - "ratio": Numerator over Denominator (each a conversion, count or
//     sum metric with its own event, window and cap), a ratio of the
//     persons' values (delta method).
//
// Cap winsorizes each person's value of a count, sum or mean (the
// numerator: its per-person sum) at an absolute value or at a percentile
// of the values of every person exposed (all variants, zeros included
// unless ignore_zeros) with linear interpolation; the CUPED covariate is
// capped at the same value.
type ExperimentMetric struct {
	Name string `json:"name,omitempty"`
	Kind string `json:"kind"`
	// Event, or Action / ActionID, is what the metric counts.
	Event    string     `json:"event,omitempty"`
	Action   *ActionDef `json:"action,omitempty"`
	ActionID int64      `json:"action_id,omitempty"`
	// Filters apply to Event (or every step).
	Filters []Filter `json:"filters,omitempty"`
	// Steps make a conversion a funnel: 2..MaxFunnelSteps steps, instead
	// of Event.
	Steps    []FunnelStep `json:"steps,omitempty"`
	Property string       `json:"property,omitempty"`
	// Window is the time after exposure counted, as a funnel's window
	// ("72h", "7d"); default DefaultExperimentWindow.
	Window      string            `json:"window,omitempty"`
	Numerator   *ExperimentMetric `json:"numerator,omitempty"`
	Denominator *ExperimentMetric `json:"denominator,omitempty"`
	Cap         *stats.Capping    `json:"cap,omitempty"`

	WindowDur time.Duration `json:"-"`
}

// Experiment metric kinds.
const (
	MetricConversion = "conversion"
	MetricCount      = "count"
	MetricSum        = "sum"
	MetricMean       = "mean"
	MetricRatio      = "ratio"
)

// Experiment limits and defaults.
const (
	MaxExperimentVariants   = 10
	MaxExperimentMetrics    = 20
	MaxFlagKey              = 400
	DefaultExperimentWindow = "7d"
	DefaultPreDays          = 14
	MaxPreDays              = 365
	// ExposureEvent is the event that exposes a person to a variant.
	ExposureEvent = "$feature_flag_called"
)

// ParseExperiment decodes and validates an experiment query body.
func ParseExperiment(body []byte) (*Experiment, error) {
	var e Experiment
	if err := strictDecode(body, &e); err != nil {
		if x, ok := err.(*Error); ok && x.Field == "" {
			x.Field = "body"
		}
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks the experiment and fills its defaults (windows, names,
// labels, PreDays). It may run again after the API resolves actions.
func (e *Experiment) Validate() error {
	if err := e.Range.validate(); err != nil {
		return err
	}
	if e.Unit != "" && e.Unit != "person" {
		return bad("unit", "experiments count persons (unit %q is not supported)", e.Unit)
	}
	if err := noBreakdown(&e.Range, "experiment"); err != nil {
		return err
	}
	switch {
	case e.FlagKey == "":
		return bad("flag_key", "missing")
	case len(e.FlagKey) > MaxFlagKey:
		return bad("flag_key", "at most %d bytes", MaxFlagKey)
	}
	if len(e.Variants) < 2 {
		return bad("variants", "a control and at least one treatment are needed")
	}
	if len(e.Variants) > MaxExperimentVariants {
		return bad("variants", "at most %d variants", MaxExperimentVariants)
	}
	seen := map[string]bool{}
	for i, v := range e.Variants {
		field := fmt.Sprintf("variants[%d]", i)
		switch {
		case v == "":
			return bad(field, "must not be empty")
		case len(v) > MaxFlagKey:
			return bad(field, "at most %d bytes", MaxFlagKey)
		case seen[v]:
			return bad(field, "%q is given twice", v)
		}
		seen[v] = true
	}
	if e.CUPED != nil && !*e.CUPED {
		if e.PreDays != 0 {
			return bad("pre_days", "set while cuped is false")
		}
	} else {
		if e.PreDays == 0 {
			e.PreDays = DefaultPreDays
		}
		if e.PreDays < 1 || e.PreDays > MaxPreDays {
			return bad("pre_days", "must be 1..%d", MaxPreDays)
		}
	}
	if len(e.Metrics) == 0 {
		return bad("metrics", "at least one metric is needed")
	}
	if len(e.Metrics) > MaxExperimentMetrics {
		return bad("metrics", "at most %d metrics", MaxExperimentMetrics)
	}
	for i := range e.Metrics {
		if err := e.Metrics[i].validate(fmt.Sprintf("metrics[%d]", i), false); err != nil {
			return err
		}
	}
	return nil
}

// validate checks one metric; part says it is a ratio's numerator or
// denominator (a conversion, count or sum).
func (m *ExperimentMetric) validate(field string, part bool) error {
	at := func(name string) string { return field + "." + name }
	switch m.Kind {
	case "":
		return bad(at("kind"), "missing (conversion, count, sum, mean, ratio)")
	case MetricConversion, MetricCount, MetricSum:
	case MetricMean, MetricRatio:
		if part {
			return bad(at("kind"), "a ratio's numerator and denominator are conversion, count or sum metrics")
		}
	default:
		return bad(at("kind"), "unknown kind %q (conversion, count, sum, mean, ratio)", m.Kind)
	}
	if m.Kind == MetricRatio {
		return m.validateRatio(field)
	}
	if m.Numerator != nil {
		return bad(at("numerator"), "only a ratio has a numerator")
	}
	if m.Denominator != nil {
		return bad(at("denominator"), "only a ratio has a denominator")
	}
	if len(m.Steps) > 0 {
		if m.Kind != MetricConversion {
			return bad(at("steps"), "only a conversion has steps")
		}
		if m.Event != "" || m.Action != nil || m.ActionID != 0 {
			return bad(at("steps"), "give event or steps, not both")
		}
		if len(m.Steps) < 2 {
			return bad(at("steps"), "a funnel needs at least 2 steps (give one step as event)")
		}
		if len(m.Steps) > MaxFunnelSteps {
			return bad(at("steps"), "at most %d steps", MaxFunnelSteps)
		}
		labels := make([]string, len(m.Steps))
		for i := range m.Steps {
			s := &m.Steps[i]
			sf := fmt.Sprintf("%s.steps[%d]", field, i)
			if err := eventOrAction(sf, s.Event, &s.Action, &s.ActionID); err != nil {
				return err
			}
			if s.Label == "" {
				s.Label = labelOf(s.Event, s.Action)
			}
			labels[i] = s.Label
			if err := validateFilters(sf+".filters", s.Filters, false); err != nil {
				return err
			}
		}
		if m.Name == "" && !slices.Contains(labels, "") {
			m.Name = strings.Join(labels, " → ")
		}
	} else {
		if err := eventOrAction(field, m.Event, &m.Action, &m.ActionID); err != nil {
			return err
		}
		if m.Name == "" {
			m.Name = labelOf(m.Event, m.Action)
			if m.Name != "" && m.Property != "" {
				m.Name += " " + m.Property
			}
		}
	}
	if err := validateFilters(at("filters"), m.Filters, false); err != nil {
		return err
	}
	switch m.Kind {
	case MetricSum, MetricMean:
		if m.Property == "" {
			return bad(at("property"), "a %s metric needs a property", m.Kind)
		}
	default:
		if m.Property != "" {
			return bad(at("property"), "only sum and mean metrics read a property")
		}
	}
	if m.Window == "" {
		m.Window = DefaultExperimentWindow
	}
	d, err := ParseWindow(m.Window)
	if err != nil {
		return bad(at("window"), "%v", err)
	}
	m.WindowDur = d
	if m.Cap != nil {
		if m.Kind == MetricConversion {
			return bad(at("cap"), "a conversion is 0 or 1: there is nothing to cap")
		}
		if err := validateCap(at("cap"), *m.Cap); err != nil {
			return err
		}
	}
	return nil
}

func (m *ExperimentMetric) validateRatio(field string) error {
	at := func(name string) string { return field + "." + name }
	switch {
	case m.Event != "" || m.Action != nil || m.ActionID != 0:
		return bad(at("event"), "a ratio takes its events from its numerator and denominator")
	case len(m.Steps) > 0:
		return bad(at("steps"), "a ratio takes its events from its numerator and denominator")
	case len(m.Filters) > 0:
		return bad(at("filters"), "give filters on the numerator and the denominator")
	case m.Property != "":
		return bad(at("property"), "give the property on the numerator or the denominator")
	case m.Window != "":
		return bad(at("window"), "give windows on the numerator and the denominator")
	case m.Cap != nil:
		return bad(at("cap"), "give caps on the numerator and the denominator")
	case m.Numerator == nil:
		return bad(at("numerator"), "missing")
	case m.Denominator == nil:
		return bad(at("denominator"), "missing")
	}
	if err := m.Numerator.validate(at("numerator"), true); err != nil {
		return err
	}
	if err := m.Denominator.validate(at("denominator"), true); err != nil {
		return err
	}
	if m.Name == "" && m.Numerator.Name != "" && m.Denominator.Name != "" {
		m.Name = m.Numerator.Name + " / " + m.Denominator.Name
	}
	return nil
}

func validateCap(field string, c stats.Capping) error {
	if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
		return bad(field+".value", "must be a finite number")
	}
	switch c.Type {
	case stats.CapAbsolute:
		if c.Value < 0 {
			return bad(field+".value", "must not be negative")
		}
		if c.IgnoreZeros {
			return bad(field+".ignore_zeros", "applies to percentile caps only")
		}
	case stats.CapPercentile:
		if c.Value <= 0 || c.Value > 1 {
			return bad(field+".value", "a percentile must be in (0, 1] (got %v)", c.Value)
		}
	case "":
		return bad(field+".type", "missing (absolute or percentile)")
	default:
		return bad(field+".type", "unknown cap type %q (absolute or percentile)", c.Type)
	}
	return nil
}

// Actions returns the actions the experiment's metrics name, so the API
// can resolve their ids (Actions(spec) does not know experiments yet).
func (e *Experiment) Actions() []ActionAt {
	var out []ActionAt
	var walk func(m *ExperimentMetric, field string)
	walk = func(m *ExperimentMetric, field string) {
		if m == nil {
			return
		}
		if m.Action != nil {
			out = append(out, ActionAt{Field: field + ".action", Action: m.Action})
		}
		for i := range m.Steps {
			if m.Steps[i].Action != nil {
				out = append(out, ActionAt{Field: fmt.Sprintf("%s.steps[%d].action", field, i), Action: m.Steps[i].Action})
			}
		}
		walk(m.Numerator, field+".numerator")
		walk(m.Denominator, field+".denominator")
	}
	for i := range e.Metrics {
		walk(&e.Metrics[i], fmt.Sprintf("metrics[%d]", i))
	}
	for i, f := range e.Filters {
		if f.Cohort != nil && f.Cohort.Behavior != nil && f.Cohort.Behavior.Action != nil {
			out = append(out, ActionAt{Field: fmt.Sprintf("filters[%d].cohort.behavior.action", i), Action: f.Cohort.Behavior.Action})
		}
	}
	return out
}

// The seam between insight and the stores for experiments: RunExperiment
// makes the plan (what each metric reads, in microseconds), asks the
// store for rows of counts and sums, and assembles the answer: every
// variant (exposed or not), a count for every day, the persons exposed
// to several variants, and each metric's stats.Stats per variant. A store
// only runs SQL.

// ExperimentPlan is what a store computes an experiment's rows from.
// Times are microseconds since the epoch, durations microseconds.
type ExperimentPlan struct {
	Q *Experiment
	// Days are the local days of [From, To) in the project timezone;
	// ExperimentExposureRow.Day indexes them.
	Days Periods
	// ExposureFilters select the exposure events, after the event name
	// ExposureEvent and the query's filters: $feature_flag is the flag,
	// $feature_flag_response one of the variants. A store turns the
	// response into the variant's index (0 for Variants[0]).
	ExposureFilters []Filter
	FromUs, ToUs    int64
	// PreUs is the CUPED period before each exposure; 0 without CUPED.
	PreUs   int64
	Metrics []ExperimentPlanMetric // one per Q.Metrics
}

// ExperimentPlanMetric is what one metric reads: X, the per-person value,
// and for means and ratios Y, the per-person denominator.
type ExperimentPlanMetric struct {
	X, Y *ExperimentValue
}

// ExperimentValue is a per-person value: Agg over the person's events
// matching Event (or Action) and Filters (not the query's: those select
// exposures) in [exposure, min(exposure + WindowUs, ToUs)), and, as the
// covariate, in [exposure - PreUs, exposure).
type ExperimentValue struct {
	Agg      string // one of the Agg* constants
	Event    string
	Action   *ActionDef
	Filters  []Filter
	Property string
	// Steps, for AggConverted, make the value 1 when the person did each
	// step strictly after the one before, all within the period (the
	// greedy chain: each step's first event after the previous step's);
	// Event is then empty and Filters are in each step's.
	Steps    []FunnelStep
	WindowUs int64
	Cap      *stats.Capping
}

// What an ExperimentValue aggregates.
const (
	AggConverted = "converted" // 1 when any event matched (or the steps were done), else 0
	AggCount     = "count"     // the number of events
	AggSum       = "sum"       // the sum of Property over events where it is a finite number
	AggValued    = "valued"    // the number of events where Property is a finite number
)

// ExperimentExposureRow says Persons persons were first exposed on local
// day Day (an index into the plan's Days) and saw the variants whose bits
// are set in Mask (bit i: Variants[i]). Rows with the same key add up.
type ExperimentExposureRow struct {
	Mask    uint64
	Day     int
	Persons int64
}

// ExperimentMetricRow is one metric's sums over the N persons exposed to
// Variant (an index into Variants) and no other, with the per-person
// values x, y (X and Y of the plan metric; 0 without Y), p and q (their
// covariates; 0 without CUPED), capped. XCap and YCap are the caps
// applied (+Inf when none; a percentile of no values is none).
type ExperimentMetricRow struct {
	Variant    int
	N          int64
	Sums       ExperimentSums
	XCap, YCap float64
}

// ExperimentSums are sums over persons of per-person values and of their
// squares and products.
type ExperimentSums struct {
	X, XX, Y, YY, XY   float64
	P, PP, Q, QQ       float64
	XP, XQ, YP, YQ, PQ float64
}

// ExperimentRows are a store's rows for an experiment: the exposure rows
// and, one per plan metric, each metric's rows (one per variant with
// persons exposed to it alone). Metrics may be nil when nobody was
// exposed to one variant alone: RunExperiment reads no metric then.
type ExperimentRows struct {
	Exposures []ExperimentExposureRow
	Metrics   [][]ExperimentMetricRow
}

// ExperimentRead is a store's read of an experiment's rows: in one pass
// (DuckDB: one statement computes the exposed persons once for the
// exposure rows and every metric), or with ExperimentQueries.Read one
// query at a time.
type ExperimentRead func(p *ExperimentPlan) (*ExperimentRows, error)

// ExperimentQueries are a store's reads one at a time: the exposure rows,
// and one metric's rows (one per variant with exposed persons).
type ExperimentQueries struct {
	Exposures func(p *ExperimentPlan) ([]ExperimentExposureRow, error)
	Metric    func(p *ExperimentPlan, metric int) ([]ExperimentMetricRow, error)
}

// Read is an ExperimentRead: the exposure rows, then, when some person
// was exposed to one variant alone, each metric's rows.
func (q ExperimentQueries) Read(p *ExperimentPlan) (*ExperimentRows, error) {
	rows, err := q.Exposures(p)
	if err != nil {
		return nil, err
	}
	out := &ExperimentRows{Exposures: rows}
	if !slices.ContainsFunc(rows, func(r ExperimentExposureRow) bool { return bits.OnesCount64(r.Mask) == 1 && r.Persons > 0 }) {
		return out, nil // nobody to measure
	}
	for k := range p.Metrics {
		m, err := q.Metric(p, k)
		if err != nil {
			return nil, err
		}
		out.Metrics = append(out.Metrics, m)
	}
	return out, nil
}

// ExperimentCounts is the answer to an Experiment: per variant, the
// persons exposed and, per metric, the sufficient statistics stats.Compare
// takes.
type ExperimentCounts struct {
	Kind    string                 `json:"kind"` // "experiment"
	FlagKey string                 `json:"flag_key"`
	Metrics []ExperimentMetricInfo `json:"metrics"`
	// Days are the local days of the range (YYYY-MM-DD), for the
	// variants' Exposures.
	Days     []string            `json:"days"`
	Variants []ExperimentVariant `json:"variants"` // as the query's, control first
	// MultipleExposures counts the persons excluded for seeing several
	// variants.
	MultipleExposures ExperimentMultiple `json:"multiple_exposures"`
}

// ExperimentMetricInfo describes metric i of the answer. Cap and
// DenominatorCap are the values the persons' values (and covariates)
// were capped at, when capped.
type ExperimentMetricInfo struct {
	Name           string   `json:"name"`
	Kind           string   `json:"kind"`
	CUPED          bool     `json:"cuped,omitempty"`
	Cap            *float64 `json:"cap,omitempty"`
	DenominatorCap *float64 `json:"denominator_cap,omitempty"`
}

// ExperimentVariant is one variant's persons and statistics.
type ExperimentVariant struct {
	Key string `json:"key"`
	// Exposed counts the persons exposed to this variant only: the n of
	// every metric.
	Exposed int64 `json:"exposed"`
	// Exposures are Exposed by the local day of their first exposure,
	// one per Days.
	Exposures []int64 `json:"exposures"`
	// Metrics are the statistics of each metric, one per Metrics:
	// stats.Compare(control.Metrics[i], treatment.Metrics[i], …).
	Metrics []stats.Stats `json:"metrics"`
	// MultipleExposures counts the excluded persons who saw this variant
	// (and another).
	MultipleExposures int64 `json:"multiple_exposures"`
}

// ExperimentMultiple counts the persons exposed to several variants:
// in all, and for each pair of variants a person saw both of.
type ExperimentMultiple struct {
	Persons int64            `json:"persons"`
	Pairs   []ExperimentPair `json:"pairs"`
}

// ExperimentPair is a pair of variants and the persons who saw both.
type ExperimentPair struct {
	Variants [2]string `json:"variants"`
	Persons  int64     `json:"persons"`
}

// Plan returns the experiment's plan in timezone tz.
func (e *Experiment) Plan(tz *time.Location) *ExperimentPlan {
	responses := make([]any, len(e.Variants))
	for i, v := range e.Variants {
		responses[i] = v
	}
	p := &ExperimentPlan{
		Q:    e,
		Days: Periods{Interval: "day", Starts: Buckets(e.From, e.To, tz, "day"), From: e.From, To: e.To},
		ExposureFilters: []Filter{
			{Property: "$feature_flag", Op: "eq", Value: e.FlagKey},
			{Property: "$feature_flag_response", Op: "in", Value: responses},
		},
		FromUs: e.From.UnixMicro(),
		ToUs:   e.To.UnixMicro(),
		PreUs:  (time.Duration(e.PreDays) * 24 * time.Hour).Microseconds(),
	}
	for i := range e.Metrics {
		m := &e.Metrics[i]
		var pm ExperimentPlanMetric
		switch m.Kind {
		case MetricRatio:
			pm.X, pm.Y = m.Numerator.value(), m.Denominator.value()
		case MetricMean:
			pm.X = m.value()
			y := *pm.X
			y.Agg, y.Cap = AggValued, nil
			pm.Y = &y
		default:
			pm.X = m.value()
		}
		p.Metrics = append(p.Metrics, pm)
	}
	return p
}

// value is the per-person value of a conversion, count, sum or mean's
// numerator.
func (m *ExperimentMetric) value() *ExperimentValue {
	v := &ExperimentValue{Event: m.Event, Action: m.Action, Filters: m.Filters, Property: m.Property,
		WindowUs: m.WindowDur.Microseconds(), Cap: m.Cap}
	switch m.Kind {
	case MetricConversion:
		v.Agg = AggConverted
	case MetricCount:
		v.Agg = AggCount
	default:
		v.Agg = AggSum
	}
	if len(m.Steps) > 0 {
		v.Event, v.Filters = "", nil
		for _, s := range m.Steps {
			s.Filters = append(append([]Filter(nil), s.Filters...), m.Filters...)
			v.Steps = append(v.Steps, s)
		}
	}
	return v
}

// RunExperiment answers an experiment from the rows read reads.
func RunExperiment(q *Experiment, tz *time.Location, read ExperimentRead) (*ExperimentCounts, error) {
	p := q.Plan(tz)
	days := p.Days.Len()
	res := &ExperimentCounts{Kind: "experiment", FlagKey: q.FlagKey, Days: make([]string, days),
		Variants:          make([]ExperimentVariant, len(q.Variants)),
		MultipleExposures: ExperimentMultiple{Pairs: []ExperimentPair{}}}
	for i := range res.Days {
		res.Days[i] = p.Days.Label(i)
	}
	cuped := p.PreUs > 0
	for _, m := range q.Metrics {
		res.Metrics = append(res.Metrics, ExperimentMetricInfo{Name: m.Name, Kind: m.Kind, CUPED: cuped})
	}
	for i, v := range q.Variants {
		res.Variants[i] = ExperimentVariant{Key: v, Exposures: make([]int64, days), Metrics: make([]stats.Stats, len(q.Metrics))}
		for k := range q.Metrics {
			res.Variants[i].Metrics[k] = p.statsOf(k, ExperimentMetricRow{})
		}
	}

	data, err := read(p)
	if err != nil {
		return nil, err
	}
	rows := data.Exposures
	all := uint64(1)<<len(q.Variants) - 1
	pairs := map[[2]int]int64{}
	var exposed int64
	for _, r := range rows {
		if r.Mask == 0 || r.Mask&^all != 0 {
			return nil, fmt.Errorf("experiment: exposure mask %#x out of range", r.Mask)
		}
		if bits.OnesCount64(r.Mask) == 1 {
			if r.Day < 0 || r.Day >= days {
				return nil, fmt.Errorf("experiment: exposure day %d out of range", r.Day)
			}
			v := &res.Variants[bits.TrailingZeros64(r.Mask)]
			v.Exposed += r.Persons
			v.Exposures[r.Day] += r.Persons
			exposed += r.Persons
			continue
		}
		res.MultipleExposures.Persons += r.Persons
		for i := range q.Variants {
			if r.Mask>>i&1 == 0 {
				continue
			}
			res.Variants[i].MultipleExposures += r.Persons
			for j := i + 1; j < len(q.Variants); j++ {
				if r.Mask>>j&1 == 1 {
					pairs[[2]int{i, j}] += r.Persons
				}
			}
		}
	}
	for i := range q.Variants {
		for j := i + 1; j < len(q.Variants); j++ {
			if n := pairs[[2]int{i, j}]; n > 0 {
				res.MultipleExposures.Pairs = append(res.MultipleExposures.Pairs,
					ExperimentPair{Variants: [2]string{q.Variants[i], q.Variants[j]}, Persons: n})
			}
		}
	}
	if exposed == 0 {
		return res, nil // nobody to measure
	}
	if len(data.Metrics) != len(q.Metrics) {
		return nil, fmt.Errorf("experiment: rows for %d metrics, want %d", len(data.Metrics), len(q.Metrics))
	}
	for k, rows := range data.Metrics {
		for _, r := range rows {
			if r.Variant < 0 || r.Variant >= len(q.Variants) {
				return nil, fmt.Errorf("experiment: metric %d: variant %d out of range", k, r.Variant)
			}
			res.Variants[r.Variant].Metrics[k] = p.statsOf(k, r)
			res.Metrics[k].Cap = capValue(p.Metrics[k].X, r.XCap)
			res.Metrics[k].DenominatorCap = capValue(p.Metrics[k].Y, r.YCap)
		}
	}
	return res, nil
}

// capValue is a value's cap for the answer: nil when uncapped.
func capValue(v *ExperimentValue, c float64) *float64 {
	if v == nil || v.Cap == nil || math.IsInf(c, 1) || math.IsNaN(c) {
		return nil
	}
	return &c
}

// statsOf turns metric k's sums over one variant into stats.Stats.
func (p *ExperimentPlan) statsOf(k int, r ExperimentMetricRow) stats.Stats {
	s := r.Sums
	pm := p.Metrics[k]
	out := stats.Stats{N: float64(r.N), Value: stats.Moments{Sum: s.X, SumSquares: s.XX}}
	conversion := p.Q.Metrics[k].Kind == MetricConversion
	if conversion {
		out.Value = stats.Binomial(s.X)
	}
	cuped := p.PreUs > 0
	if pm.Y == nil {
		if cuped {
			pre := stats.Moments{Sum: s.P, SumSquares: s.PP}
			if conversion {
				pre = stats.Binomial(s.P)
			}
			out.Pre = &pre
			out.Products.ValuePre = s.XP
		}
		return out
	}
	out.Denominator = &stats.Moments{Sum: s.Y, SumSquares: s.YY}
	out.Products.ValueDenominator = s.XY
	if cuped {
		out.Pre = &stats.Moments{Sum: s.P, SumSquares: s.PP}
		out.PreDenominator = &stats.Moments{Sum: s.Q, SumSquares: s.QQ}
		out.Products.ValuePre = s.XP
		out.Products.ValuePreDenominator = s.XQ
		out.Products.DenominatorPre = s.YP
		out.Products.DenominatorPreDenominator = s.YQ
		out.Products.PrePreDenominator = s.PQ
	}
	return out
}

// Compare compares treatment variant (an index into Variants, not 0)
// with control on metric k.
func (c *ExperimentCounts) Compare(k, treatment int, opt stats.Options) (stats.Result, error) {
	if k < 0 || k >= len(c.Metrics) {
		return stats.Result{}, fmt.Errorf("experiment: no metric %d", k)
	}
	if treatment < 1 || treatment >= len(c.Variants) {
		return stats.Result{}, fmt.Errorf("experiment: no treatment variant %d", treatment)
	}
	return stats.Compare(c.Variants[0].Metrics[k], c.Variants[treatment].Metrics[k], opt)
}
