//go:build !linux

package bench

import "os/exec"

// allowedCPUs is unknown outside Linux: nothing is pinned.
func allowedCPUs() []int { return nil }

// startPinned starts cmd unpinned outside Linux.
func startPinned(cmd *exec.Cmd, _ []int) error { return cmd.Start() }
