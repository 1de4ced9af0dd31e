package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
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
func (r *Relay) Stream(ctx context.Context, w http.ResponseWriter, reply *Reply, codec Codec) error {
	sw := newSSEWriter(w, r.keepAlive)
	how := sw.pump(ctx, r.ending, sse.NewReader(reply.Resp.Body), reply, codec)
	end := codec.End(how)
	if end.Usage != nil {
		reply.SetUsage(*end.Usage)
	}
	reply.Settle(end.Outcome)
	var werr error
	if len(end.Tail) > 0 && !errors.Is(how, ErrClientGone) {
		werr = sw.write(end.Tail)
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

// upstreamEvent is one event handed from the reading goroutine to the
// writing one. Its slices belong to the reader until the writer acks.
type upstreamEvent struct {
	ev  sse.Event
	err error
	// more: another whole event is already buffered, so the flush may wait
	// for it without delaying anything.
	more bool
}

// sseWriter writes an SSE response: headers on first use, each burst of
// events flushed at once, comment keep-alives while the upstream is silent.
type sseWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	keepAlive time.Duration
	started   bool
	// unflushed: bytes were written since the last flush.
	unflushed bool
	buf       []byte
}

func newSSEWriter(w http.ResponseWriter, keepAlive time.Duration) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w), keepAlive: keepAlive, buf: make([]byte, 0, 4096)}
}

// start writes the status line and SSE headers (once).
func (sw *sseWriter) start() {
	if sw.started {
		return
	}
	sw.started = true
	h := sw.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	sw.w.WriteHeader(http.StatusOK)
}

// write sends b and flushes it to the client.
func (sw *sseWriter) write(b []byte) error {
	if err := sw.writeNoFlush(b); err != nil {
		return err
	}
	return sw.flush()
}

func (sw *sseWriter) flush() error {
	sw.unflushed = false
	return sw.rc.Flush()
}

// writeNoFlush sends b without flushing; the caller flushes once the events
// that arrived together are all written.
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

// pump relays events from rd through codec until the upstream ends (nil
// error on a clean EOF), the codec says done, or ctx ends. Reading happens on a separate
// goroutine so keep-alives can go out while the upstream is silent; the
// reader waits for each event to be written before reading the next, so
// event buffers are reused without copies.
//
// It also ends, with ErrShuttingDown, when ending closes (the server's
// shutdown).
func (sw *sseWriter) pump(ctx context.Context, ending <-chan struct{}, rd *sse.Reader, reply *Reply, codec Codec) error {
	events := make(chan upstreamEvent)
	ack := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			ev, err := rd.Next()
			select {
			case events <- upstreamEvent{ev: ev, err: err, more: err == nil && rd.Ready()}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
			select {
			case <-ack:
			case <-stop:
				return
			}
		}
	}()
	var ticker *time.Ticker
	var tick <-chan time.Time
	if sw.keepAlive > 0 {
		ticker = time.NewTicker(sw.keepAlive)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case ue := <-events:
			if ue.err != nil {
				if errors.Is(ue.err, io.EOF) {
					return nil
				}
				if ctx.Err() != nil {
					return ErrClientGone
				}
				return ue.err
			}
			reply.firstEvent()
			out, done, err := codec.Event(ue.ev, sw.buf[:0])
			if err != nil {
				return err
			}
			sw.buf = out[:0]
			switch {
			case len(out) > 0:
				write := sw.write
				if ue.more && !done {
					write = sw.writeNoFlush
				}
				if err := write(out); err != nil {
					return ErrClientGone
				}
				if ticker != nil {
					ticker.Reset(sw.keepAlive)
				}
			case sw.unflushed && !ue.more:
				// The codec skipped the last buffered event: what the
				// burst wrote before it goes out now, not with the next
				// event or keep-alive.
				if err := sw.flush(); err != nil {
					return ErrClientGone
				}
			}
			if done {
				return nil
			}
			ack <- struct{}{}
		case <-tick:
			if err := sw.write(sse.AppendComment(sw.buf[:0], "keep-alive")); err != nil {
				return ErrClientGone
			}
		case <-ctx.Done():
			return ErrClientGone
		case <-ending:
			return ErrShuttingDown
		}
	}
}
