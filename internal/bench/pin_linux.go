package bench

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// allowedCPUs lists the CPUs this process may run on, ascending.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var out []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

// startPinned starts cmd on the given CPUs only (all when cpus is empty).
// The child inherits the affinity of the thread that forks it, so the
// mask is set on this goroutine's own locked thread around Start and put
// back after: every thread the child ever makes is then on those CPUs,
// which setting the mask from outside after the start would not ensure.
func startPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("cannot read CPU affinity: %w", err)
	}
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("cannot pin to CPUs %v: %w", cpus, err)
	}
	err := cmd.Start()
	if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
		// The thread stays locked, so it never runs other goroutines on
		// the wrong CPUs: the runtime ends it with this goroutine.
		return fmt.Errorf("cannot restore CPU affinity: %w", rerr)
	}
	runtime.UnlockOSThread()
	return err
}
