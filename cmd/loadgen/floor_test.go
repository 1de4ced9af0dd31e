package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

func TestPathRequest(t *testing.T) {
	tests := []struct {
		path    string
		floor   bool
		url     string
		body    string
		stream  bool
		wantErr bool
	}{
		{path: "gunary", url: "http://127.0.0.1:1/geminicli/v1beta/models/gemini-2.5-pro:generateContent", body: geminiBenchBody},
		{path: "gstream", url: "http://127.0.0.1:1/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", body: geminiBenchBody, stream: true},
		{path: "cstream", url: "http://127.0.0.1:1/codex/v1/responses", body: `{"model":"gpt-5.2-codex","input":"hi","stream":true}`, stream: true},
		{path: "cunary", url: "http://127.0.0.1:1/codex/v1/responses", body: `{"model":"gpt-5.2-codex","input":"hi"}`},
		{path: "gunary", floor: true, url: "http://127.0.0.1:1/gemini/v1internal:generateContent",
			body: `{"model":"gemini-2.5-pro","project":"p\"1","user_prompt_id":"loadgen","request":` + geminiBenchBody + `}`},
		{path: "gstream", floor: true, url: "http://127.0.0.1:1/gemini/v1internal:streamGenerateContent?alt=sse",
			body: `{"model":"gemini-2.5-pro","project":"p\"1","user_prompt_id":"loadgen","request":` + geminiBenchBody + `}`, stream: true},
		{path: "cstream", floor: true, url: "http://127.0.0.1:1/codex/backend-api/codex/responses", body: codexUpstreamBody, stream: true},
		// The backend always streams; Pollux collects it for a unary client.
		{path: "cunary", floor: true, url: "http://127.0.0.1:1/codex/backend-api/codex/responses", body: codexUpstreamBody, stream: true},
		{path: "nope", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.path+map[bool]string{true: "/floor", false: "/pollux"}[tc.floor], func(t *testing.T) {
			u, body, stream, err := pathRequest(tc.path, tc.floor, "http://127.0.0.1:1/", `p"1`)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if u != tc.url || string(body) != tc.body || stream != tc.stream {
				t.Errorf("got %s %s stream=%v\nwant %s %s stream=%v", u, body, stream, tc.url, tc.body, tc.stream)
			}
			if !json.Valid(body) {
				t.Errorf("body %s is not JSON", body)
			}
		})
	}
	if _, _, _, err := pathRequest("gstream", true, "http://127.0.0.1:1", ""); err == nil {
		t.Error("a Gemini floor request without a project was built")
	}
}

