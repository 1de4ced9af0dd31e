package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/sse"
)

// Codec translates one upstream stream into a surface's client stream. The
// relay calls it from one goroutine at a time: Event for every upstream
// event, then End once.
type Codec interface {
	// Event appends the client's bytes for one upstream event to dst
	// (nothing to skip the event); done ends the stream after them. An
	// error ends the stream as broken.
	Event(ev sse.Event, dst []byte) (out []byte, done bool, err error)
	// End is told how the stream ended (nil: the upstream ended it or
	// Event said done; ErrClientGone; ErrShuttingDown; or what broke it)
	// and returns the verdict.
	End(how error) Ending
}

// Ending is a codec's verdict on a finished stream.
type Ending struct {
	// Outcome is reported for the credential.
	Outcome providers.Outcome
	// Tail, when set, is written last (the surface's in-band error event);
	// never to a client that left.
	Tail []byte
	// Usage, when set, is the reply's token usage.
	Usage *Usage
}

// ErrClientGone marks a stream that ended because the client disconnected.
var ErrClientGone = errors.New("client disconnected")

// ErrShuttingDown marks a stream the server's shutdown ended: the drain
// deadline is near and the stream gets its codec's terminal bytes.
var ErrShuttingDown = errors.New("the gateway is shutting down")

// Stream relays reply's upstream stream to w through codec as SSE: each
// burst of events flushed at once, comment keep-alives while the upstream
// is silent, the codec's tail last. It settles the reply with the codec's
// outcome (the caller still finishes it) and returns how the stream ended
// (nil, ErrClientGone, ErrShuttingDown, or what broke it).
//
// When no event can follow the last one (the codec ended the stream, or
// the upstream's end came with it), that event and the tail are written
// but not flushed: the handler returns right after Stream, and net/http
// sends them with the response's closing chunk in one write. The caller
// does nothing slow between Stream and its return.
func (r *Relay) Stream(ctx context.Context, w http.ResponseWriter, reply *Reply, codec Codec) error {
	bp := r.getBuf()
	sw := newSSEWriter(w, r.keepAlive, *bp)
	defer func() { *bp = sw.buf; r.putBuf(bp) }()
	how := r.pump(ctx, sw, reply, codec)
	end := codec.End(how)
	if end.Usage != nil {
		reply.SetUsage(*end.Usage)
	}
	reply.Settle(end.Outcome)
	var werr error
	if len(end.Tail) > 0 && !errors.Is(how, ErrClientGone) {
		werr = sw.writeTail(end.Tail)
	}
	switch {
	case errors.Is(how, ErrClientGone):
		r.log.Debug("relay: client left during the stream", zap.String("request_id", reply.requestID()))
	case errors.Is(how, ErrShuttingDown):
		r.log.Info("relay: stream ended by shutdown", zap.String("request_id", reply.requestID()), zap.NamedError("write_error", werr))
	case end.Outcome.Kind == providers.KindTransient:
		r.log.Warn("relay: upstream stream failed", zap.String("request_id", reply.requestID()),
			zap.Int64("credential_id", reply.CredentialID()), zap.String("reason", end.Outcome.Reason),
			zap.NamedError("cause", how), zap.NamedError("write_error", werr))
	}
	return how
}

// keepAliveComment is the SSE comment sent while the upstream is silent.
var keepAliveComment = sse.AppendComment(nil, "keep-alive")

// sseWriter writes an SSE response: headers on first use, each burst of
// events flushed at once, comment keep-alives while the upstream is silent.
// The handler's goroutine writes events; the keep-alive timer's callback
// writes comments; mu keeps them apart.
type sseWriter struct {
	mu        sync.Mutex
	w         http.ResponseWriter
	rc        *http.ResponseController
	keepAlive time.Duration
	started   bool
	// unflushed: bytes were written since the last flush.
	unflushed bool
	// sent: a flush sent the headers; a last event may then go with the
	// response's end.
	sent bool
	// lastFlush is when the client last got bytes; a keep-alive is due
	// keepAlive after it.
	lastFlush time.Time
	// closed: the pump ended; the keep-alive timer writes nothing more.
	closed bool
	timer  *time.Timer
	// stop ends the stream (the keep-alive found the client gone).
	stop func(error)
	// buf is the codec's output buffer; only the handler's goroutine
	// uses it.
	buf []byte
}

