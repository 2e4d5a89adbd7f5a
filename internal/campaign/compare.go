package campaign

import "math"

// Comparison is two campaigns' reports side by side (issue 15 item 8: a
// reminder against a broadcast, "CTR 13×, CVR 10×"): the ratios are the
// first report's rate over the second's, null when the second's is 0.
// RevenuePerRecipientRatio is there when both reports have revenue.
type Comparison struct {
	Reports                  [2]*Report `json:"reports"`
	CTRRatio                 *float64   `json:"ctr_ratio"`
	CVRRatio                 *float64   `json:"cvr_ratio"`
	RevenuePerRecipientRatio *float64   `json:"revenue_per_recipient_ratio,omitempty"`
}

// Compare sets report a beside report b.
func Compare(a, b *Report) *Comparison {
	c := &Comparison{Reports: [2]*Report{a, b}, CTRRatio: ratio(a.CTR, b.CTR), CVRRatio: ratio(a.CVR, b.CVR)}
	if a.RevenuePerRecipient != nil && b.RevenuePerRecipient != nil {
		c.RevenuePerRecipientRatio = ratio(*a.RevenuePerRecipient, *b.RevenuePerRecipient)
	}
	return c
}

// ratio is x / y, nil when y is 0 (or the quotient is not finite).
func ratio(x, y float64) *float64 {
	if y == 0 {
		return nil
	}
	r := x / y
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return nil
	}
	return &r
}
