package eventlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-dev/journey/internal/event"
)

// The JetStream log keeps one event.Batch per message of a file-backed
// stream, JSON-encoded exactly as in the file log. Positions are stream
// sequence numbers: an Entry's Next is the sequence of its own message, so a
// loader that stores it resumes with Read(seq), which returns the messages
// after it. Sequences start at 1, so position 0 means "from the beginning",
// as it does in the file log.

const (
	defaultStream      = "JOURNEY_EVENTS"
	defaultSubject     = "journey.events"
	defaultMaxInFlight = 1024
	defaultTimeout     = 10 * time.Second

	// pullWait bounds one pull request while Read waits for an append. A
	// request whose consumer vanished (a server restart, say) gets no
	// answer at all, so this is also how long such a loss goes unnoticed.
	pullWait = 2 * time.Second
	// readBatch caps the messages of one pull; maxBytes is the real limit.
	readBatch = 10000
	// pullOverhead is the room left in a pull's byte budget for the
	// subject, reply subject and headers the server counts with the data.
	pullOverhead = 4 << 10
	// consumerIdle is how long an unused reading consumer lives on the
	// server before it deletes it (a reader that crashed leaves one).
	consumerIdle = 5 * time.Minute
	// jsAPI is the default JetStream API prefix (no domain).
	jsAPI = "$JS.API."
)

// JetStreamOptions configures the NATS JetStream log.
type JetStreamOptions struct {
	// Stream is the stream's name; default "JOURNEY_EVENTS".
	Stream string
	// Subject is what batches are published on; default "journey.events".
	Subject string
	// Replicas is the stream's replication factor when OpenJetStream
	// creates it: 1 for a single server, 3 for a cluster (a batch is then
	// acknowledged once a majority stored it). An existing stream is used
	// as it is, so limits an operator set on it are kept.
	Replicas int
	// TrimOnLoad purges the stream up to what the loader has stored. Off by
	// default: several Journey replicas, and other readers such as campaign
	// triggers, may read one stream, and a purge on one loader's progress
	// would drop entries the others have not read yet. Set it only where
	// one loader is the stream's only reader; otherwise bound the stream
	// with its own limits (max_age, max_bytes).
	TrimOnLoad bool
	// MaxInFlight bounds the messages published and not yet acknowledged;
	// further Appends wait for a slot. Default 1024.
	MaxInFlight int
	// Timeout bounds one publish acknowledgement and one API request.
	// Default 10s.
	Timeout time.Duration
	// NATS holds extra connection options: credentials, TLS, a name.
	NATS []nats.Option
}

// JetStream is the scale-out event log on a NATS JetStream stream.
type JetStream struct {
	opts   JetStreamOptions
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	slots chan struct{} // one per message awaiting its ack
	// appending is held shared by each Append, and exclusively by Close
	// to wait for them.
	appending sync.RWMutex
	done      chan struct{}
	closing   sync.Once

	end     atomic.Uint64 // highest sequence seen acknowledged or in stream info
	trimmed atomic.Uint64 // highest upTo purged
	meanMsg atomic.Uint64 // float64 bits: the stream's bytes per message at the last End

	rmu  sync.Mutex // one Read at a time; guards next and dirty
	next uint64     // sequence the reading consumer delivers next
	// dirty is set when the consumer's position is unknown: a pull ended
	// early, so the server may have delivered messages nobody read.
	dirty bool
	cmu   sync.Mutex // guards cons, which Close reads while a Read waits
	cons  string     // the reading consumer; "" when none
}