// TestFloorAgainstFakes sends each path's floor request to the fake
// upstreams mounted as cmd/upstreamsim mounts them: the simulator accepts
// it and answers whole.
func TestFloorAgainstFakes(t *testing.T) {
	gemini, codex := geminifake.New(), codexfake.New()
	gemini.AddAccount("rt-g", geminifake.Account{Email: "g@example.com", Sub: "g", Tier: "standard-tier", Project: "proj-g"})
	codex.AddAccount("rt-c", codexfake.Account{ID: "acct-c", Sub: "c", Email: "c@example.com", PlanType: "pro"})
	mux := http.NewServeMux()
	mux.Handle(simGeminiPrefix+"/", http.StripPrefix(simGeminiPrefix, gemini))
	mux.Handle(simCodexPrefix+"/", http.StripPrefix(simCodexPrefix, codex))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	geminiToken := accessToken(t, ts.Client(), ts.URL+simGeminiPrefix+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-g"}, "client_id": {"x"}})
	codexToken := accessToken(t, ts.Client(), ts.URL+simCodexPrefix+string(codexfake.Token), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-c"}, "client_id": {codexfake.ClientID}})
	for _, path := range []string{"gunary", "gstream", "cstream", "cunary"} {
		t.Run(path, func(t *testing.T) {
			args := []string{"-path", path, "-floor", "-url", ts.URL, "-n", "6", "-c", "2"}
			if strings.HasPrefix(path, "g") {
				args = append(args, "-project", "proj-g", "-header", "Authorization: Bearer "+geminiToken)
			} else {
				args = append(args, "-header", "Authorization: Bearer "+codexToken, "-header", "chatgpt-account-id: acct-c")
			}
			s := runJSON(t, args...)
			if s.OK != 6 || s.Path != path || s.Target != targetFloor {
				t.Fatalf("summary: ok %d of %d (errors %v, first %q), path %q, target %q", s.OK, s.Requests, s.Errors, s.FirstError, s.Path, s.Target)
			}
			if path != "gunary" && (s.Stream == nil || s.Stream.Complete != 6) {
				t.Fatalf("streams: %+v, want 6 complete", s.Stream)
			}
			// -bare sends the same request (to a reference proxy in
			// front of the simulator; here the fakes themselves) and
			// labels the run for -compare.
			args[2] = "-bare"
			if s := runJSON(t, args...); s.OK != 6 || s.Target != targetBare {
				t.Fatalf("-bare summary: ok %d of %d (first error %q), target %q", s.OK, s.Requests, s.FirstError, s.Target)
			}
		})
	}
	if _, err := parseFlags([]string{"-url", ts.URL, "-bare"}, io.Discard); err == nil {
		t.Error("-bare without -path was accepted")
	}
}

func accessToken(t *testing.T, hc *http.Client, tokenURL string, form url.Values) string {
	t.Helper()
	resp, err := hc.PostForm(tokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token from %s: %d, %v", tokenURL, resp.StatusCode, err)
	}
	return tok.AccessToken
}

func proc(cpu, rss float64) *ProcSummary { return &ProcSummary{CPUPerRequest: cpu, PeakRSSMiB: rss} }

func TestCompareRuns(t *testing.T) {
	floor := func(path string, c int, cpu, p50, p99 float64) Summary {
		return Summary{Path: path, Target: targetFloor, Concurrency: c, Requests: 10, OK: 10,
			Latency: Quantiles{P50: p50, P99: p99}, Process: proc(cpu, 12)}
	}
	pollux := func(path string, c int, cpu, up, p50, p99, rss float64) Summary {
		return Summary{Path: path, Target: targetPollux, Concurrency: c, Requests: 10, OK: 10,
			Latency: Quantiles{P50: p50, P99: p99}, Process: proc(cpu, rss), Upstream: proc(up, 13),
			Stream: &StreamSummary{Streams: 10, Complete: 9, Incomplete: 1}}
	}
	runs := []Summary{
		// Three interleaved rounds of gstream: load at C=32, latency at C=1.
		floor("gstream", 32, 0.20, 0, 0), pollux("gstream", 32, 0.30, 0.21, 0, 0, 40),
		floor("gstream", 1, 0, 1.0, 2.0), pollux("gstream", 1, 0, 0, 1.3, 2.6, 41),
		floor("gstream", 32, 0.25, 0, 0), pollux("gstream", 32, 0.25, 0.25, 0, 0, 44),
		floor("gstream", 1, 0, 1.1, 2.0), pollux("gstream", 1, 0, 0, 1.3, 2.2, 42),
		floor("gstream", 32, 0.10, 0, 0), pollux("gstream", 32, 0.30, 0.10, 0, 0, 43),
		floor("gstream", 1, 0, 0.9, 2.0), pollux("gstream", 1, 0, 0, 1.4, 3.0, 40),
	}
	rows, err := compareRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	want := []floorRow{{
		Path: "gstream", Rounds: 3,
		FloorCPU: 0.20, PolluxCPU: 0.30, UpstreamCPU: 0.21,
		// Per round: 0.30/0.20, 0.25/0.25, 0.30/0.10.
		CPURatio: spread{Median: 1.5, Min: 1, Max: 3, N: 3},
		// (0.30+0.21)/0.20, (0.25+0.25)/0.25, (0.30+0.10)/0.10.
		SystemRatio: spread{Median: 2.55, Min: 2, Max: 4, N: 3},
		AddedP50:    spread{Median: 0.3, Min: 0.2, Max: 0.5, N: 3},
		AddedP99:    spread{Median: 0.6, Min: 0.2, Max: 1.0, N: 3},
		PolluxRSS:   44, FloorRSS: 12,
		Intact: 0.9,
	}}
	if diff := cmp.Diff(want, rows, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	var out bytes.Buffer
	if err := writeFloorTable(&out, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| gstream | 0.200 ms | 0.300 ms | 1.50× (1.00–3.00, n=3) | — | — | 2.55× (2.00–4.00, n=3) | +0.30 / +0.60 ms | — ms | 44 MiB | 90.0 % |") {
		t.Errorf("table:\n%s", out.String())
	}

	if _, err := compareRuns([]Summary{{URL: "x"}}); err == nil {
		t.Error("a summary without -path was compared")
	}
	if _, err := compareRuns([]Summary{floor("g", 8, 0, 0, 0), pollux("g", 8, 0.1, 0, 0, 0, 1)}); err == nil {
		t.Error("a floor run without CPU was compared")
	}
}

// TestCompareRunsWithBare: runs through the reference proxy split Pollux /
// floor into bare / floor and Pollux / bare, round by round.
func TestCompareRunsWithBare(t *testing.T) {
	run := func(target string, c int, cpu, p50 float64) Summary {
		return Summary{Path: "cunary", Target: target, Concurrency: c, Requests: 10, OK: 10,
			Latency: Quantiles{P50: p50}, Process: proc(cpu, 20)}
	}
	runs := []Summary{
		run(targetFloor, 32, 0.10, 0), run(targetBare, 32, 0.20, 0), run(targetPollux, 32, 0.24, 0),
		run(targetFloor, 1, 0, 1.0), run(targetBare, 1, 0, 1.2), run(targetPollux, 1, 0, 1.5),
		run(targetFloor, 32, 0.20, 0), run(targetBare, 32, 0.30, 0), run(targetPollux, 32, 0.60, 0),
		run(targetFloor, 1, 0, 1.0), run(targetBare, 1, 0, 1.4), run(targetPollux, 1, 0, 1.6),
	}
	rows, err := compareRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	r := rows[0]
	approx := cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"BareCPU", r.BareCPU, 0.25},
		// 0.20/0.10 and 0.30/0.20.
		{"BareRatio", r.BareRatio, spread{Median: 1.75, Min: 1.5, Max: 2, N: 2}},
		// 0.24/0.20 and 0.60/0.30.
		{"OverBare", r.OverBare, spread{Median: 1.6, Min: 1.2, Max: 2, N: 2}},
		{"BareAddedP50", r.BareAddedP50, spread{Median: 0.3, Min: 0.2, Max: 0.4, N: 2}},
		{"AddedP50", r.AddedP50, spread{Median: 0.55, Min: 0.5, Max: 0.6, N: 2}},
		{"BareIntact", r.BareIntact, 1.0},
	} {
		if diff := cmp.Diff(c.want, c.got, approx); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	var out bytes.Buffer
	if err := writeFloorTable(&out, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| 1.75× (1.50–2.00, n=2) | 1.60× (1.20–2.00, n=2) |") || !strings.Contains(out.String(), "| +0.30 ms |") {
		t.Errorf("table:\n%s", out.String())
	}
	// A bare proxy that loses streams shows it (2 of its 40 requests).
	lossy := slices.Clone(runs)
	lossy[4].Stream = &StreamSummary{Streams: 10, Complete: 8, Incomplete: 2}
	if rows, err := compareRuns(lossy); err != nil || rows[0].BareIntact != 0.95 {
		t.Errorf("bare intact with 2 of 40 lost: %+v, %v; want 0.95", rows, err)
	}
	bad := slices.Clone(runs)
	bad[1].Process = nil
	if _, err := compareRuns(bad); err == nil {
		t.Error("a bare run without CPU was compared")
	}
}

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{3}, spread{3, 3, 3, 1}},
		{[]float64{4, 1, 2, 3}, spread{2.5, 1, 4, 4}},
		{[]float64{5, 1, 9}, spread{5, 1, 9, 3}},
	} {
		if got := spreadOf(tc.in); got != tc.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestCompareFromFiles runs -compare on summaries written by -json runs.
func TestCompareFromFiles(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	for _, s := range []Summary{
		{Path: "gunary", Target: targetFloor, Concurrency: 4, Requests: 5, OK: 5, Process: proc(0.1, 10)},
		{Path: "gunary", Target: targetPollux, Concurrency: 4, Requests: 5, OK: 5, Process: proc(0.12, 30)},
	} {
		if err := writeJSON(&buf, s); err != nil {
			t.Fatal(err)
		}
	}
	name := dir + "/runs.json"
	if err := os.WriteFile(name, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-compare", name}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| gunary | 0.100 ms | 0.120 ms | 1.20× (1.20–1.20, n=1) | — | — | — | — / — ms | — ms | 30 MiB | 100.0 % |") {
		t.Errorf("-compare printed:\n%s", out.String())
	}
	if err := run(t.Context(), []string{"-compare"}, &out); err == nil {
		t.Error("-compare without files ran")
	}
}
