package transport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// upstreamEvent is one event handed from the reading goroutine to the
// writing one. Its slices belong to the reader until the writer acks.
type upstreamEvent struct {
	ev  sse.Event
	err error
	// more: another whole event is already buffered, so the flush may wait
	// for it without delaying anything.
	more bool
}

// translateFunc turns one upstream event into bytes for the client (append
// to dst; append nothing to skip the event). done ends the relay after this
// event is written.
type translateFunc func(ev sse.Event, dst []byte) (out []byte, done bool, err error)

// sseWriter writes an SSE response: headers on first use, each event flushed
// at once, comment keep-alives while the upstream is silent.
type sseWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	keepAlive time.Duration
	started   bool
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
	}
	return nil
}

// errClientGone marks a relay that ended because the client disconnected.
var errClientGone = errors.New("client disconnected")

// errShuttingDown marks a relay the server's shutdown ended: the drain
// deadline is near and the stream gets its surface's terminal error event.
var errShuttingDown = errors.New("the gateway is shutting down")

// pump relays events from rd until the upstream ends (nil error on a clean
// EOF), translate says done, or ctx ends. Reading happens on a separate
// goroutine so keep-alives can go out while the upstream is silent; the
// reader waits for each event to be written before reading the next, so
// event buffers are reused without copies.
//
// It also ends, with errShuttingDown, when ending closes (the server's
// shutdown).
func (sw *sseWriter) pump(ctx context.Context, ending <-chan struct{}, rd *sse.Reader, translate translateFunc) error {
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
					return errClientGone
				}
				return ue.err
			}
			out, done, err := translate(ue.ev, sw.buf[:0])
			if err != nil {
				return err
			}
			sw.buf = out[:0]
			if len(out) > 0 {
				write := sw.write
				if ue.more && !done {
					write = sw.writeNoFlush
				}
				if err := write(out); err != nil {
					return errClientGone
				}
				if ticker != nil {
					ticker.Reset(sw.keepAlive)
				}
			}
			if done {
				return nil
			}
			ack <- struct{}{}
		case <-tick:
			if err := sw.write(sse.AppendComment(sw.buf[:0], "keep-alive")); err != nil {
				return errClientGone
			}
		case <-ctx.Done():
			return errClientGone
		case <-ending:
			return errShuttingDown
		}
	}
}
