package app

import (
	"log/slog"
	"runtime"

	"golang.org/x/sys/unix"
)

// lowerLoaderPriority moves the calling goroutine, for the rest of its
// life, to an OS thread of its own, n steps nicer than the process: the
// loader's store writes (DuckDB's work runs on the calling thread, in cgo,
// without a Go P) then yield the CPU to capture whenever both want it, so
// acknowledgements are not queued behind a batch being stored. The thread
// is never unlocked: the runtime ends it with the goroutine, niceness and
// all, and makes its new threads from a clean template thread meanwhile.
func lowerLoaderPriority(n int) {
	if n <= 0 {
		return
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	// The raw syscall answers 20 - nice.
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		slog.Warn("cannot read the loader thread's priority; left as it is", "err", err)
		return
	}
	nice := min(19, 20-prio+n)
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
		slog.Warn("cannot lower the loader thread's priority; left as it is", "nice", nice, "err", err)
	}
}
