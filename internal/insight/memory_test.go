package insight

import (
	"context"
	"testing"
)

func TestParseBytes(t *testing.T) {
	f := func(in string, want int64) {
		t.Helper()
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Fatalf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	f("2GB", 2e9)
	f("2 GiB", 2<<30)
	f("512MiB", 512<<20)
	f("1.5kb", 1500)
	f("100", 100)
	f("100B", 100)
	bad := func(in string) {
		t.Helper()
		if n, err := ParseBytes(in); err == nil {
			t.Fatalf("ParseBytes(%q) = %d, want an error", in, n)
		}
	}
	bad("")
	bad("GB")
	bad("2 XB")
	bad("-1GB")
	bad("1e30")
	bad("9000000TB")
}

func TestMemoryCap(t *testing.T) {
	ctx := context.Background()
	if got := MemoryCap(ctx); got != DefaultMemoryCap {
		t.Fatalf("default cap = %d", got)
	}
	if got := MemoryCap(WithMemoryCap(ctx, 1234)); got != 1234 {
		t.Fatalf("cap = %d, want 1234", got)
	}
	err := error(&MemoryError{Cap: 3 << 20, Limit: "--query-memory"})
	if !IsMemoryError(err) || err.Error() != "query needs more than its memory cap of 3 MiB (--query-memory): narrow its range or add filters" {
		t.Fatalf("error = %v", err)
	}
	if got := FormatBytes(1536); got != "1.5 KiB" {
		t.Fatalf("FormatBytes(1536) = %q", got)
	}
}
