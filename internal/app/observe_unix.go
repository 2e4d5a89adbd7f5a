//go:build linux || darwin || freebsd || dragonfly

package app

import "syscall"

// statDisk is the free space (for unprivileged users) and size of dir's
// file system. (There is no fallback for other systems: the DuckDB driver
// builds on these and Windows only.)
func statDisk(dir string) (free, size float64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0
	}
	bs := float64(st.Bsize)
	return float64(st.Bavail) * bs, float64(st.Blocks) * bs
}
