package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// run parses args, loads the target and writes the summary to stdout.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	if len(o.compare) > 0 {
		return runCompare(o.compare, o.json, stdout)
	}
	var before, upBefore procSample
	if o.pid > 0 {
		if before, err = readProc(o.pid); err != nil {
			return err
		}
	}
	if o.upstreamPID > 0 {
		if upBefore, err = readProc(o.upstreamPID); err != nil {
			return err
		}
	}
	client := newClient(o.c)
	defer client.CloseIdleConnections()

	start := time.Now()
	var soak *soaker
	stopSoak := func() {}
	if o.sample > 0 {
		// Samples print as they come in text mode; JSON carries them at the end.
		progress := stdout
		if o.json {
			progress = io.Discard
		}
		soak = &soaker{o: o, client: client, out: progress, start: start}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { soak.run(sctx); close(done) }()
		stopSoak = func() { cancel(); <-done }
	}
	t := load(ctx, o, client)
	elapsed := time.Since(start)
	stopSoak()

	s := summarize(o, t, elapsed)
	if soak != nil {
		s.Soak = soak.soakSamples()
	}
	if o.pid > 0 {
		after, err := readProc(o.pid)
		if err != nil {
			return err
		}
		s.Process = processSummary(o.pid, before, after, s.Requests)
	}
	if o.upstreamPID > 0 {
		after, err := readProc(o.upstreamPID)
		if err != nil {
			return err
		}
		s.Upstream = processSummary(o.upstreamPID, upBefore, after, s.Requests)
	}
	if o.json {
		return writeJSON(stdout, s)
	}
	return writeText(stdout, s)
}

// newClient returns the one client of a run: a pool sized to the
// concurrency, no proxy, no redirects, and dials only to loopback addresses.
func newClient(c int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         d.DialContext,
			MaxIdleConns:        c,
			MaxIdleConnsPerHost: c,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// loopbackOnly is a net.Dialer Control hook: it runs after name resolution,
// so a name that resolves elsewhere is refused too.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("dial %s: not a loopback address", address)
	}
	return nil
}

// tally is what one worker observed; workers own theirs and load merges
// them at the end, so the hot path takes no lock.
type tally struct {
	ok         int
	errors     map[string]int // by status code or transport error class
	firstErr   string
	latencies  []time.Duration // every request that got an answer
	ttfbs      []time.Duration // streams: time to the first event
	events     []int           // streams: events per 2xx stream
	complete   int
	incomplete int
	errored    int
}

func (t *tally) fail(key, detail string) {
	if t.errors == nil {
		t.errors = map[string]int{}
	}
	t.errors[key]++
	if t.firstErr == "" {
		t.firstErr = key + ": " + detail
	}
}

func (t *tally) merge(o *tally) {
	t.ok += o.ok
	for k, v := range o.errors {
		if t.errors == nil {
			t.errors = map[string]int{}
		}
		t.errors[k] += v
	}
	if t.firstErr == "" {
		t.firstErr = o.firstErr
	}
	t.latencies = append(t.latencies, o.latencies...)
	t.ttfbs = append(t.ttfbs, o.ttfbs...)
	t.events = append(t.events, o.events...)
	t.complete += o.complete
	t.incomplete += o.incomplete
	t.errored += o.errored
}

// load runs o.c workers until o.n requests were issued or o.duration has
// passed. Requests in flight at the deadline run to completion; ctx (the
// signal context) aborts them.
func load(ctx context.Context, o options, client *http.Client) *tally {
	issueCtx, cancel := ctx, context.CancelFunc(func() {})
	if o.duration > 0 {
		issueCtx, cancel = context.WithTimeout(ctx, o.duration)
	}
	defer cancel()
	var issued atomic.Int64
	tallies := make([]tally, o.c)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() {
			for issueCtx.Err() == nil && (o.n == 0 || issued.Add(1) <= int64(o.n)) {
				once(ctx, o, client, &tallies[i])
			}
		})
	}
	wg.Wait()
	var total tally
	for i := range tallies {
		total.merge(&tallies[i])
	}
	return &total
}

// once sends one request and records what came back.
func once(ctx context.Context, o options, client *http.Client, t *tally) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(o.body))
	if err != nil {
		t.fail("request", err.Error())
		return
	}
	req.Header = o.header.Clone()
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	if len(o.body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.fail(errorClass(err), errorDetail(err))
		return
	}
	defer func() { _ = resp.Body.Close() }()

	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if o.stream && ok {
		readStream(start, resp.Body, t)
		t.latencies = append(t.latencies, time.Since(start))
		t.ok++
		return
	}
	_, err = io.Copy(io.Discard, resp.Body)
	t.latencies = append(t.latencies, time.Since(start))
	switch {
	case !ok:
		t.fail(strconv.Itoa(resp.StatusCode), http.StatusText(resp.StatusCode))
	case err != nil:
		t.fail("read", errorDetail(err))
	default:
		t.ok++
	}
}

// readStream reads a 2xx SSE body to its end and classifies the stream.
func readStream(start time.Time, body io.Reader, t *tally) {
	r := sse.NewReader(body)
	n := 0
	terminal, failed := false, false
	for {
		ev, err := r.Next()
		if err != nil {
			break // io.EOF or a cut: the flags below tell which
		}
		if n == 0 {
			t.ttfbs = append(t.ttfbs, time.Since(start))
		}
		n++
		terminal = terminal || isTerminal(ev)
		failed = failed || isErrorEvent(ev)
	}
	t.events = append(t.events, n)
	switch {
	case failed:
		t.errored++
	case terminal:
		t.complete++
	default:
		t.incomplete++
	}
}

// isTerminal reports whether ev ends a successful stream: an OpenAI
// response.completed event or a Gemini chunk carrying finishReason.
func isTerminal(ev sse.Event) bool {
	return ev.Name == "response.completed" ||
		bytes.Contains(ev.Data, []byte(`"type":"response.completed"`)) ||
		bytes.Contains(ev.Data, []byte(`"finishReason"`))
}

// isErrorEvent reports whether ev reports a failure: an OpenAI error or
// response.failed event, or a Gemini {"error": ...} payload.
func isErrorEvent(ev sse.Event) bool {
	switch ev.Name {
	case "error", "response.failed":
		return true
	}
	return bytes.HasPrefix(bytes.TrimSpace(ev.Data), []byte(`{"error"`))
}

// errorClass names a transport error for the errors table.
func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "transport"
	}
}

// errorDetail drops the URL from client errors: it may carry a ?key=.
func errorDetail(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
