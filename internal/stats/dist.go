package stats

import "math"

// This file holds the few distribution functions the tests need: normal,
// Student t and chi-square. They are written against the standard-library
// math package (erfc, lgamma) so the package has no dependency; the
// continued fractions reach ~1e-14 relative accuracy, well inside the 1e-9
// the callers need.

const (
	epsCF   = 1e-15  // relative step at which a continued fraction has converged
	tinyCF  = 1e-300 // guard against division by zero in Lentz's method
	maxIter = 100000 // safety net; the fractions converge in O(sqrt(a)) steps
)

// NormalCDF is P(Z <= x) for a standard normal Z. erfc keeps full relative
// precision in the lower tail, which 0.5*(1+erf) would not.
func NormalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// NormalSF is P(Z > x), computed directly so that tiny upper tails (small
// p-values) do not vanish in 1-CDF.
func NormalSF(x float64) float64 { return 0.5 * math.Erfc(x/math.Sqrt2) }

// NormalPDF is the standard normal density.
func NormalPDF(x float64) float64 { return math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi) }

// NormalQuantile is the inverse of NormalCDF. math.Erfinv gives a good start,
// but going through 1-2p loses digits in the tails, so two Newton steps on
// the erfc-based CDF restore full precision.
func NormalQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p > 0.5:
		return -NormalQuantile(1 - p)
	}
	x := -math.Sqrt2 * math.Erfinv(1-2*p)
	if math.IsInf(x, 0) { // 1-2p rounded to 1: start from the tail asymptote
		x = -math.Sqrt(-2 * math.Log(p))
	}
	// Newton on ln Φ(x) = ln p, which stays well-behaved where Φ itself is
	// exponentially flat (far tails).
	lp := math.Log(p)
	for i := 0; i < 50; i++ {
		c, d := NormalCDF(x), NormalPDF(x)
		if c == 0 || d == 0 {
			break
		}
		step := (math.Log(c) - lp) * c / d
		x -= step
		if math.Abs(step) <= 1e-15*math.Abs(x) {
			break
		}
	}
	return x
}

// StudentTCDF is P(T <= t) for Student's t with df degrees of freedom.
func StudentTCDF(t, df float64) float64 {
	if t > 0 {
		return 1 - studentTUpper(t, df)
	}
	return studentTUpper(-t, df)
}

// StudentTSF is P(T > t); like NormalSF it keeps small tails exact.
func StudentTSF(t, df float64) float64 {
	if t >= 0 {
		return studentTUpper(t, df)
	}
	return 1 - studentTUpper(-t, df)
}

// studentTUpper is P(T > t) for t >= 0 through the incomplete beta function:
// P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2). Both x and 1-x are formed
// without subtraction so neither loses digits.
func studentTUpper(t, df float64) float64 {
	if math.IsNaN(t) || math.IsNaN(df) || df <= 0 {
		return math.NaN()
	}
	if math.IsInf(df, 1) {
		return NormalSF(t)
	}
	if math.IsInf(t, 1) {
		return 0
	}
	if df >= hillMinDF {
		return hillUpper(t, df)
	}
	t2 := t * t
	x := df / (df + t2)
	y := t2 / (df + t2)
	return 0.5 * regIncBeta(df/2, 0.5, x, y)
}

// hillMinDF is where studentTUpper switches from the incomplete beta to
// Hill's expansion. The beta continued fraction loses about a·1e-16 of
// relative accuracy to cancellation when x is near 1 (large df), while
// Hill's expansion is good to ~1e-13 from df = 1e4 on (checked against
// mpmath for |t| <= 37).
const hillMinDF = 1e4

// hillUpper is P(T > t) by Hill's normal approximation to Student's t
// (G. W. Hill, "Algorithm 395: Student's t-distribution", CACM 1970): with
// a = df - 1/2, z = sqrt(a·ln(1 + t²/df)) is nearly standard normal, and two
// correction terms in 1/(48a²) make it accurate to O(df⁻³).
func hillUpper(t, df float64) float64 {
	a := df - 0.5
	b := 48 * a * a
	z := math.Sqrt(a * math.Log1p(t*t/df))
	z2 := z * z
	y := z + z*(z2+3)/b - z*(((4*z2+33)*z2+240)*z2+855)/(10*b*(b+0.8*z2*z2+100))
	return NormalSF(y)
}

// StudentTPDF is the density of Student's t.
func StudentTPDF(t, df float64) float64 {
	if math.IsInf(df, 1) {
		return NormalPDF(t)
	}
	lg := lgammaDiff(df/2, 0.5) // ln Γ((df+1)/2) - ln Γ(df/2)
	return math.Exp(lg - 0.5*math.Log(df*math.Pi) - (df+1)/2*math.Log1p(t*t/df))
}

// StudentTQuantile is the inverse of StudentTCDF. It brackets the root and
// runs Newton steps that fall back to bisection whenever a step would leave
// the bracket, which is robust for the heavy tails of small df.
func StudentTQuantile(p, df float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1 || math.IsNaN(df) || df <= 0:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p == 0.5:
		return 0
	case math.IsInf(df, 1):
		return NormalQuantile(p)
	case p < 0.5:
		return -tUpperQuantile(p, df)
	}
	return tUpperQuantile(1-p, df)
}

