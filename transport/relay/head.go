package relay

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// Head judges the head of an upstream stream, event by event, before
// anything reaches the client: so that a failure there (an overload, a
// usage limit) can still fail over to another credential.
type Head interface {
	// Judge returns serve once the stream's output begins (or it ends
	// well), a rejection for a failure before any output, and neither to
	// keep holding the stream back.
	Judge(ev sse.Event) (serve bool, rej *Rejection)
	// Cut is the rejection of a stream that ended or broke before any
	// output; status is the answer's HTTP status.
	Cut(status int) *Rejection
}

// HeadLimits bound how much of a stream is held back.
type HeadLimits struct {
	// Events and Bytes bound the head; past either the stream is served.
	Events, Bytes int
	// Wait bounds how long the head is held back. Past it the stream is
	// served as it is (a model that thinks before its first output must
	// not leave the client without a byte, or keep-alives, for minutes):
	// the rest of the judging then feeds the client through a pipe, and a
	// failure it finds is relayed in the stream.
	Wait time.Duration
}

// HoldHead returns a Check that holds the head of a stream back until h
// judges it, within lim. A rejected head fails the attempt; a served one
// comes back with a body that replays the bytes read, then the rest.
func HoldHead(h Head, lim HeadLimits) Check {
	return func(resp *http.Response) (*http.Response, error) {
		return holdHead(resp, h, lim)
	}
}

func holdHead(resp *http.Response, h Head, lim HeadLimits) (*http.Response, error) {
	orig := resp.Body
	rec := &recorder{r: orig, limit: lim.Bytes}
	done := make(chan *Rejection, 1)
	go func() { done <- judgeHead(sse.NewReader(rec), h, lim.Events, resp.StatusCode) }()
	timer := time.NewTimer(lim.Wait)
	defer timer.Stop()
	select {
	case rej := <-done:
		if rej != nil {
			return nil, rej
		}
		rp := &replay{head: rec.buf, rest: orig}
		if rec.ended {
			rp.rest = nil
		}
		resp.Body = replayBody{Reader: rp, Closer: orig}
		return resp, nil
	case <-timer.C:
	}
	pr, pw := io.Pipe()
	go func() {
		<-done // the judging goroutine owns rec until it reports
		if _, err := pw.Write(rec.buf); err != nil {
			return
		}
		_, err := io.Copy(pw, orig)
		pw.CloseWithError(err)
	}()
	resp.Body = replayBody{Reader: pr, Closer: pipeCloser{pr: pr, orig: orig}}
	return resp, nil
}

// judgeHead reads up to events events of the head and returns h's
// rejection, or nil to serve.
func judgeHead(rd *sse.Reader, h Head, events, status int) *Rejection {
	for range events {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, errHeadFull) {
				return nil
			}
			// The stream ended or broke before any output: another
			// credential may do better.
			return h.Cut(status)
		}
		if serve, rej := h.Judge(ev); serve || rej != nil {
			return rej
		}
	}
	return nil
}

// errHeadFull ends a held-back head that reached its byte bound.
var errHeadFull = errors.New("relay: stream head is larger than its bound")

// recorder keeps every byte read through it, so a head can be replayed.
type recorder struct {
	r     io.Reader
	limit int
	buf   []byte
	// ended: r reported its end.
	ended bool
}

func (p *recorder) Read(b []byte) (int, error) {
	if len(p.buf) >= p.limit {
		return 0, errHeadFull
	}
	n, err := p.r.Read(b)
	p.buf = append(p.buf, b[:n]...)
	if err == io.EOF {
		p.ended = true
	}
	return n, err
}

// replay reads a held head again, then the rest of the upstream body. When
// the head already read the body's end, its last bytes come with io.EOF, as
// the body's own read did, so the relay knows the end is there
// (sse.Reader.Ended).
type replay struct {
	head []byte
	// rest is the body after the head; nil when the head read its end.
	rest io.Reader
}

func (r *replay) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		if len(r.head) == 0 && r.rest == nil {
			return n, io.EOF
		}
		return n, nil
	}
	if r.rest == nil {
		return 0, io.EOF
	}
	return r.rest.Read(p)
}

// replayBody reads the replay but closes the original body.
type replayBody struct {
	io.Reader
	io.Closer
}

// pipeCloser closes the upstream body (ending the copy) and the pipe.
type pipeCloser struct {
	pr   *io.PipeReader
	orig io.Closer
}

func (c pipeCloser) Close() error {
	err := c.orig.Close()
	_ = c.pr.Close()
	return err
}
