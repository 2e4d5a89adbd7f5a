// Package testutil holds what tests of several packages share; chtest and
// scaleout below it give fresh databases on the servers the test scripts
// start.
package testutil

import (
	"fmt"
	"os"
	"testing"
)

// Missing reports a server, tool or package a test needs and cannot find.
// In CI (CI=true), where `make test` installs and starts everything, that
// is a failure; elsewhere the test skips, saying what to run.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set: scripts/test-deps.sh should have provided it)")
	}
	t.Skip(msg)
}
