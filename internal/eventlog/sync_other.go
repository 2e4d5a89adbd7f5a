//go:build !linux

package eventlog

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