// OpenJetStream connects to url (a comma-separated list of servers is fine)
// and opens the stream, creating it if it does not exist.
func OpenJetStream(url string, opts JetStreamOptions) (*JetStream, error) {
	if opts.Stream == "" {
		opts.Stream = defaultStream
	}
	if opts.Subject == "" {
		opts.Subject = defaultSubject
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = defaultMaxInFlight
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	// Reconnect forever and quickly: a restarted server is back in
	// moments, and Appends made meanwhile wait in the client's reconnect
	// buffer (each at most opts.Timeout for its ack) instead of failing.
	copts := append([]nats.Option{
		nats.Name("journey"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}, opts.NATS...)
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS %q: %w", redactURL(url), err)
	}
	js, err := jetstream.New(nc,
		// Our slots gate publishes first; the library's own limit (which
		// fails a publish after a short stall) is never the one reached.
		jetstream.WithPublishAsyncMaxPending(2*opts.MaxInFlight),
		jetstream.WithPublishAsyncTimeout(opts.Timeout),
		jetstream.WithDefaultTimeout(opts.Timeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cannot open JetStream on %q: %w", redactURL(url), err)
	}
	l := &JetStream{opts: opts, nc: nc, js: js,
		slots: make(chan struct{}, opts.MaxInFlight), done: make(chan struct{})}
	if err := l.openStream(); err != nil {
		nc.Close()
		return nil, err
	}
	return l, nil
}

// redactURL drops the passwords and tokens from a list of server URLs, so
// that errors can name the servers without leaking them into logs.
func redactURL(servers string) string {
	list := strings.Split(servers, ",")
	for i, s := range list {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.User != nil {
			list[i] = u.Redacted()
			if _, ok := u.User.Password(); !ok { // a token alone
				u.User = url.User("xxxxx")
				list[i] = u.String()
			}
		}
	}
	return strings.Join(list, ",")
}

// openStream creates the stream if it is missing. It does not update an
// existing one, so an operator's changes (limits, replicas) stay.
func (l *JetStream) openStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	name := l.opts.Stream
	s, err := l.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = l.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        name,
			Description: "Journey event log: one JSON event batch per message",
			Subjects:    []string{l.opts.Subject},
			Storage:     jetstream.FileStorage,
			Replicas:    l.opts.Replicas,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = l.js.Stream(ctx, name) // another replica created it first
		}
	}
	if err != nil {
		return fmt.Errorf("cannot open event log stream %q: %w", name, err)
	}
	info := s.CachedInfo()
	if !slices.Contains(info.Config.Subjects, l.opts.Subject) {
		return fmt.Errorf("cannot use event log stream %q: it stores %v, not subject %q", name, info.Config.Subjects, l.opts.Subject)
	}
	l.stream = s
	l.end.Store(info.State.LastSeq)
	return nil
}

func (l *JetStream) bumpEnd(seq uint64) {
	for {
		cur := l.end.Load()
		if seq <= cur || l.end.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Append publishes b and returns once JetStream acknowledged every message
// of it, that is once it is stored (on a majority of replicas in a
// cluster). A batch larger than the server's max_payload is split into
// several messages, each a valid batch; if one of them fails the whole
// Append fails and the caller retries, and the event store's uuid dedup
// drops what was stored twice.
func (l *JetStream) Append(ctx context.Context, b event.Batch) error {
	defer jetStreamAppends.Since(time.Now()) // metrics.go
	l.appending.RLock()
	defer l.appending.RUnlock()
	select {
	case <-l.done:
		return ErrClosed
	default:
	}
	payloads, err := splitBatch(b, int(l.nc.MaxPayload()))
	if err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(payloads))
	var perr error
	for _, p := range payloads {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			perr = ErrClosed
		case <-ctx.Done():
			perr = ctx.Err()
		}
		if perr != nil {
			break
		}
		f, err := l.js.PublishMsgAsync(&nats.Msg{Subject: l.opts.Subject, Data: p})
		if err != nil {
			<-l.slots
			if errors.Is(err, nats.ErrConnectionClosed) {
				err = ErrClosed
			}
			perr = fmt.Errorf("cannot publish batch to event log stream %q: %w", l.opts.Stream, err)
			break
		}
		futures = append(futures, f)
	}
	// Wait for every ack even when ctx ends: a published message may be
	// stored anyway, and the answer must say whether it is. The wait is
	// bounded by opts.Timeout and ends at once on a disconnect.
	size := 0
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			l.bumpEnd(ack.Sequence)
			size += len(payloads[i])
		case err := <-f.Err():
			if perr == nil {
				perr = fmt.Errorf("cannot store batch in event log stream %q: %w", l.opts.Stream, err)
			}
		}
		<-l.slots
	}
	if perr != nil {
		return perr
	}
	appendedBatches.Inc()
	appendedBytes.Add(size)
	return nil
}

// splitBatch encodes b as one JSON batch, or, when that is over limit
// bytes, as several batches of the same project that together hold its
// events in order. One event over the limit is an error.
func splitBatch(b event.Batch, limit int) ([][]byte, error) {
	whole, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("cannot encode batch: %w", err)
	}
	if len(whole) <= limit {
		return [][]byte{whole}, nil
	}
	// Build each part by hand from the encoded events; the bytes are what
	// json.Marshal gives for a Batch holding just those events.
	head := []byte(`{"project_id":` + strconv.FormatInt(b.ProjectID, 10) + `,"events":[`)
	const tail = "]}"
	var parts [][]byte
	cur := append([]byte(nil), head...)
	n := 0
	for i := range b.Events {
		ev, err := json.Marshal(&b.Events[i])
		if err != nil {
			return nil, fmt.Errorf("cannot encode event %q: %w", b.Events[i].UUID, err)
		}
		if len(head)+len(ev)+len(tail) > limit {
			return nil, fmt.Errorf("cannot append event %q: %d bytes encoded, over the server's max_payload of %d bytes", b.Events[i].UUID, len(ev), limit)
		}
		if n > 0 && len(cur)+1+len(ev)+len(tail) > limit {
			parts = append(parts, append(cur, tail...))
			cur, n = append([]byte(nil), head...), 0
		}
		if n > 0 {
			cur = append(cur, ',')
		}
		cur = append(cur, ev...)
		n++
	}
	return append(parts, append(cur, tail...)), nil
}

