//go:build !unix

package journeyidx

import (
	"fmt"
	"os"
)

// mapFile reads a whole file where mmap is not available.
func mapFile(path string) ([]byte, func(), error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	return data, func() {}, nil
}
