package app

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestLowerLoaderPriority: the goroutine that lowers its priority runs on
// a thread that much nicer; threads the runtime makes meanwhile, and the
// goroutine that asked for it once it is gone, leave the rest as it was.
func TestLowerLoaderPriority(t *testing.T) {
	nice := func() int {
		p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
		if err != nil {
			t.Fatal(err)
		}
		return 20 - p
	}
	base := nice()
	got := make(chan [2]int)
	go func() {
		lowerLoaderPriority(5)
		// A goroutine started from the niced one runs elsewhere at the
		// process' priority (the runtime's template thread makes new
		// threads, never this locked one).
		other := make(chan int)
		go func() { other <- nice() }()
		got <- [2]int{nice(), <-other}
	}()
	r := <-got
	if want := min(19, base+5); r[0] != want {
		t.Errorf("loader thread nice %d, want %d", r[0], want)
	}
	if r[1] != base {
		t.Errorf("another goroutine's thread nice %d, want %d", r[1], base)
	}
	if n := nice(); n != base {
		t.Errorf("this thread nice %d, want %d", n, base)
	}
	go func() { lowerLoaderPriority(0); got <- [2]int{nice(), 0} }()
	if r := <-got; r[0] != base {
		t.Errorf("nice 0 changed the thread to %d", r[0])
	}
}