// End returns the stream's last sequence. It asks the server, and falls
// back to the last sequence known here when the server does not answer
// within a second (End has no way to report an error).
func (l *JetStream) End() uint64 {
	select {
	case <-l.done:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if info, err := l.stream.Info(ctx); err == nil {
			l.bumpEnd(info.State.LastSeq)
			if info.State.Msgs > 0 {
				l.meanMsg.Store(math.Float64bits(float64(info.State.Bytes) / float64(info.State.Msgs)))
			}
		}
		cancel()
	}
	return l.end.Load()
}

// PositionBytes is the stream's mean message size as of the last End:
// positions are message sequence numbers, so a loader's lag in positions
// times this is its lag in bytes (an estimate).
func (l *JetStream) PositionBytes() float64 { return math.Float64frombits(l.meanMsg.Load()) }

// Read returns the messages with sequence after from, waiting for one if
// there are none. It reads through an ephemeral pull consumer that starts
// at from+1; consecutive Reads that continue where the last one stopped
// (the loader's pattern) reuse it, any other position gets a new one, so a
// restart may resume from any stored position.
func (l *JetStream) Read(ctx context.Context, from uint64, maxBytes int) ([]Entry, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	// A message may be as large as max_payload; a budget smaller than that
	// would make the server refuse to send it at all.
	maxBytes = max(maxBytes, int(l.nc.MaxPayload())+pullOverhead)
	for {
		select {
		case <-l.done:
			return nil, ErrClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if l.consumer() == "" || l.dirty || l.next != from+1 {
			if err := l.position(ctx, from); err != nil {
				return nil, err
			}
		}
		entries, err := l.pull(ctx, maxBytes)
		if err != nil || len(entries) > 0 {
			return entries, err
		}
	}
}

func (l *JetStream) consumer() string {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	return l.cons
}

// position replaces the reading consumer with one that delivers from
// sequence from+1.
func (l *JetStream) position(ctx context.Context, from uint64) error {
	if old := l.consumer(); old != "" {
		l.deleteConsumer(old)
	}
	if end := l.End(); from > end {
		// The stream is behind the stored position: it was most likely
		// deleted and recreated. Reading on would skip its first entries.
		return fmt.Errorf("cannot read event log stream %q after %d: its last sequence is %d", l.opts.Stream, from, end)
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	c, err := l.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Description:   "Journey event log reader",
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from + 1,
		// Acks are not needed: the loader's checkpoint is the reader's
		// position, and a new consumer is made whenever it is in doubt.
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: consumerIdle,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("cannot create reader on event log stream %q at %d: %w", l.opts.Stream, from+1, err)
	}
	l.cmu.Lock()
	l.cons = c.CachedInfo().Name
	l.cmu.Unlock()
	l.next, l.dirty = from+1, false
	return nil
}

// deleteConsumer removes a reading consumer in the background; one that
// cannot be removed expires after consumerIdle anyway.
func (l *JetStream) deleteConsumer(name string) {
	l.cmu.Lock()
	if l.cons == name {
		l.cons = ""
	}
	l.cmu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
		defer cancel()
		_ = l.stream.DeleteConsumer(ctx, name)
	}()
}

// pullRequest is the body of a JetStream pull ($JS.API.CONSUMER.MSG.NEXT).
// With no_wait and expires together the server sends what is there at
// once, or waits up to expires for the first message, and then ends the
// request with a 408 status; max_bytes ends it early with a 409.
type pullRequest struct {
	Batch    int           `json:"batch"`
	MaxBytes int           `json:"max_bytes,omitempty"`
	Expires  time.Duration `json:"expires,omitempty"`
	NoWait   bool          `json:"no_wait,omitempty"`
}