func newSSEWriter(w http.ResponseWriter, keepAlive time.Duration, buf []byte) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w), keepAlive: keepAlive, buf: buf}
}

// getBuf returns an empty output buffer for a stream, reused when one is
// free.
func (r *Relay) getBuf() *[]byte {
	if b, ok := r.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

// putBuf keeps a stream's output buffer for the next stream, unless a
// large event grew it.
func (r *Relay) putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return
	}
	r.bufs.Put(b)
}

// getReader returns an event reader over body, reused when one is free.
func (r *Relay) getReader(body io.Reader) *sse.Reader {
	if rd, ok := r.readers.Get().(*sse.Reader); ok {
		rd.Reset(body)
		return rd
	}
	return sse.NewReader(body)
}

// putReader keeps an event reader for the next stream; nothing reads
// through it any more.
func (r *Relay) putReader(rd *sse.Reader) {
	rd.Reset(nil)
	r.readers.Put(rd)
}

// start writes the status line and SSE headers (once).
func (sw *sseWriter) start() {
	if sw.started {
		return
	}
	sw.started = true
	h := sw.w.Header()
	// One backing array for the three values (not one each).
	vals := [...]string{"text/event-stream", "no-cache", "no"}
	h["Content-Type"], h["Cache-Control"], h["X-Accel-Buffering"] = vals[0:1:1], vals[1:2:2], vals[2:3:3]
	h.Del("Content-Length")
	sw.w.WriteHeader(http.StatusOK)
}

// write sends b and flushes it to the client. The caller holds mu.
func (sw *sseWriter) write(b []byte) error {
	if err := sw.writeNoFlush(b); err != nil {
		return err
	}
	return sw.flush()
}

// flush sends what was written to the client. The caller holds mu.
func (sw *sseWriter) flush() error {
	sw.unflushed, sw.sent = false, true
	sw.lastFlush = time.Now()
	return sw.rc.Flush()
}

// writeNoFlush sends b without flushing; the caller flushes once the events
// that arrived together are all written. The caller holds mu.
func (sw *sseWriter) writeNoFlush(b []byte) error {
	sw.start()
	if len(b) > 0 {
		if _, err := sw.w.Write(b); err != nil {
			return err
		}
		sw.unflushed = true
	}
	return nil
}

// emit writes one event's client bytes; more says another event of the
// same burst is already buffered, so the flush waits for the burst's last.
// last says no event follows (the codec ended the stream, or the upstream's
// end was already read): once the client has its headers, those bytes are
// not flushed here but left to the handler's return, which sends them with
// the response's end in one write (net/http's closing chunk would otherwise
// follow in a write of its own). Nothing waits on the upstream either way.
func (sw *sseWriter) emit(out []byte, more, last bool) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	hold := more || (last && sw.sent)
	switch {
	case len(out) > 0 && hold:
		return sw.writeNoFlush(out)
	case len(out) > 0:
		return sw.write(out)
	case sw.unflushed && !hold:
		// The codec skipped the last buffered event: what the burst
		// wrote before it goes out now, not with the next event or
		// keep-alive.
		return sw.flush()
	}
	return nil
}

// writeTail writes the codec's terminal bytes once the pump has ended,
// like a last event: with the response's end when the client already has
// its headers.
func (sw *sseWriter) writeTail(b []byte) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.sent {
		return sw.writeNoFlush(b)
	}
	return sw.write(b)
}

// startKeepAlive arms the keep-alive timer; stop is how a keep-alive that
// finds the client gone ends the stream.
func (sw *sseWriter) startKeepAlive(stop func(error)) {
	// Under mu: the timer's goroutine has no other ordering with this one.
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.stop = stop
	sw.lastFlush = time.Now()
	sw.timer = time.AfterFunc(sw.keepAlive, sw.keepAliveDue)
}

// keepAliveDue runs on the timer's goroutine: a comment when the client
// got nothing for keepAlive, else a wait for the rest of the interval.
func (sw *sseWriter) keepAliveDue() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.closed {
		return
	}
	if idle := time.Since(sw.lastFlush); idle < sw.keepAlive {
		sw.timer.Reset(sw.keepAlive - idle)
		return
	}
	if err := sw.write(keepAliveComment); err != nil {
		sw.closed = true
		sw.stop(ErrClientGone)
		return
	}
	sw.timer.Reset(sw.keepAlive)
}

