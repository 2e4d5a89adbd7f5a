//go:build unix

package journeyidx

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a whole file read-only: queries read segments straight from
// the page cache, and the kernel, not the Go heap, holds them.
func mapFile(path string) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open %q: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot stat %q: %w", path, err)
	}
	if st.Size() == 0 {
		return nil, func() {}, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot map %q: %w", path, err)
	}
	return data, func() { syscall.Munmap(data) }, nil
}
