//go:build windows

package app

import "golang.org/x/sys/windows"

// statDisk is the free space (for this user) and size of dir's volume.
func statDisk(dir string) (free, size float64) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0
	}
	var avail, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &totalFree); err != nil {
		return 0, 0
	}
	return float64(avail), float64(total)
}
