package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

// script answers the test upstream per credential: each credential's
// answers in turn (the last one repeats).
type script struct {
	mu      sync.Mutex
	answers map[string][]answer
	calls   []string
}

type answer struct {
	status     int
	retryAfter string
	body       string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(relaytest.HeaderCredential)
	s.mu.Lock()
	s.calls = append(s.calls, id)
	as := s.answers[id]
	a := answer{status: http.StatusInternalServerError}
	if len(as) > 0 {
		a = as[0]
		if len(as) > 1 {
			s.answers[id] = as[1:]
		}
	}
	s.mu.Unlock()
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (s *script) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// newTestRelay is a relay over a fake pool of ids and a scripted upstream.
func newTestRelay(t *testing.T, answers map[string][]answer, ids ...int64) (*Relay, *relaytest.Pool, *script) {
	t.Helper()
	sc := &script{answers: answers}
	srv := httptest.NewServer(sc)
	t.Cleanup(srv.Close)
	pool := relaytest.NewPool(ids...)
	r := New(Options{Pool: pool, Upstream: &relaytest.Upstream{URL: srv.URL, Client: srv.Client()}, QueueTimeout: time.Second})
	return r, pool, sc
}

func testRequest() Request {
	return Request{Call: &providers.Call{Model: "m", Method: "generate", Body: []byte(`{}`)}, RequestID: "req-1"}
}

func kinds(rs []relaytest.Report) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome.Kind.String()
	}
	return out
}

// TestDoFailsOverAndFinishes: a limit fails over to the next credential;
// the reply is reported once, with the settled outcome, and its usage is
// recorded.
func TestDoFailsOverAndFinishes(t *testing.T) {
	r, pool, sc := newTestRelay(t, map[string][]answer{
		"1": {{status: 429, retryAfter: "30"}},
		"2": {{status: 200, body: "ok"}},
	}, 1, 2)
	reply, err := r.Do(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	if reply.Attempts != 2 || reply.CredentialID() != 2 {
		t.Errorf("served by %d after %d attempts, want 2 after 2", reply.CredentialID(), reply.Attempts)
	}
	body, _ := io.ReadAll(reply.Resp.Body)
	if string(body) != "ok" {
		t.Errorf("body = %q", body)
	}
	reply.SetUsage(Usage{Input: 3, Output: 4})
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: 200})
	reply.Finish()
	reply.Finish() // a second call (a deferred one) does nothing
	if diff := cmp.Diff([]string{"rate_limited", "ok"}, kinds(pool.Reports())); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if in, out := pool.Usage(2); in != 3 || out != 4 {
		t.Errorf("usage = %d/%d, want 3/4", in, out)
	}
	if diff := cmp.Diff([]string{"1", "2"}, sc.Calls()); diff != "" {
		t.Errorf("upstream calls (-want +got):\n%s", diff)
	}
}

// TestFinishDefaultsToAbandoned: a reply its handler never settled (the
// client left, a panic) is reported abandoned, and no usage is recorded.
func TestFinishDefaultsToAbandoned(t *testing.T) {
	r, pool, _ := newTestRelay(t, map[string][]answer{"1": {{status: 200}}}, 1)
	reply, err := r.Do(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	func() { defer reply.Finish() }()
	if diff := cmp.Diff([]string{"abandoned"}, kinds(pool.Reports())); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if pool.Outstanding() != 0 {
		t.Errorf("%d leases not reported", pool.Outstanding())
	}
}

// TestDoTellsEarliestReset: when every credential met a limit, the client
// is told the earliest reset among them, not the last one's.
func TestDoTellsEarliestReset(t *testing.T) {
	r, pool, _ := newTestRelay(t, map[string][]answer{
		"1": {{status: 429, retryAfter: "10"}},
		"2": {{status: 429, retryAfter: "600"}},
	}, 1, 2)
	pool.SetExhausted(&actors.UnavailableError{Reason: actors.AllCooling, RetryAt: time.Now().Add(time.Hour)})
	_, err := r.Do(context.Background(), testRequest())
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("err = %v, want a *Failure", err)
	}
	if d := f.RetryAfter(); d > 10*time.Second || d < 9*time.Second {
		t.Errorf("RetryAfter = %v, want the earliest reset (10 s)", d)
	}
	if f.Attempts != 2 || f.Kind() != KindRateLimited {
		t.Errorf("failure = %+v, want a rate limit after 2 attempts", f)
	}
}

