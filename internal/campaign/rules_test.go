package campaign

import (
	"fmt"
	"math"
	"regexp"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/flags"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(t *testing.T, v string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func TestAssign(t *testing.T) {
	const n = 20000
	counts := map[Arm]int{}
	var bothHeld, heldA int
	for i := range n {
		key := fmt.Sprint(i)
		a := Assign("1", "7", key, 0.1, 0.05)
		if Assign("1", "7", key, 0.1, 0.05) != a {
			t.Fatalf("person %s: unstable arm", key)
		}
		counts[a]++
		// The scheme: flags.Hash, salted per campaign for the holdout and
		// per project for the control group.
		control := flags.Hash("campaign-control:1", key, "") < 0.05
		held := flags.Hash("campaign:1:7", key, "holdout") < 0.1
		want := map[bool]Arm{true: ArmControlGroup}[control]
		if want == "" {
			want = map[bool]Arm{true: ArmHoldout, false: ArmTreatment}[held]
		}
		if a != want {
			t.Fatalf("person %s: %s, want %s", key, a, want)
		}
		// The control group is the same for every campaign; holdouts are
		// independent.
		other := Assign("1", "8", key, 0.1, 0.05)
		if (a == ArmControlGroup) != (other == ArmControlGroup) {
			t.Fatalf("person %s: control group differs between campaigns", key)
		}
		if a == ArmHoldout {
			heldA++
			if other == ArmHoldout {
				bothHeld++
			}
		}
		// Another project's control group is another set.
		if Assign("2", "7", key, 0, 1) != ArmControlGroup || Assign("1", "7", key, 0, 0) != ArmTreatment {
			t.Fatalf("person %s: shares 1 and 0", key)
		}
	}
	near := func(got int, share float64) bool {
		sd := math.Sqrt(share * (1 - share) * n)
		return math.Abs(float64(got)-share*n) < 4*sd
	}
	if !near(counts[ArmControlGroup], 0.05) || !near(counts[ArmHoldout], 0.95*0.1) || !near(counts[ArmTreatment], 0.95*0.9) {
		t.Fatalf("arms %v of %d", counts, n)
	}
	// Holdouts of two campaigns overlap as independent draws (10 % of 10 %).
	if share := float64(bothHeld) / float64(heldA); share < 0.06 || share > 0.14 {
		t.Fatalf("%d of campaign 7's %d held out are held out of campaign 8 too", bothHeld, heldA)
	}
	// Pinned values: the hash scheme must not change under running campaigns.
	if got := []Arm{Assign("1", "7", "42", 0.5, 0), Assign("1", "7", "43", 0.5, 0), Assign("1", "7", "44", 0.5, 0)}; fmt.Sprint(got) != pinnedArms {
		t.Fatalf("pinned arms %v, want %s", got, pinnedArms)
	}
}

const pinnedArms = "[holdout treatment treatment]"

func TestChooseVariant(t *testing.T) {
	const n = 20000
	counts := make([]int, 4)
	for i := range n {
		key := fmt.Sprint(i)
		v := ChooseVariant("1", "7", key, []float64{3, 0, 1, 0})
		if v != ChooseVariant("1", "7", key, []float64{0.75, 0, 0.25, 0}) {
			t.Fatalf("person %s: weights not normalised alike", key)
		}
		counts[v]++
	}
	if counts[1] != 0 || counts[3] != 0 || math.Abs(float64(counts[0])/n-0.75) > 0.02 {
		t.Fatalf("variant counts %v", counts)
	}
	if ChooseVariant("1", "7", "x", nil) != -1 || ChooseVariant("1", "7", "x", []float64{0, 0}) != -1 || ChooseVariant("1", "7", "x", []float64{0, 2}) != 1 {
		t.Fatal("degenerate weights")
	}
	// The holdout and the variant are independent draws.
	var held, heldFirst int
	for i := range n {
		key := fmt.Sprint(i)
		if Assign("1", "7", key, 0.5, 0) == ArmHoldout {
			held++
			if ChooseVariant("1", "7", key, []float64{1, 1}) == 0 {
				heldFirst++
			}
		}
	}
	if share := float64(heldFirst) / float64(held); math.Abs(share-0.5) > 0.03 {
		t.Fatalf("%d of %d held out got variant 0", heldFirst, held)
	}
	d, err := Parse([]byte(reminder))
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Variant("1", "7", "42"); v == nil || v != &d.Variants[ChooseVariant("1", "7", "42", []float64{3, 1})] {
		t.Fatalf("definition's variant %+v", v)
	}
}

