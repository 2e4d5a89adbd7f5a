package capture

import (
	"encoding/json"
	"os"
	"testing"
)

func TestZZCross(t *testing.T) {
	b, err := os.ReadFile("/tmp/lzs/cases.json")
	if err != nil {
		t.Skip(err)
	}
	var cases [][2]string
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, c := range cases {
		if got := lzCompressToBase64(c[0]); got != c[1] {
			bad++
			if bad < 5 {
				t.Errorf("encode %q: got %q want %q", c[0], got, c[1])
			}
		}
		got, err := DecompressLZBase64(c[1])
		if err != nil || got != c[0] {
			bad++
			if bad < 5 {
				t.Errorf("decode %q: got %q, %v", c[1], got, err)
			}
		}
	}
	t.Logf("%d cases, %d bad", len(cases), bad)
}
