package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

// modelUpstream answers per model: a model in limited answers 429 with a
// one-hour Retry-After and cools that model in the pool (as the scheduler
// does once every credential answered so); cut answers 200 and breaks off
// mid-body; every other model answers 200 "served by <model>".
type modelUpstream struct {
	pool    *relaytest.Pool
	limited map[string]bool
	cut     map[string]bool

	mu     sync.Mutex
	models []string
}

func (u *modelUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	model := r.Header.Get(relaytest.HeaderModel)
	u.mu.Lock()
	u.models = append(u.models, model)
	u.mu.Unlock()
	switch {
	case u.limited[model]:
		u.pool.CoolModel(model, time.Now().Add(time.Hour))
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	case u.cut[model]:
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	default:
		_, _ = io.WriteString(w, "served by "+model)
	}
}

func (u *modelUpstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.models...)
}

// chainRecord keeps what the relay tells a request's record about models.
type chainRecord struct {
	discard
	fellBack []string
	served   string
	tokens   string
}

func (r *chainRecord) FellBack(model, fallback string) {
	r.fellBack = append(r.fellBack, model+"→"+fallback)
}
func (r *chainRecord) Served(model string)             { r.served = model }
func (r *chainRecord) Tokens(model string, _, _ int64) { r.tokens = model }

func newFallbackRelay(t *testing.T, queue time.Duration) (*Relay, *relaytest.Pool, *modelUpstream) {
	t.Helper()
	pool := relaytest.NewPool(1, 2)
	up := &modelUpstream{pool: pool, limited: map[string]bool{}, cut: map[string]bool{}}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	r := New(Options{Pool: pool, Upstream: &relaytest.Upstream{URL: srv.URL, Client: srv.Client()}, QueueTimeout: queue})
	return r, pool, up
}

func chainRequest(rec Record, fallbacks ...string) Request {
	return Request{Call: &providers.Call{Model: "pro", Method: "generate", Body: []byte(`{}`)},
		RequestID: "req-fb", Record: rec, Fallbacks: fallbacks}
}

func readReply(t *testing.T, reply *Reply) string {
	t.Helper()
	b, err := io.ReadAll(reply.Resp.Body)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return string(b)
}

// TestFallbackWhenCoolingBeyondPatience: every credential for the model
// cools for an hour, the request's patience is a second: the next model of
// the chain serves, and the reply, the record and the usage name it.
func TestFallbackWhenCoolingBeyondPatience(t *testing.T) {
	r, pool, up := newFallbackRelay(t, time.Second)
	pool.CoolModel("pro", time.Now().Add(time.Hour))
	rec := &chainRecord{}
	reply, err := r.Do(context.Background(), chainRequest(rec, "flash", "lite"))
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Finish()
	if got := readReply(t, reply); got != "served by flash" {
		t.Errorf("body = %q, want served by flash", got)
	}
	if reply.Model() != "flash" || reply.Attempts != 1 {
		t.Errorf("reply model %q after %d attempts, want flash after 1", reply.Model(), reply.Attempts)
	}
	reply.SetUsage(Usage{Input: 5, Output: 7})
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: 200})
	reply.Finish()
	if diff := cmp.Diff([]string{"pro", "flash"}, pool.AcquiredModels()); diff != "" {
		t.Errorf("acquired models (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"flash"}, up.seen()); diff != "" {
		t.Errorf("upstream calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pro→flash"}, rec.fellBack); diff != "" {
		t.Errorf("fallbacks recorded (-want +got):\n%s", diff)
	}
	if rec.served != "flash" || rec.tokens != "flash" {
		t.Errorf("record: served %q, tokens under %q; want flash, flash", rec.served, rec.tokens)
	}
	if in, out := pool.ModelUsage("flash"); in != 5 || out != 7 {
		t.Errorf("usage of flash = %d/%d, want 5/7", in, out)
	}
	if in, out := pool.ModelUsage("pro"); in != 0 || out != 0 {
		t.Errorf("usage of pro = %d/%d, want none", in, out)
	}
}

