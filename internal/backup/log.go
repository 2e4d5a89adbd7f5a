package backup

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The file event log's layout (internal/eventlog/file.go): segments named
// by the position of their first byte, %020d.wal; a record is a 4-byte
// little-endian length, a 4-byte CRC-32C of the payload, the payload.
const (
	recordHeader = 8
	maxRecord    = 64 << 20
	segmentExt   = ".wal"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// segment is one open log segment.
type segment struct {
	start uint64
	f     *os.File
}

// openLog holds the segments open under the event store's lock, so the
// loader's trims cannot take them away before they are copied, and the
// position after the last whole record.
type openLog struct {
	segs []segment
	end  uint64
}

func segmentName(start uint64) string { return fmt.Sprintf("%020d%s", start, segmentExt) }

// listSegments returns the start positions of the segments in dir.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list event log %q: %w", dir, err)
	}
	var out []uint64
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || len(base) != 20 {
			continue
		}
		if n, err := strconv.ParseUint(base, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// openSegments opens every segment of the log in dir and finds the end of
// its last whole record, reading from checkpoint (everything before it is
// loaded, so whole). A record being written is not whole yet, and not
// acknowledged: it is left out.
func openSegments(dir string, checkpoint uint64) (*openLog, error) {
	starts, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	if len(starts) == 0 {
		return nil, fmt.Errorf("cannot back up event log %q: no segment (is the log elsewhere, --log?)", dir)
	}
	l := &openLog{}
	for _, s := range starts {
		f, err := os.Open(filepath.Join(dir, segmentName(s)))
		if errors.Is(err, os.ErrNotExist) && len(l.segs) == 0 {
			continue // trimmed meanwhile: the loader and the engine are past it
		}
		if err != nil {
			l.close()
			return nil, fmt.Errorf("cannot open event log segment: %w", err)
		}
		l.segs = append(l.segs, segment{s, f})
	}
	if len(l.segs) == 0 || checkpoint < l.segs[0].start {
		l.close()
		return nil, fmt.Errorf("cannot back up event log %q: it starts after the loader's checkpoint %d", dir, checkpoint)
	}
	last := l.segs[len(l.segs)-1]
	from := max(checkpoint, last.start) // earlier segments are rolled, so whole
	valid, err := wholeRecords(last.f, int64(from-last.start))
	if err != nil {
		l.close()
		return nil, err
	}
	l.end = from + uint64(valid)
	if l.end < checkpoint {
		l.close()
		return nil, fmt.Errorf("cannot back up event log %q: it ends at %d, before the loader's checkpoint %d", dir, l.end, checkpoint)
	}
	return l, nil
}

// wholeRecords is the length of the whole, checked records in f from off.
func wholeRecords(f *os.File, off int64) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, 1<<62), 1<<20)
	var n int64
	var hdr [recordHeader]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return n, nil
		}
		size := binary.LittleEndian.Uint32(hdr[0:4])
		if size == 0 || size > maxRecord {
			return n, nil
		}
		h := crc32.New(crcTable)
		if _, err := io.CopyN(h, r, int64(size)); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, nil
			}
			return n, fmt.Errorf("cannot read event log %q: %w", f.Name(), err)
		}
		if h.Sum32() != binary.LittleEndian.Uint32(hdr[4:8]) {
			return n, nil
		}
		n += recordHeader + int64(size)
	}
}

func (l *openLog) start() uint64 { return l.segs[0].start }

// copyTo copies the segments into dir, the last one up to end.
func (l *openLog) copyTo(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %q: %w", dir, err)
	}
	for i, s := range l.segs {
		size := int64(-1) // whole: a rolled segment no longer grows
		if i == len(l.segs)-1 {
			size = int64(l.end - s.start)
		}
		if err := copySegment(ctx, s.f, filepath.Join(dir, segmentName(s.start)), size); err != nil {
			return err
		}
	}
	return nil
}

func copySegment(ctx context.Context, in *os.File, dst string, size int64) error {
	var src io.Reader = io.NewSectionReader(in, 0, 1<<62)
	if size >= 0 {
		src = io.NewSectionReader(in, 0, size)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", dst, err)
	}
	n, err := io.Copy(out, ctxReader{ctx, src})
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("copied %d bytes, want %d", n, size)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot copy event log segment to %q: %w", dst, err)
	}
	return nil
}

func (l *openLog) close() {
	if l == nil {
		return
	}
	for _, s := range l.segs {
		s.f.Close()
	}
}

// ctxReader stops a copy between reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
