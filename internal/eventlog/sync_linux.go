package eventlog

import (
	"os"
	"syscall"
)

// fdatasync flushes file data without the metadata a size change does not need.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
