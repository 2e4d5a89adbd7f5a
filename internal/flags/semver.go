package flags

import (
	"strconv"
	"strings"
)

// semver is (major, minor, patch); pre-release and build suffixes are
// dropped, as PostHog's SDKs and sortableSemver do.
type semver [3]uint64

func (a semver) cmp(b semver) int {
	for i := range a {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	return 0
}

func semverText(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 0 && (s[0] == 'v' || s[0] == 'V') {
		s = s[1:]
	}
	return s
}

// parseSemver reads "1", "1.2", "v1.2.3", "1.2.3-beta+7": missing
// components are 0, components past the third are ignored, leading
// zeros are allowed ("3.08" is 3.8.0, as PostHog's server reads it).
func parseSemver(s string) (semver, bool) {
	s = semverText(s)
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	var v semver
	parts := strings.Split(s, ".")
	if parts[0] == "" {
		return v, false
	}
	for i, p := range parts {
		if i == 3 {
			break
		}
		if p == "" {
			continue
		}
		n, ok := component(p)
		if !ok {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func component(p string) (uint64, bool) {
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(p, 10, 32)
	return n, err == nil
}

// tildeBounds: ~1.2.3 is [1.2.3, 1.3.0).
func tildeBounds(s string) (semver, semver, bool) {
	v, ok := parseSemver(s)
	return v, semver{v[0], v[1] + 1, 0}, ok
}

// caretBounds: ^1.2.3 is [1.2.3, 2.0.0), ^0.2.3 is [0.2.3, 0.3.0),
// ^0.0.3 is [0.0.3, 0.0.4).
func caretBounds(s string) (semver, semver, bool) {
	v, ok := parseSemver(s)
	switch {
	case v[0] > 0:
		return v, semver{v[0] + 1, 0, 0}, ok
	case v[1] > 0:
		return v, semver{0, v[1] + 1, 0}, ok
	default:
		return v, semver{0, 0, v[2] + 1}, ok
	}
}

// wildcardBounds: 1.* is [1.0.0, 2.0.0), 1.2.* is [1.2.0, 1.3.0), 1.2.3
// is [1.2.3, 1.2.4). Components after a * must be * too.
func wildcardBounds(s string) (semver, semver, bool) {
	var lo semver
	parts := strings.Split(semverText(s), ".")
	n := 0
	for _, p := range parts {
		if p == "*" || p == "x" || p == "X" {
			break
		}
		if n == 3 {
			return lo, lo, false
		}
		c, ok := component(p)
		if !ok || p == "" {
			return lo, lo, false
		}
		lo[n] = c
		n++
	}
	for _, p := range parts[n:] {
		if p != "*" && p != "x" && p != "X" {
			return lo, lo, false
		}
	}
	hi := lo
	switch n {
	case 0:
		return lo, lo, false
	case 1:
		hi = semver{lo[0] + 1, 0, 0}
	case 2:
		hi = semver{lo[0], lo[1] + 1, 0}
	default:
		hi = semver{lo[0], lo[1], lo[2] + 1}
	}
	return lo, hi, true
}