func TestFrequencyCap(t *testing.T) {
	at := utc(t, "2026-01-10T12:00:00Z")
	h := func(x float64) time.Time { return at.Add(time.Duration(x * float64(time.Hour))) }
	cases := []struct {
		name  string
		cap   *FrequencyCap
		sent  []time.Time
		allow bool
		next  time.Time
	}{
		{"no cap", nil, []time.Time{h(-1), h(-2)}, true, at},
		{"none sent", &FrequencyCap{Count: 1, PerDur: 24 * time.Hour}, nil, true, at},
		{"one an hour ago", &FrequencyCap{Count: 1, PerDur: 24 * time.Hour}, []time.Time{h(-1)}, false, h(23)},
		{"just past the window", &FrequencyCap{Count: 1, PerDur: 24 * time.Hour}, []time.Time{h(-24)}, true, at},
		{"just inside", &FrequencyCap{Count: 1, PerDur: 24 * time.Hour}, []time.Time{h(-23.99)}, false, h(0.01)},
		{"one now", &FrequencyCap{Count: 1, PerDur: 24 * time.Hour}, []time.Time{at}, false, h(24)},
		{"later sends ignored", &FrequencyCap{Count: 1, PerDur: 24 * time.Hour}, []time.Time{h(1)}, true, at},
		{"two of two, unsorted", &FrequencyCap{Count: 2, PerDur: 24 * time.Hour}, []time.Time{h(-1), h(-25), h(-23)}, false, h(1)},
		{"one of two", &FrequencyCap{Count: 2, PerDur: 24 * time.Hour}, []time.Time{h(-1), h(-25)}, true, at},
		{"three of two", &FrequencyCap{Count: 2, PerDur: 7 * 24 * time.Hour}, []time.Time{h(-2), h(-100), h(-50)}, false, h(-50 + 168)},
		{"per unparsed", &FrequencyCap{Count: 1, Per: "30s"}, []time.Time{at.Add(-10 * time.Second)}, false, at.Add(20 * time.Second)},
	}
	for _, c := range cases {
		if got := c.cap.Allows(c.sent, at); got != c.allow {
			t.Errorf("%s: allows %v, want %v", c.name, got, c.allow)
		}
		if got := c.cap.NextAllowed(c.sent, at); !got.Equal(c.next) {
			t.Errorf("%s: next allowed %v, want %v", c.name, got, c.next)
		}
		if next := c.cap.NextAllowed(c.sent, at); !c.cap.Allows(c.sent, next) {
			t.Errorf("%s: next allowed %v is not allowed", c.name, next)
		}
	}
}