// pull sends one pull request and collects its messages. It returns no
// entries and no error when the request expired empty.
func (l *JetStream) pull(ctx context.Context, maxBytes int) ([]Entry, error) {
	expires := pullWait
	if dl, ok := ctx.Deadline(); ok {
		expires = min(expires, time.Until(dl))
	}
	if expires <= 0 {
		return nil, context.DeadlineExceeded
	}
	req, err := json.Marshal(pullRequest{Batch: readBatch, MaxBytes: maxBytes, Expires: expires, NoWait: true})
	if err != nil {
		return nil, fmt.Errorf("cannot encode pull request: %w", err)
	}
	inbox := l.nc.NewInbox()
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, l.closedOr(fmt.Errorf("cannot read event log stream %q: %w", l.opts.Stream, err))
	}
	defer sub.Unsubscribe()
	// The server bounds what it sends by maxBytes; do not drop any of it.
	_ = sub.SetPendingLimits(-1, -1)
	subject := jsAPI + "CONSUMER.MSG.NEXT." + l.opts.Stream + "." + l.consumer()
	if err := l.nc.PublishRequest(subject, inbox, req); err != nil {
		l.dirty = true
		return nil, l.closedOr(fmt.Errorf("cannot read event log stream %q: %w", l.opts.Stream, err))
	}
	// The server ends the request within expires; a second more allows
	// for the trip. No answer by then means the consumer is gone.
	wctx, cancel := context.WithTimeout(ctx, expires+time.Second)
	defer cancel()
	var out []Entry
	for len(out) < readBatch {
		m, err := sub.NextMsgWithContext(wctx)
		if err != nil {
			l.dirty = true
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return out, nil // position anew and retry
			}
			return nil, l.closedOr(fmt.Errorf("cannot read event log stream %q: %w", l.opts.Stream, err))
		}
		if status := m.Header.Get("Status"); status != "" && len(m.Data) == 0 {
			switch {
			case status == "100": // heartbeat
				continue
			case status == "404" || status == "408":
			case status == "409" && m.Header.Get("Description") == "Message Size Exceeds MaxBytes":
			case status == "409":
				// Consumer deleted, leadership change and the like:
				// position anew and retry.
				l.dirty = true
			default:
				l.dirty = true
				return nil, fmt.Errorf("cannot read event log stream %q: pull ended with status %s %s", l.opts.Stream, status, m.Header.Get("Description"))
			}
			return out, nil
		}
		md, err := m.Metadata()
		if err != nil {
			l.dirty = true
			return nil, fmt.Errorf("cannot read event log stream %q: %w", l.opts.Stream, err)
		}
		seq := md.Sequence.Stream
		if seq != l.next {
			// Sequences have no gaps unless entries were purged (Trim,
			// limits) or deleted: the entries this reader asked for are
			// gone, which must not pass silently.
			l.dirty = true
			return nil, fmt.Errorf("cannot read event log stream %q at %d: the next entry is %d, those before it were trimmed or deleted", l.opts.Stream, l.next, seq)
		}
		var b event.RawBatch
		if err := json.Unmarshal(m.Data, &b); err != nil {
			l.dirty = true
			return nil, fmt.Errorf("cannot decode event log stream %q entry %d: %w", l.opts.Stream, seq, err)
		}
		out = append(out, Entry{Next: seq, Batch: b})
		l.next = seq + 1
		l.bumpEnd(seq)
	}
	return out, nil
}

// closedOr maps the connection's errors after Close to ErrClosed.
// Tail calls fn with each batch any process appends to the stream from now
// on, until stop is called. It is a plain NATS subscription on the
// stream's subject: best effort, for live views (the UI's live events),
// never for loading; batches that do not decode are skipped.
func (l *JetStream) Tail(fn func(event.RawBatch)) (stop func(), err error) {
	sub, err := l.nc.Subscribe(l.opts.Subject, func(m *nats.Msg) {
		var b event.RawBatch
		if json.Unmarshal(m.Data, &b) == nil {
			fn(b)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cannot subscribe to event log subject %q: %w", l.opts.Subject, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

func (l *JetStream) closedOr(err error) error {
	select {
	case <-l.done:
		return ErrClosed
	default:
	}
	if errors.Is(err, nats.ErrConnectionClosed) {
		return ErrClosed
	}
	return err
}

// Trim purges the entries up to and including sequence upTo when
// opts.TrimOnLoad is set, and does nothing otherwise (see TrimOnLoad for
// why that is the default).
func (l *JetStream) Trim(upTo uint64) error {
	if !l.opts.TrimOnLoad || upTo <= l.trimmed.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	if err := l.stream.Purge(ctx, jetstream.WithPurgeSequence(upTo+1)); err != nil {
		return fmt.Errorf("cannot trim event log stream %q up to %d: %w", l.opts.Stream, upTo, err)
	}
	l.trimmed.Store(upTo)
	return nil
}

// Close waits for Appends in progress (each is bounded by opts.Timeout),
// then closes the connection; new Appends and Reads get ErrClosed.
func (l *JetStream) Close() error {
	l.closing.Do(func() {
		close(l.done)
		l.appending.Lock()
		defer l.appending.Unlock()
		if name := l.consumer(); name != "" {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = l.stream.DeleteConsumer(ctx, name)
			cancel()
		}
		l.nc.Close()
	})
	return nil
}
