package relay

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

// writeLog records every write a server makes on its connections.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (l *writeLog) add(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, string(p))
}

// since returns the writes after the first n.
func (l *writeLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.writes[n:]...)
}

func (l *writeLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.writes)
}

type loggingListener struct {
	net.Listener
	log *writeLog
}

func (l loggingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return loggingConn{Conn: c, log: l.log}, nil
}

type loggingConn struct {
	net.Conn
	log *writeLog
}

func (c loggingConn) Write(p []byte) (int, error) {
	c.log.add(p)
	return c.Conn.Write(p)
}

// chunk is one Read of a scriptedBody: its bytes, and whether the upstream's
// end comes with them.
type chunk struct {
	data string
	eof  bool
}

// scriptedBody is an upstream body the test feeds read by read; until
// closed, a Read with nothing fed waits, as on an upstream that holds its
// connection open.
type scriptedBody struct {
	reads     chan chunk
	closed    chan struct{}
	closeOnce sync.Once
	ended     bool
}

func newScriptedBody() *scriptedBody {
	return &scriptedBody{reads: make(chan chunk), closed: make(chan struct{})}
}

func (b *scriptedBody) Read(p []byte) (int, error) {
	if b.ended {
		return 0, io.EOF
	}
	select {
	case c := <-b.reads:
		n := copy(p, c.data)
		if c.eof {
			b.ended = true
			return n, io.EOF
		}
		return n, nil
	case <-b.closed:
		return 0, io.ErrClosedPipe
	}
}

func (b *scriptedBody) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	return nil
}

// readUntil reads r until what was read ends with want.
func readUntil(t *testing.T, r io.Reader, got *bytes.Buffer, want string) {
	t.Helper()
	buf := make([]byte, 512)
	for !strings.HasSuffix(got.String(), want) {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil && !strings.HasSuffix(got.String(), want) {
			t.Fatalf("read %q, then %v; want it to end with %q", got.String(), err, want)
		}
	}
}

// TestStreamLastEventWithTheResponseEnd: over real HTTP/1.1, a stream's
// last event goes out in one write with the response's closing chunk when
// no event can follow (the codec ended the stream, or the upstream's end
// came with the event), and is flushed at once, alone, while the upstream
// may still send more. In every case the client has the last event while
// the upstream holds its connection open.
func TestStreamLastEventWithTheResponseEnd(t *testing.T) {
	cases := []struct {
		name string
		// codec: echoCodec ends the stream at "last"; passCodec never does.
		codec   func() Codec
		lastEOF bool
		// together: the last event and the closing chunk in one write.
		together bool
	}{
		{"codec ends the stream, upstream open", func() Codec { return &echoCodec{} }, false, true},
		{"upstream end read with the last event", func() Codec { return passCodec{} }, true, true},
		{"upstream end not yet known", func() Codec { return passCodec{} }, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pool := relaytest.NewPool(1)
			r := New(Options{Pool: pool, Ending: make(chan struct{})})
			body := newScriptedBody()
			handlerDone := make(chan struct{})
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				defer close(handlerDone)
				reply := streamReply(r, pool, body)
				defer reply.Finish()
				_ = r.Stream(req.Context(), w, reply, tc.codec())
			}))
			log := &writeLog{}
			ts.Listener = loggingListener{Listener: ts.Listener, log: log}
			ts.Start()
			defer ts.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
			// The headers go out with the first event's flush.
			go func() { body.reads <- chunk{data: "data: one\n\n"} }()
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got bytes.Buffer
			readUntil(t, resp.Body, &got, "data: one\n\n")
			n0 := log.len()
			body.reads <- chunk{data: "data: last\n\n", eof: tc.lastEOF}
			readUntil(t, resp.Body, &got, "data: last\n\n")
			if tc.together {
				<-handlerDone
				if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
					t.Fatalf("after the last event: %q, %v; want the end", rest, err)
				}
				ws := log.since(n0)
				if len(ws) != 1 || !strings.Contains(ws[0], "data: last\n\n") || !strings.HasSuffix(ws[0], "0\r\n\r\n") {
					t.Errorf("writes after the first event = %q; want one holding the last event and the closing chunk", ws)
				}
				return
			}
			// The upstream may still send: the event went out alone, and
			// the stream is open.
			if ws := log.since(n0); len(ws) != 1 || !strings.Contains(ws[0], "data: last\n\n") || strings.Contains(ws[0], "0\r\n\r\n") {
				t.Errorf("writes after the first event = %q; want the last event alone", ws)
			}
			select {
			case <-handlerDone:
				t.Fatal("the stream ended while the upstream was open")
			default:
			}
			body.reads <- chunk{eof: true}
			if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
				t.Fatalf("after the upstream's end: %q, %v; want the end", rest, err)
			}
		})
	}
}

// TestStreamEndedByTheCodecKeepsTheUpstreamConnection: when the codec ends
// a stream before the HTTP/1.1 upstream's closing chunk arrived, the client
// is answered at once and the rest of the upstream body is still read, so
// the upstream connection serves the next stream instead of being closed.
func TestStreamEndedByTheCodecKeepsTheUpstreamConnection(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	conns := 0
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "data: one\n\ndata: last\n\n")
		w.(http.Flusher).Flush()
		<-release // the closing chunk comes after the relay ended the stream
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	up.Start()
	defer up.Close()
	client := up.Client()
	pool := relaytest.NewPool(1)
	r := New(Options{Pool: pool, Ending: make(chan struct{})})
	for i := range 2 {
		resp, err := client.Get(up.URL)
		if err != nil {
			t.Fatal(err)
		}
		reply := streamReply(r, pool, resp.Body)
		reply.Resp = resp
		finished := make(chan struct{})
		reply.cancel = func(error) { close(finished) } // the last thing Finish does with the body
		rec := httptest.NewRecorder()
		if err := r.Stream(context.Background(), rec, reply, &echoCodec{}); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		reply.Finish()
		if got := rec.Body.String(); got != "data: one\n\ndata: last\n\n" {
			t.Fatalf("stream %d: client got %q", i, got)
		}
		release <- struct{}{} // the upstream's end, once the client has everything
		<-finished
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("upstream connections = %d, want 1 (the first kept for the second stream)", conns)
	}
}