// close ends the keep-alives; after it only the handler writes.
func (sw *sseWriter) close() {
	sw.mu.Lock()
	sw.closed = true
	sw.mu.Unlock()
	if sw.timer != nil {
		sw.timer.Stop()
	}
}

// pump relays the reply's events through codec until the upstream ends
// (nil error on a clean EOF), the codec says done, the client goes
// (ErrClientGone) or the server ends its streams (ErrShuttingDown).
//
// It reads the upstream and writes the client on the caller's goroutine,
// with no hand-off per event. What must interrupt a read that waits on a
// silent upstream does it by recording why and closing the upstream body
// (streamStop): the client's context ending (context.AfterFunc, which
// starts no goroutine for the server's request contexts), the server's
// Ending (r.endings, one waiter per Relay while streams are open), a
// keep-alive that found the client gone. Keep-alives are written by a
// timer's callback under the writer's lock.
func (r *Relay) pump(ctx context.Context, sw *sseWriter, reply *Reply, codec Codec) error {
	st := &streamStop{body: reply.Resp.Body, cancel: reply.cancel}
	if !r.endings.add(st) {
		return ErrShuttingDown
	}
	defer r.endings.remove(st)
	unwatch := context.AfterFunc(ctx, func() { st.stop(ErrClientGone) })
	defer unwatch()
	sw.startKeepAlive(st.stop)
	defer sw.close()
	rd := r.getReader(reply.Resp.Body)
	defer r.putReader(rd)
	for {
		ev, err := rd.Next()
		if why := st.why(); why != nil {
			return why
		}
		if ctx.Err() != nil {
			return ErrClientGone
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		reply.firstEvent()
		out, done, err := codec.Event(ev, sw.buf[:0])
		if err != nil {
			return err
		}
		sw.buf = out[:0]
		more := !done && rd.Ready()
		if err := sw.emit(out, more, done || (!more && rd.Ended())); err != nil {
			return ErrClientGone
		}
		if done {
			reply.unread = !rd.Ended()
			return nil
		}
	}
}

// streamStop ends a stream from another goroutine: it records why (the
// first reason wins) and closes the upstream body, which ends a read
// waiting on it.
type streamStop struct {
	reason atomic.Pointer[error]
	body   io.Closer
	cancel context.CancelCauseFunc
}

func (s *streamStop) stop(why error) {
	if !s.reason.CompareAndSwap(nil, &why) {
		return
	}
	s.cancel(why)
	_ = s.body.Close()
}

// why is the reason the stream was stopped, nil while it was not.
func (s *streamStop) why() error {
	if p := s.reason.Load(); p != nil {
		return *p
	}
	return nil
}

// endings stops the open streams when the server's Ending closes. A read
// waiting on a silent upstream cannot also wait on a channel, so something
// else must: one waiter per Relay, not one per stream. The waiter runs
// while a stream is open and exits with the last one (a waiter that
// lingered on a timer would outlive a synctest bubble).
type endings struct {
	ending <-chan struct{}
	mu     sync.Mutex
	open   map[*streamStop]struct{}
	// idle closes when the last open stream ends, and the waiter exits;
	// nil while no waiter runs.
	idle chan struct{}
}

func newEndings(ending <-chan struct{}) *endings {
	return &endings{ending: ending, open: make(map[*streamStop]struct{})}
}

// add registers an open stream; false when the server already ended its
// streams.
func (e *endings) add(s *streamStop) bool {
	if e.ending == nil {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.ending:
		return false
	default:
	}
	e.open[s] = struct{}{}
	if e.idle == nil {
		e.idle = make(chan struct{})
		go e.wait(e.idle)
	}
	return true
}

// remove unregisters an ended stream.
func (e *endings) remove(s *streamStop) {
	if e.ending == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.open, s)
	if len(e.open) == 0 && e.idle != nil {
		close(e.idle)
		e.idle = nil
	}
}

// wait stops every open stream when Ending closes, or returns when idle
// closes first.
func (e *endings) wait(idle <-chan struct{}) {
	select {
	case <-idle:
		return
	case <-e.ending:
	}
	e.mu.Lock()
	open := make([]*streamStop, 0, len(e.open))
	for s := range e.open {
		open = append(open, s)
	}
	e.mu.Unlock()
	for _, s := range open {
		s.stop(ErrShuttingDown)
	}
}
