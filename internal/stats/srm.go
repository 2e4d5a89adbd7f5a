package stats

// SRMThreshold is the p-value below which a sample ratio mismatch is
// flagged. It is strict (0.001, as GrowthBook) because the check runs on
// every experiment and every refresh: a 5% threshold would cry wolf often.
const SRMThreshold = 0.001

// SRM is the p-value of a chi-square goodness-of-fit test of the observed
// users per arm against the expected split weights. A small p-value means
// the assignment or the tracking is broken and effects cannot be trusted.
//
// Arms with weight 0 are left out (as GrowthBook's app does): they are
// expected to be empty and would otherwise divide by zero. Weights need not
// sum to 1. With fewer than two weighted arms, or no users at all, there is
// nothing to test and the p-value is 1.
func SRM(users, weights []float64) (float64, error) {
	if len(users) != len(weights) {
		return 0, inputErr("weights", "has %d entries for %d arms of users", len(weights), len(users))
	}
	var totalUsers, totalWeight float64
	arms := 0
	for i := range users {
		if err := checkSRMEntry(i, users[i], weights[i]); err != nil {
			return 0, err
		}
		if weights[i] == 0 {
			continue
		}
		arms++
		totalUsers += users[i]
		totalWeight += weights[i]
	}
	if totalWeight <= 0 {
		return 0, inputErr("weights", "must contain a positive weight")
	}
	if arms < 2 || totalUsers == 0 {
		return 1, nil
	}
	var x float64
	for i, o := range users {
		if weights[i] == 0 {
			continue
		}
		e := weights[i] / totalWeight * totalUsers
		x += (o - e) * (o - e) / e
	}
	return ChiSquareSF(x, float64(arms-1)), nil
}

// SRMFlag reports whether an SRM p-value signals a mismatch.
func SRMFlag(p float64) bool { return p < SRMThreshold }

func checkSRMEntry(i int, users, weight float64) error {
	uf, wf := indexed("users", i), indexed("weights", i)
	if err := finite(uf, users); err != nil {
		return err
	}
	if err := finite(wf, weight); err != nil {
		return err
	}
	if users < 0 {
		return inputErr(uf, "must not be negative (got %v)", users)
	}
	if weight < 0 {
		return inputErr(wf, "must not be negative (got %v)", weight)
	}
	return nil
}