// tUpperQuantile returns t > 0 with P(T > t) = q, for 0 < q < 0.5.
func tUpperQuantile(q, df float64) float64 {
	lo, hi := 0.0, math.Max(1, -NormalQuantile(q))
	for studentTUpper(hi, df) > q {
		lo, hi = hi, hi*2
		if math.IsInf(hi, 0) {
			return hi
		}
	}
	t := 0.5 * (lo + hi)
	for i := 0; i < 200; i++ {
		f := studentTUpper(t, df) - q // decreasing in t
		if f > 0 {
			lo = t
		} else {
			hi = t
		}
		next := t + f/StudentTPDF(t, df)
		if !(next > lo && next < hi) {
			next = 0.5 * (lo + hi)
		}
		if math.Abs(next-t) <= 1e-15*math.Abs(t) || hi-lo <= 1e-15*hi {
			return next
		}
		t = next
	}
	return t
}

// ChiSquareSF is P(X > x) for a chi-square variable with df degrees of
// freedom: the regularized upper incomplete gamma Q(df/2, x/2).
func ChiSquareSF(x, df float64) float64 {
	if math.IsNaN(x) || math.IsNaN(df) || df <= 0 {
		return math.NaN()
	}
	if x <= 0 {
		return 1
	}
	if math.IsInf(x, 1) {
		return 0
	}
	return regUpperGamma(df/2, x/2)
}

// regUpperGamma is Q(a, x) = Γ(a, x)/Γ(a): the power series of P below
// x < a+1 and the continued fraction of Q above it, each where it converges
// fast (DLMF 8.7.1 and 8.9.2).
func regUpperGamma(a, x float64) float64 {
	lgA, _ := math.Lgamma(a)
	front := math.Exp(-x + a*math.Log(x) - lgA)
	if x < a+1 {
		sum, term := 1/a, 1/a
		for n := 1; n < maxIter; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*epsCF {
				break
			}
		}
		return 1 - sum*front
	}
	// Lentz evaluation of 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))
	b := x + 1 - a
	c := 1 / tinyCF
	d := 1 / b
	h := d
	for i := 1; i < maxIter; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tinyCF {
			d = tinyCF
		}
		c = b + an/c
		if math.Abs(c) < tinyCF {
			c = tinyCF
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < epsCF {
			break
		}
	}
	return front * h
}

// regIncBeta is I_x(a, b); the caller passes y = 1-x computed without
// cancellation. The continued fraction converges for x < (a+1)/(a+b+2);
// above that the symmetry I_x(a,b) = 1 - I_y(b,a) is used.
func regIncBeta(a, b, x, y float64) float64 {
	if x <= 0 {
		return 0
	}
	if y <= 0 {
		return 1
	}
	if x > (a+1)/(a+b+2) {
		return 1 - regIncBeta(b, a, y, x)
	}
	return math.Exp(a*logOf(x, y)+b*logOf(y, x)-lnBeta(a, b)) / a * betaCF(a, b, x)
}

// logOf is ln(v) where w = 1-v: near 1, log1p(-w) keeps the digits that
// rounding v to a float64 lost.
func logOf(v, w float64) float64 {
	if v < 0.5 {
		return math.Log(v)
	}
	return math.Log1p(-w)
}

// betaCF evaluates the continued fraction of the incomplete beta function
// (DLMF 8.17.22) by Lentz's method.
func betaCF(a, b, x float64) float64 {
	c := 1.0
	d := 1 - (a+b)*x/(a+1)
	if math.Abs(d) < tinyCF {
		d = tinyCF
	}
	d = 1 / d
	h := d
	for m := 1; m < maxIter; m++ {
		fm := float64(m)
		// even step
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d, c = lentzStep(num, d, c)
		h *= d * c
		// odd step
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d, c = lentzStep(num, d, c)
		del := d * c
		h *= del
		if math.Abs(del-1) < epsCF {
			break
		}
	}
	return h
}

// lentzStep advances Lentz's D and C for a fraction term num/(1 + ...).
func lentzStep(num, d, c float64) (float64, float64) {
	d = 1 + num*d
	if math.Abs(d) < tinyCF {
		d = tinyCF
	}
	c = 1 + num/c
	if math.Abs(c) < tinyCF {
		c = tinyCF
	}
	return 1 / d, c
}

// lnBeta is ln B(a, b). When one argument is large the plain
// lgamma(a)+lgamma(b)-lgamma(a+b) cancels huge terms (lgamma(5e6) ~ 7e7),
// so the large-argument difference goes through lgammaDiff instead.
func lnBeta(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	lgB, _ := math.Lgamma(b)
	return lgB - lgammaDiff(a, b)
}

// lgammaDiff is ln Γ(a+b) - ln Γ(a) for a >= b > 0. For large a it uses the
// Stirling series, whose terms are all of moderate size, instead of
// subtracting two large lgamma values.
func lgammaDiff(a, b float64) float64 {
	if a < 100 {
		lab, _ := math.Lgamma(a + b)
		la, _ := math.Lgamma(a)
		return lab - la
	}
	c := a + b
	return (a-0.5)*math.Log1p(b/a) + b*math.Log(c) - b + stirlingCorr(c) - stirlingCorr(a)
}

// stirlingCorr is ln Γ(z) - ((z-0.5)ln z - z + ln(2π)/2), the asymptotic
// tail of Stirling's series, accurate to ~1e-20 for z >= 100.
func stirlingCorr(z float64) float64 {
	z2 := z * z
	return (1.0/12 - (1.0/360-(1.0/1260-1.0/(1680*z2))/z2)/z2) / z
}