func TestQuietHours(t *testing.T) {
	berlin, la, kolkata := zone(t, "Europe/Berlin"), zone(t, "America/Los_Angeles"), zone(t, "Asia/Kolkata")
	night := &QuietHours{Start: "22:00", End: "08:00"}
	cases := []struct {
		name     string
		q        *QuietHours
		loc      *time.Location
		at, want string // UTC
	}{
		{"evening moves to the morning", night, berlin, "2026-01-10T22:00:00Z", "2026-01-11T07:00:00Z"}, // 23:00 → 08:00 CET
		{"small hours", night, berlin, "2026-01-11T02:00:00Z", "2026-01-11T07:00:00Z"},                  // 03:00 CET
		{"day unchanged", night, berlin, "2026-01-11T11:00:00Z", "2026-01-11T11:00:00Z"},
		{"start is quiet", night, berlin, "2026-01-10T21:00:00Z", "2026-01-11T07:00:00Z"}, // 22:00 CET
		{"end is not", night, berlin, "2026-01-11T07:00:00Z", "2026-01-11T07:00:00Z"},     // 08:00 CET
		{"a second before the end", night, berlin, "2026-01-11T06:59:59Z", "2026-01-11T07:00:00Z"},
		// Spring forward (29 March 2026, 02:00 CET → 03:00 CEST at 01:00 UTC).
		{"spring-forward night", night, berlin, "2026-03-28T22:00:00Z", "2026-03-29T06:00:00Z"},                                 // 23:00 CET → 08:00 CEST
		{"end in the gap", &QuietHours{Start: "22:00", End: "02:30"}, berlin, "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"},   // 01:30 CET → 03:00 CEST
		{"start in the gap", &QuietHours{Start: "02:30", End: "05:00"}, berlin, "2026-03-29T01:10:00Z", "2026-03-29T03:00:00Z"}, // 03:10 CEST → 05:00 CEST
		{"before a start in the gap", &QuietHours{Start: "02:30", End: "05:00"}, berlin, "2026-03-29T00:59:00Z", "2026-03-29T00:59:00Z"},
		// Fall back (25 October 2026, 03:00 CEST → 02:00 CET at 01:00 UTC).
		{"fall-back night", night, berlin, "2026-10-24T21:00:00Z", "2026-10-25T07:00:00Z"},                                            // 23:00 CEST → 08:00 CET
		{"end in the first pass", &QuietHours{Start: "22:00", End: "02:30"}, berlin, "2026-10-25T00:10:00Z", "2026-10-25T00:30:00Z"},  // 02:10 CEST → 02:30 CEST
		{"end in the second pass", &QuietHours{Start: "22:00", End: "02:30"}, berlin, "2026-10-25T01:10:00Z", "2026-10-25T01:30:00Z"}, // 02:10 CET → 02:30 CET
		{"after the first end", &QuietHours{Start: "22:00", End: "02:30"}, berlin, "2026-10-25T00:40:00Z", "2026-10-25T00:40:00Z"},    // 02:40 CEST
		{"the clock falls out", &QuietHours{Start: "02:30", End: "04:00"}, berlin, "2026-10-25T00:45:00Z", "2026-10-25T01:00:00Z"},    // 02:45 CEST, then 02:00 CET
		// Los Angeles: spring forward 8 March (10:00 UTC), fall back 1 November (09:00 UTC).
		{"LA spring forward", &QuietHours{Start: "21:00", End: "09:00"}, la, "2026-03-08T06:00:00Z", "2026-03-08T16:00:00Z"}, // 22:00 PST → 09:00 PDT
		{"LA fall back", &QuietHours{Start: "21:00", End: "09:00"}, la, "2026-11-01T05:00:00Z", "2026-11-01T17:00:00Z"},      // 22:00 PDT → 09:00 PST
		{"LA afternoon", &QuietHours{Start: "21:00", End: "09:00"}, la, "2026-03-09T22:00:00Z", "2026-03-09T22:00:00Z"},
		{"half-hour zone", night, kolkata, "2026-01-10T17:00:00Z", "2026-01-11T02:30:00Z"}, // 22:30 IST → 08:00 IST
		{"within a day", &QuietHours{Start: "12:00", End: "14:00"}, time.UTC, "2026-01-10T13:00:00Z", "2026-01-10T14:00:00Z"},
		{"before a day window", &QuietHours{Start: "12:00", End: "14:00"}, time.UTC, "2026-01-10T11:59:00Z", "2026-01-10T11:59:00Z"},
		{"start == end is none", &QuietHours{Start: "08:00", End: "08:00"}, berlin, "2026-01-10T07:30:00Z", "2026-01-10T07:30:00Z"},
		{"no quiet hours", nil, berlin, "2026-01-10T23:00:00Z", "2026-01-10T23:00:00Z"},
		{"no zone is UTC", night, nil, "2026-01-10T23:00:00Z", "2026-01-11T08:00:00Z"},
	}
	for _, c := range cases {
		at := utc(t, c.at)
		got := c.q.SendAt(at, c.loc)
		if want := utc(t, c.want); !got.Equal(want) {
			t.Errorf("%s: %s → %s, want %s", c.name, c.at, got.UTC().Format(time.RFC3339), c.want)
		}
		if c.q.Quiet(got, c.loc) {
			t.Errorf("%s: %s is in quiet hours", c.name, got)
		}
		if got.Location() != at.Location() {
			t.Errorf("%s: location %v", c.name, got.Location())
		}
		if quietNow := !got.Equal(at); quietNow != c.q.Quiet(at, c.loc) {
			t.Errorf("%s: moved %v, quiet %v", c.name, quietNow, c.q.Quiet(at, c.loc))
		}
	}
	// The person's zone, else the project's.
	if Zone("Europe/Berlin", la).String() != "Europe/Berlin" || Zone("Mars/Olympus", la) != la || Zone("", nil) != time.UTC {
		t.Fatal("zone fallback")
	}
}