// TestDoRefreshRounds: a 401 sends the request back to the same credential
// (waiting for its refresh) instead of failing.
func TestDoRefreshRounds(t *testing.T) {
	r, pool, sc := newTestRelay(t, map[string][]answer{"1": {{status: 401}, {status: 200}}}, 1)
	reply, err := r.Do(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	reply.Settle(providers.Outcome{Kind: providers.KindOK})
	reply.Finish()
	if diff := cmp.Diff([]string{"1", "1"}, sc.Calls()); diff != "" {
		t.Errorf("upstream calls (-want +got):\n%s", diff)
	}
	if got := pool.Acquires()[1].Prefer; got != 1 {
		t.Errorf("second Acquire prefers %d, want 1", got)
	}
}

// TestDoClientErrorIsFinal: a bad request is answered at once, with the
// upstream's body.
func TestDoClientErrorIsFinal(t *testing.T) {
	r, _, sc := newTestRelay(t, map[string][]answer{"1": {{status: 400, body: `{"error":"bad"}`}}}, 1, 2)
	_, err := r.Do(context.Background(), testRequest())
	var f *Failure
	if !errors.As(err, &f) || f.Status != 400 || string(f.Body) != `{"error":"bad"}` {
		t.Fatalf("err = %v, want the upstream's 400", err)
	}
	if len(sc.Calls()) != 1 {
		t.Errorf("upstream calls = %v, want one", sc.Calls())
	}
}

// errTold is a surface's client error for a rejected attempt.
var errTold = errors.New("told to the client")

// TestCheckRejectionCarriesClientError: an attempt rejected by the
// request's Check fails over, and the last rejection's client error comes
// back inside the *Failure (no out-parameters).
func TestCheckRejectionCarriesClientError(t *testing.T) {
	r, pool, _ := newTestRelay(t, map[string][]answer{"1": {{status: 200}}, "2": {{status: 200}}}, 1, 2)
	req := testRequest()
	req.Check = func(*http.Response) (*http.Response, error) {
		return nil, &Rejection{Outcome: providers.Outcome{Kind: providers.KindOverloaded, Reason: "head"}, Err: errTold}
	}
	_, err := r.Do(context.Background(), req)
	var f *Failure
	if !errors.As(err, &f) || !errors.Is(f.Err, errTold) || f.Outcome.Reason != "head" {
		t.Fatalf("err = %v, want the rejection's failure carrying its client error", err)
	}
	if diff := cmp.Diff([]string{"overloaded", "overloaded"}, kinds(pool.Reports())); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

// TestDoUnreachableUpstream: a transport error is a transient failure (502)
// of the credential, tried on another.
func TestDoUnreachableUpstream(t *testing.T) {
	pool := relaytest.NewPool(1, 2)
	r := New(Options{Pool: pool, Upstream: &relaytest.Upstream{URL: "http://127.0.0.1:1"}})
	_, err := r.Do(context.Background(), testRequest())
	var f *Failure
	if !errors.As(err, &f) || f.Status != http.StatusBadGateway || f.Outcome.Reason != "transport_error" || f.Attempts != 2 {
		t.Fatalf("err = %v, want a transport failure after 2 attempts", err)
	}
	if !strings.Contains(f.Error(), "after 2 attempt(s)") {
		t.Errorf("Error() = %q", f.Error())
	}
}

// slowLimit is an upstream that takes d to answer 429 (in memory).
type slowLimit struct{ d time.Duration }

func (u slowLimit) Send(ctx context.Context, _ providers.Grant, _ *providers.Call) (*http.Response, error) {
	time.Sleep(u.d)
	return &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}, nil
}

func (slowLimit) Classify(status int, _ http.Header, _ []byte) providers.Outcome {
	return providers.Outcome{Kind: providers.KindRateLimited, Status: status}
}

// TestQueueDeadlineSpansAttempts: the request waits for credentials for
// the queue timeout in all, however many attempts it takes; past it only
// what is ready now. Runs on synctest's clock.
func TestQueueDeadlineSpansAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := relaytest.NewPool(1, 2, 3, 4)
		r := New(Options{Pool: pool, Upstream: slowLimit{4 * time.Second}, QueueTimeout: 10 * time.Second})
		_, err := r.Do(context.Background(), testRequest())
		var f *Failure
		if !errors.As(err, &f) || f.Attempts != 4 {
			t.Fatalf("err = %v, want the last limit after 4 attempts", err)
		}
		var waits []time.Duration
		for _, a := range pool.Acquires() {
			waits = append(waits, a.Wait)
		}
		want := []time.Duration{10 * time.Second, 6 * time.Second, 2 * time.Second, time.Nanosecond, time.Nanosecond}
		if diff := cmp.Diff(want, waits); diff != "" {
			t.Errorf("Acquire waits (-want +got):\n%s", diff)
		}
	})
}

// silent is an upstream that never answers before its context ends.
type silent struct{}

func (silent) Send(ctx context.Context, _ providers.Grant, _ *providers.Call) (*http.Response, error) {
	<-ctx.Done()
	return nil, context.Cause(ctx)
}

func (silent) Classify(int, http.Header, []byte) providers.Outcome { return providers.Outcome{} }

// TestFirstByteDeadline: an upstream silent past the first-byte deadline is
// a transient failure of the credential (first_byte_timeout), tried
// elsewhere. Runs on synctest's clock.
func TestFirstByteDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := relaytest.NewPool(1, 2)
		r := New(Options{Pool: pool, Upstream: silent{}, FirstByteTimeout: time.Minute})
		start := time.Now()
		_, err := r.Do(context.Background(), testRequest())
		var f *Failure
		if !errors.As(err, &f) || f.Outcome.Reason != "first_byte_timeout" || f.Attempts != 2 {
			t.Fatalf("err = %v, want first_byte_timeout after 2 attempts", err)
		}
		if took := time.Since(start); took != 2*time.Minute {
			t.Errorf("took %v, want two deadlines", took)
		}
	})
}

// TestHeaderNamesAreCanonical: the header names the relay exports are the
// ones net/http stores, so reading them needs no canonicalization.
func TestHeaderNamesAreCanonical(t *testing.T) {
	for _, name := range []string{HeaderRequestID, HeaderServedModel} {
		if c := http.CanonicalHeaderKey(name); c != name {
			t.Errorf("%q is stored as %q", name, c)
		}
	}
	if !strings.EqualFold(HeaderRequestID, echoRequestIDHeader) {
		t.Errorf("HeaderRequestID = %q, not echo's %q", HeaderRequestID, echoRequestIDHeader)
	}
}

// echoRequestIDHeader is echo.HeaderXRequestID (the relay imports no echo).
const echoRequestIDHeader = "X-Request-ID"
