//go:build !linux

package app

// lowerLoaderPriority is Linux only (a thread's own niceness).
func lowerLoaderPriority(int) {}
