package transport

import (
	"encoding/csv"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
)

// usageKind is one kind of request of the accounting test, with what the
// fake upstreams report for it.
type usageKind struct {
	path, body, model, provider string
	usage                       storage.KeyUsage
}

var usageKinds = []usageKind{
	{geminiUnaryPath, geminiReqBody, "gemini-2.5-pro", "geminicli",
		storage.KeyUsage{Requests: 1, InputTokens: 4, OutputTokens: 3}},
	{keysStreamPath, geminiReqBody, "gemini-2.5-flash", "geminicli",
		storage.KeyUsage{Requests: 1, InputTokens: 4, OutputTokens: 2}},
	{codexRespPath, codexStreamBody, "gpt-5.2", "codex",
		storage.KeyUsage{Requests: 1, InputTokens: 12, OutputTokens: 5, CachedTokens: 4, ReasoningTokens: 2}},
	{codexRespPath, codexUnaryBody, "gpt-5.2-codex", "codex",
		storage.KeyUsage{Requests: 1, InputTokens: 12, OutputTokens: 5, CachedTokens: 4, ReasoningTokens: 2}},
}

// TestUsageAccountingMatchesUpstream: after 1,000 mixed unary and streamed
// requests on both surfaces from several keys, GET /admin/v1/usage equals,
// token for token, what the fake upstreams reported; a restart keeps it.
func TestUsageAccountingMatchesUpstream(t *testing.T) {
	e := newKeysEnv(t)
	keys := map[string]string{"operator": harnessKey}
	for _, name := range []string{"alice", "bob", "carol"} {
		_, keys[name] = e.createKey(`{"name":"` + name + `"}`)
	}
	names := []string{"operator", "alice", "bob", "carol"}

	const total, workers = 1000, 8
	want := map[usageRow]storage.KeyUsage{}
	type job struct {
		key  string
		kind usageKind
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				r := e.as(keys[j.key], http.MethodPost, j.kind.path, j.kind.body)
				if r.status != http.StatusOK || strings.Contains(r.body, `"error"`) {
					mu.Lock()
					failures = append(failures, r.body)
					mu.Unlock()
				}
			}
		})
	}
	for i := range total {
		j := job{key: names[i%len(names)], kind: usageKinds[(i/len(names))%len(usageKinds)]}
		row := usageRow{Key: j.key, Model: j.kind.model, Provider: j.kind.provider}
		u := want[row]
		u.Add(j.kind.usage)
		want[row] = u
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed, first: %s", len(failures), failures[0])
	}

	check := func(when string) {
		t.Helper()
		rep := e.usage("?group_by=key,model,provider")
		got := map[usageRow]storage.KeyUsage{}
		var sum storage.KeyUsage
		for _, r := range rep.Rows {
			got[usageRow{Key: r.Key, Model: r.Model, Provider: r.Provider}] = r.KeyUsage
			sum.Add(r.KeyUsage)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: usage differs from what the upstream reported (-want +got):\n%s", when, diff)
		}
		if sum.Requests != total || rep.Total != sum {
			t.Errorf("%s: total %+v, rows sum %+v, want %d requests", when, rep.Total, sum, total)
		}
	}
	check("before restart")
	e.restart()
	check("after restart")

	// CSV: the same numbers, one line per group plus the header.
	r := e.send(http.MethodGet, "/admin/v1/usage?group_by=key", "", map[string]string{
		"Authorization": "Bearer " + harnessKey, "Accept": "text/csv"})
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v %s", r.status, err, r.body)
	}
	wantHeader := []string{"key", "requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "unknown_tokens"}
	if diff := cmp.Diff(wantHeader, recs[0]); diff != "" || len(recs) != 1+len(names) {
		t.Errorf("csv header (-want +got):\n%s\nrows %d", diff, len(recs))
	}
}

// TestCutStreamCountsUnknownTokens: a stream cut before the upstream
// reported usage counts the request as an error with unknown tokens, and
// charges no invented tokens.
func TestCutStreamCountsUnknownTokens(t *testing.T) {
	e := newKeysEnv(t)
	_, key := e.createKey(`{"name":"frank","limits":{"tokens_per_day":1000}}`)
	e.gfake.ScriptStream(geminifake.Stream{CutAfter: 1})
	r := e.as(key, http.MethodPost, keysStreamPath, geminiReqBody)
	if r.status != 200 || !strings.Contains(r.body, `"error"`) {
		t.Fatalf("cut stream: %d %s", r.status, r.body)
	}
	rep := e.usage("?group_by=key")
	want := storage.KeyUsage{Requests: 1, Errors: 1, UnknownTokens: 1}
	if len(rep.Rows) != 1 || rep.Rows[0].KeyUsage != want {
		t.Errorf("usage %+v, want %+v", rep.Rows, want)
	}
	if body := e.as(key, http.MethodGet, "/v1/me", "").body; !strings.Contains(body, `"tokens_today":0`) {
		t.Errorf("/v1/me %s: tokens charged for a cut stream", body)
	}
}