func TestReeligible(t *testing.T) {
	last := utc(t, "2026-01-10T12:00:00Z")
	week := 7 * 24 * time.Hour
	cases := []struct {
		name    string
		last    time.Time
		trigger time.Time
		after   time.Duration
		want    bool
	}{
		{"first trigger", time.Time{}, last, week, true},
		{"again within the window", last, last.Add(week - time.Second), week, false},
		{"again at the window's end", last, last.Add(week), week, true},
		{"again later", last, last.Add(30 * 24 * time.Hour), week, true},
		{"the same trigger again", last, last, week, false},
		{"an older trigger", last, last.Add(-time.Hour), week, false},
		{"no window", last, last.Add(time.Second), 0, true},
	}
	for _, c := range cases {
		if got := Reeligible(c.last, c.trigger, c.after); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBestTime(t *testing.T) {
	berlin, la := zone(t, "Europe/Berlin"), zone(t, "America/Los_Angeles")
	peak := func(hours ...int) [24]float64 {
		var h [24]float64
		for i := range h {
			h[i] = 1
		}
		for _, x := range hours {
			h[x] = 10
		}
		return h
	}
	var none, little [24]float64
	little[3] = 4 // 4 events: too little
	project := peak(9)
	cases := []struct {
		name     string
		hist     [24]float64
		trigger  string
		minDelay time.Duration
		loc      *time.Location
		want     string
	}{
		{"later today", peak(20), "2026-01-10T10:00:00Z", time.Hour, berlin, "2026-01-10T19:00:00Z"},             // 11:00 CET → 20:00 CET
		{"inside the hour", peak(20), "2026-01-10T19:30:00Z", 0, berlin, "2026-01-10T19:30:00Z"},                 // 20:30 CET
		{"min delay past the hour", peak(20), "2026-01-10T19:30:00Z", time.Hour, berlin, "2026-01-11T19:00:00Z"}, // 21:30 CET → tomorrow
		{"min delay into the hour", peak(20), "2026-01-10T18:30:00Z", time.Hour, berlin, "2026-01-10T19:30:00Z"},
		{"long min delay", peak(20), "2026-01-10T10:00:00Z", 30 * time.Hour, berlin, "2026-01-11T19:00:00Z"}, // 11 January 17:00 CET → 20:00
		{"little history: project's", little, "2026-01-10T10:00:00Z", 0, berlin, "2026-01-11T08:00:00Z"},     // 09:00 CET tomorrow
		{"tie: the sooner", peak(8, 20), "2026-01-10T09:00:00Z", 0, berlin, "2026-01-10T19:00:00Z"},          // 10:00 CET: 20:00 today before 08:00 tomorrow
		{"tie after the evening", peak(8, 20), "2026-01-10T20:00:00Z", 0, berlin, "2026-01-11T07:00:00Z"},
		{"spring forward skips 02:00", peak(2), "2026-03-28T12:00:00Z", 0, berlin, "2026-03-30T00:00:00Z"},     // 02:00 CEST on the 30th
		{"fall back: the first 02:00", peak(2), "2026-10-24T12:00:00Z", 0, berlin, "2026-10-25T00:00:00Z"},     // 02:00 CEST
		{"fall back: in the second 02:00", peak(2), "2026-10-25T01:15:00Z", 0, berlin, "2026-10-25T01:15:00Z"}, // 02:15 CET
		{"LA across spring forward", peak(18), "2026-03-08T08:00:00Z", time.Hour, la, "2026-03-09T01:00:00Z"},  // 18:00 PDT on the 8th
		{"UTC when no zone", peak(6), "2026-01-10T10:00:00Z", 0, nil, "2026-01-11T06:00:00Z"},
	}
	for _, c := range cases {
		got := BestTime(c.hist, utc(t, c.trigger), c.minDelay, c.loc, project)
		if want := utc(t, c.want); !got.Equal(want) {
			t.Errorf("%s: %s, want %s", c.name, got.UTC().Format(time.RFC3339), c.want)
		}
		if earliest := utc(t, c.trigger).Add(c.minDelay); got.Before(earliest) {
			t.Errorf("%s: %s before the minimum delay", c.name, got)
		}
	}
	// No history anywhere: at the minimum delay.
	if got := BestTime(none, utc(t, "2026-01-10T10:00:00Z"), 2*time.Hour, berlin, none); !got.Equal(utc(t, "2026-01-10T12:00:00Z")) {
		t.Fatalf("no history: %s", got)
	}
	// With enough history the person's own hour wins over the project's.
	var own [24]float64
	own[15] = 5
	if got := BestTime(own, utc(t, "2026-01-10T00:00:00Z"), 0, time.UTC, project); !got.Equal(utc(t, "2026-01-10T15:00:00Z")) {
		t.Fatalf("own history: %s", got)
	}
	// Deterministic: the same inputs, the same answer.
	for range 10 {
		if got := BestTime(peak(8, 20), utc(t, "2026-01-10T09:00:00Z"), 0, berlin, project); !got.Equal(utc(t, "2026-01-10T19:00:00Z")) {
			t.Fatalf("unstable: %s", got)
		}
	}
}

func TestKey(t *testing.T) {
	k := Key(7, 42, "0190a3c4-0000-7000-8000-000000000001", "plain")
	if len(k) != 32 || !regexp.MustCompile(`^[A-Za-z0-9_-]{32}$`).MatchString(k) {
		t.Fatalf("key %q: want 32 URL-safe characters (a Web Push topic)", k)
	}
	if Key(7, 42, "0190a3c4-0000-7000-8000-000000000001", "plain") != k {
		t.Fatal("unstable key")
	}
	seen := map[string]bool{k: true}
	for _, other := range []string{
		Key(8, 42, "0190a3c4-0000-7000-8000-000000000001", "plain"),
		Key(7, 43, "0190a3c4-0000-7000-8000-000000000001", "plain"),
		Key(7, 42, "0190a3c4-0000-7000-8000-000000000002", "plain"),
		Key(7, 42, "0190a3c4-0000-7000-8000-000000000001", "urgent"),
		Key(7, 42, "ab", "c"), Key(7, 42, "a", "bc"), // fields are length-prefixed
		Key(74, 2, "x", "y"), Key(7, 42, "x", "y"),
	} {
		if seen[other] {
			t.Fatalf("key %q repeats", other)
		}
		seen[other] = true
	}
	if k != pinnedKey {
		t.Fatalf("key %q, want pinned %q: keys of scheduled sends must not change", k, pinnedKey)
	}
}

const pinnedKey = "AHjLrNOT3W2YZAoJMVasDHgiu8-17_Vn"