// TestFallbackAfterUpstreamLimits: the model's credentials answer 429 with
// a reset an hour away; once the pool says they all cool beyond the
// request's patience, the next model serves, through the request's own
// Retarget.
func TestFallbackAfterUpstreamLimits(t *testing.T) {
	r, pool, up := newFallbackRelay(t, time.Second)
	up.limited["pro"] = true
	rec := &chainRecord{}
	req := chainRequest(rec, "flash")
	var built []string
	req.Retarget = func(model string) (*providers.Call, error) {
		built = append(built, model)
		return &providers.Call{Model: model, Method: "generate", Body: []byte(`{"model":"` + model + `"}`)}, nil
	}
	reply, err := r.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Finish()
	if got := readReply(t, reply); got != "served by flash" {
		t.Errorf("body = %q", got)
	}
	if diff := cmp.Diff([]string{"pro", "flash"}, up.seen()); diff != "" {
		t.Errorf("upstream calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"flash"}, built); diff != "" {
		t.Errorf("Retarget calls (-want +got):\n%s", diff)
	}
	if reply.Attempts != 2 || reply.Model() != "flash" {
		t.Errorf("served by %q after %d attempts, want flash after 2", reply.Model(), reply.Attempts)
	}
	if got := kinds(pool.Reports()); !cmp.Equal(got, []string{"rate_limited"}) {
		t.Errorf("reports so far = %v, want [rate_limited]", got)
	}
}

// TestNoFallbackWithinPatience: the model's credentials are back within
// the request's patience: the request waits for them and is served by the
// model it asked for.
func TestNoFallbackWithinPatience(t *testing.T) {
	r, pool, up := newFallbackRelay(t, 10*time.Second)
	pool.CoolModel("pro", time.Now().Add(2*time.Second))
	rec := &chainRecord{}
	reply, err := r.Do(context.Background(), chainRequest(rec, "flash"))
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Finish()
	if got := readReply(t, reply); got != "served by pro" {
		t.Errorf("body = %q, want served by pro", got)
	}
	if diff := cmp.Diff([]string{"pro"}, pool.AcquiredModels()); diff != "" {
		t.Errorf("acquired models (-want +got):\n%s", diff)
	}
	if w := pool.Acquires()[0].Wait; w < 9*time.Second {
		t.Errorf("acquire wait = %s, want the queue timeout", w)
	}
	if len(rec.fellBack) != 0 || rec.served != "pro" || len(up.seen()) != 1 {
		t.Errorf("fell back %v, served %q, upstream %v; want none, pro, [pro]", rec.fellBack, rec.served, up.seen())
	}
}

// TestNoFallbackAfterFirstByte: once the model's answer was accepted, a
// cut in its body is the reply's failure; the chain is not walked.
func TestNoFallbackAfterFirstByte(t *testing.T) {
	r, pool, up := newFallbackRelay(t, time.Second)
	up.cut["pro"] = true
	rec := &chainRecord{}
	reply, err := r.Do(context.Background(), chainRequest(rec, "flash"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(reply.Resp.Body); err == nil {
		t.Error("the cut body read without error")
	}
	reply.Settle(providers.Outcome{Kind: providers.KindTransient, Reason: "cut"})
	reply.Finish()
	if diff := cmp.Diff([]string{"pro"}, pool.AcquiredModels()); diff != "" {
		t.Errorf("acquired models (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pro"}, up.seen()); diff != "" {
		t.Errorf("upstream calls (-want +got):\n%s", diff)
	}
	if len(rec.fellBack) != 0 || reply.Model() != "pro" {
		t.Errorf("fell back %v, reply model %q; want none, pro", rec.fellBack, reply.Model())
	}
}

// TestFallbackChainExhausted: every model of the chain cools beyond the
// request's patience: the client is told 429 with the earliest reset of
// any of them, not the last one's.
func TestFallbackChainExhausted(t *testing.T) {
	r, pool, _ := newFallbackRelay(t, time.Second)
	now := time.Now()
	pool.CoolModel("pro", now.Add(time.Hour))
	pool.CoolModel("flash", now.Add(20*time.Minute))
	pool.CoolModel("lite", now.Add(2*time.Hour))
	rec := &chainRecord{}
	_, err := r.Do(context.Background(), chainRequest(rec, "flash", "lite"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Do error = %v, want *Error", err)
	}
	if e.Kind != KindRateLimited {
		t.Errorf("kind = %v, want rate limited", e.Kind)
	}
	if e.RetryAfter < 19*time.Minute || e.RetryAfter > 20*time.Minute {
		t.Errorf("RetryAfter = %s, want about 20 min (flash's reset)", e.RetryAfter)
	}
	if diff := cmp.Diff([]string{"pro", "flash", "lite"}, pool.AcquiredModels()); diff != "" {
		t.Errorf("acquired models (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pro→flash", "flash→lite"}, rec.fellBack); diff != "" {
		t.Errorf("fallbacks recorded (-want +got):\n%s", diff)
	}
	if pool.Outstanding() != 0 {
		t.Errorf("%d leases not reported", pool.Outstanding())
	}
}

// TestFallbackChainEndsOnLimitAnswer: the first model's credentials
// answered 429 (reset in an hour); the fallback's cool for ten minutes:
// the client gets the upstream's limit answer with the chain's earliest
// reset.
func TestFallbackChainEndsOnLimitAnswer(t *testing.T) {
	r, pool, up := newFallbackRelay(t, time.Second)
	up.limited["pro"] = true
	pool.CoolModel("flash", time.Now().Add(10*time.Minute))
	_, err := r.Do(context.Background(), chainRequest(nil, "flash"))
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("Do error = %v, want the upstream's *Failure", err)
	}
	if f.Kind() != KindRateLimited {
		t.Errorf("kind = %v, want rate limited", f.Kind())
	}
	if ra := f.RetryAfter(); ra < 9*time.Minute || ra > 10*time.Minute {
		t.Errorf("RetryAfter = %s, want about 10 min (flash's reset)", ra)
	}
}
