// Package eventlog is the durable event log between capture and the loaders.
// Capture acknowledges a request only after Append returns, and Append
// returns only once the batch is on disk (or in JetStream for the scale-out
// stack). Loaders read the log from a checkpoint they keep in the event
// store, in the same transaction as the events, so each batch lands once.
package eventlog

import (
	"context"
	"errors"

	"github.com/journey-dev/journey/internal/event"
)

// Log is implemented by the embedded file log and by NATS JetStream.
type Log interface {
	// Append stores b durably. It is safe for concurrent use; concurrent
	// appends share one disk sync (group commit).
	Append(ctx context.Context, b event.Batch) error
	// Read returns entries after position from, waiting until at least one
	// exists or ctx is done. It returns at most about maxBytes of entries.
	Read(ctx context.Context, from uint64, maxBytes int) ([]Entry, error)
	// Trim allows the log to drop everything before position upTo.
	Trim(upTo uint64) error
	// End is the position after the last durable entry.
	End() uint64
	Close() error
}

// Entry is one appended batch and the position just after it, which is what
// a loader stores as its checkpoint once the batch is loaded.
type Entry struct {
	Next  uint64
	Batch event.RawBatch
}

// ErrClosed is returned by Append and Read after Close.
var ErrClosed = errors.New("event log closed")
