package transport

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
)

// scrape reads GET /metrics.
func scrape(t *testing.T, e *adminEnv) map[string]*dto.MetricFamily {
	t.Helper()
	body := e.mustDo(http.MethodGet, "/metrics", "", harnessKey, http.StatusOK)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// sample returns the value of the series of name with exactly labels: a
// counter's or gauge's value, a histogram's sample count.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// labelNames lists the label names of a family's first series, sorted.
func labelNames(fam *dto.MetricFamily) string {
	if fam == nil || len(fam.GetMetric()) == 0 {
		return ""
	}
	var names []string
	for _, lp := range fam.GetMetric()[0].GetLabel() {
		names = append(names, lp.GetName())
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// TestMetricsNames checks every Pollux family is exported with its labels,
// with the runtime collectors, before any traffic.
func TestMetricsNames(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{})
	e.addGemini("names-a")
	e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusOK)
	fams := scrape(t, e)
	cases := []struct {
		name   string
		labels string
		typ    dto.MetricType
	}{
		{"pollux_requests_total", "code,key,model,surface", dto.MetricType_COUNTER},
		{"pollux_request_duration_seconds", "surface", dto.MetricType_HISTOGRAM},
		{"pollux_upstream_latency_seconds", "provider", dto.MetricType_HISTOGRAM},
		{"pollux_upstream_ttfb_seconds", "provider", dto.MetricType_HISTOGRAM},
		{"pollux_failovers_total", "provider,reason", dto.MetricType_COUNTER},
		{"pollux_credentials", "provider,status", dto.MetricType_GAUGE},
		{"pollux_cooldowns_active", "model,provider", dto.MetricType_GAUGE},
		{"pollux_refreshes_total", "provider,result", dto.MetricType_COUNTER},
		{"pollux_scheduler_waiting", "provider", dto.MetricType_GAUGE},
		{"pollux_scheduler_wait_seconds", "provider", dto.MetricType_HISTOGRAM},
		{"pollux_tokens_total", "key,kind,model,provider", dto.MetricType_COUNTER},
		{"go_goroutines", "", dto.MetricType_GAUGE},
		{"process_cpu_seconds_total", "", dto.MetricType_COUNTER},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fam, ok := fams[tc.name]
			if !ok {
				t.Fatalf("%s is not exported", tc.name)
			}
			if fam.GetType() != tc.typ {
				t.Errorf("type = %v, want %v", fam.GetType(), tc.typ)
			}
			if got := labelNames(fam); got != tc.labels {
				t.Errorf("labels = %q, want %q", got, tc.labels)
			}
		})
	}
}

// TestMetricsMoveWithTraffic checks that the counters and gauges follow
// requests, a scripted 429, token usage, a refresh and a disabled
// credential; and that the usage rows reach the database.
func TestMetricsMoveWithTraffic(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{})
	g := e.addGemini("mv-a", "mv-b", "mv-c")
	e.addCodex("mv-x")

	// Traffic: a 429 that fails over, a plain call, a stream, an unknown
	// model, a codex call.
	e.gfake.ScriptGenerate(geminifake.Response{Status: 429, Body: geminiRateLimitBody("30s")})
	e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusOK)
	e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusOK)
	e.mustDo(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", adminGeminiBody, harnessKey, http.StatusOK)
	e.mustDo(http.MethodPost, geminiGenerate("gemini-9"), adminGeminiBody, harnessKey, http.StatusNotFound)
	e.mustDo(http.MethodPost, "/codex/v1/responses", codexTestBody("true"), harnessKey, http.StatusOK)
	e.mustDo(http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d:disable", g[2]), "", harnessKey, http.StatusOK)
	refreshes := e.gfake.Refreshes("mv-a")
	e.mustDo(http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d:refresh", g[0]), "", harnessKey, http.StatusAccepted)
	untilPool(t, e.tap, providers.GeminiCLI, "the refresh", func() bool { return e.gfake.Refreshes("mv-a") > refreshes })

	type series struct {
		name   string
		labels map[string]string
	}
	gem := func(kv ...string) map[string]string {
		m := map[string]string{"provider": "geminicli"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		s    series
		want float64
		// atLeast: the value may be higher.
		atLeast bool
	}{
		{series{"pollux_requests_total", map[string]string{"surface": "geminicli", "model": "gemini-2.5-pro", "code": "2xx", "key": "operator"}}, 2, false},
		{series{"pollux_requests_total", map[string]string{"surface": "geminicli", "model": "gemini-2.5-flash", "code": "2xx", "key": "operator"}}, 1, false},
		{series{"pollux_requests_total", map[string]string{"surface": "geminicli", "model": "other", "code": "4xx", "key": "operator"}}, 1, false},
		{series{"pollux_requests_total", map[string]string{"surface": "codex", "model": "gpt-5.2-codex", "code": "2xx", "key": "operator"}}, 1, false},
		{series{"pollux_request_duration_seconds", map[string]string{"surface": "geminicli"}}, 4, false},
		{series{"pollux_failovers_total", gem("reason", "rate_limited")}, 1, false},
		{series{"pollux_failovers_total", gem("reason", "transient")}, 0, false},
		// 4+4 from the two generateContent replies, 4 from the stream.
		{series{"pollux_tokens_total", gem("model", "gemini-2.5-pro", "kind", "input", "key", "operator")}, 8, false},
		{series{"pollux_tokens_total", gem("model", "gemini-2.5-pro", "kind", "output", "key", "operator")}, 6, false},
		{series{"pollux_tokens_total", gem("model", "gemini-2.5-flash", "kind", "input", "key", "operator")}, 4, false},
		{series{"pollux_tokens_total", gem("model", "gemini-2.5-flash", "kind", "output", "key", "operator")}, 2, false},
		{series{"pollux_tokens_total", map[string]string{"provider": "codex", "model": "gpt-5.2-codex", "kind": "input", "key": "operator"}}, 12, false},
		{series{"pollux_tokens_total", map[string]string{"provider": "codex", "model": "gpt-5.2-codex", "kind": "output", "key": "operator"}}, 5, false},
		{series{"pollux_upstream_latency_seconds", gem()}, 4, false},
		{series{"pollux_upstream_ttfb_seconds", gem()}, 1, false},
		{series{"pollux_upstream_ttfb_seconds", map[string]string{"provider": "codex"}}, 1, false},
		{series{"pollux_scheduler_wait_seconds", gem()}, 4, true},
		{series{"pollux_credentials", gem("status", "active")}, 2, false},
		{series{"pollux_credentials", gem("status", "disabled")}, 1, false},
		{series{"pollux_credentials", gem("status", "needs_reauth")}, 0, false},
		{series{"pollux_credentials", map[string]string{"provider": "codex", "status": "active"}}, 1, false},
		{series{"pollux_cooldowns_active", gem("model", "gemini-2.5-pro")}, 1, false},
		{series{"pollux_cooldowns_active", gem("model", "gemini-2.5-flash")}, 0, false},
		{series{"pollux_cooldowns_active", gem("model", "*")}, 0, false},
		{series{"pollux_scheduler_waiting", gem()}, 0, false},
		{series{"pollux_refreshes_total", gem("result", "ok")}, 1, false},
		{series{"pollux_refreshes_total", gem("result", "permanent")}, 0, false},
	}
	var fams map[string]*dto.MetricFamily
	// The cooldown reaches the scheduler's view after the reply; wait for
	// it (and the refresh's result) rather than race.
	untilPool(t, e.tap, providers.GeminiCLI, "the pool gauges", func() bool {
		fams = scrape(t, e)
		cd, _ := sample(fams, "pollux_cooldowns_active", gem("model", "gemini-2.5-pro"))
		ok, _ := sample(fams, "pollux_refreshes_total", gem("result", "ok"))
		return cd == 1 && ok == 1
	})
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.s.name, tc.s.labels), func(t *testing.T) {
			got, ok := sample(fams, tc.s.name, tc.s.labels)
			switch {
			case !ok:
				t.Fatalf("no series %s%v", tc.s.name, tc.s.labels)
			case tc.atLeast && got < tc.want:
				t.Errorf("got %v, want at least %v", got, tc.want)
			case !tc.atLeast && got != tc.want:
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("usage rows", func(t *testing.T) {
		type total struct{ requests, input, output int64 }
		sum := func(provider string) total {
			rows, err := e.db.Usage(context.Background(), provider, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var tot total
			for _, r := range rows {
				tot.requests += r.Requests
				tot.input += r.InputTokens
				tot.output += r.OutputTokens
			}
			return tot
		}
		wantGem, wantCodex := total{3, 12, 8}, total{1, 12, 5}
		// Checked after each message the persistence actor handled (its
		// flushes among them).
		e.tap.Until(t, actors.PersistenceID, "usage rows", func(any) bool { return true }, func() bool {
			return sum(providers.GeminiCLI) == wantGem && sum(providers.Codex) == wantCodex
		})
		rows, err := e.db.Usage(context.Background(), providers.GeminiCLI, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.CredentialID != g[0] && r.CredentialID != g[1] && r.CredentialID != g[2] {
				t.Errorf("usage row for credential %d, not one of %v", r.CredentialID, g)
			}
			if r.Day != storage.UsageDay(time.Now()) {
				t.Errorf("usage day %q", r.Day)
			}
		}
	})
}

// TestMetricsRequestCounting checks the label mapping of the request
// counter: bounded models, status classes, API surfaces only.
func TestMetricsRequestCounting(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{})
	// No credentials: every generate answers 503, a bad key 401.
	e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusServiceUnavailable)
	e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, "wrong", http.StatusUnauthorized)
	e.mustDo(http.MethodGet, "/geminicli/v1beta/models", "", harnessKey, http.StatusOK)
	e.mustDo(http.MethodGet, "/healthz", "", "", http.StatusOK)
	fams := scrape(t, e)
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"503 is 5xx", map[string]string{"surface": "geminicli", "model": "gemini-2.5-pro", "code": "5xx", "key": "operator"}, 1},
		{"401 before the handler has no model or key", map[string]string{"surface": "geminicli", "model": "none", "code": "4xx", "key": "none"}, 1},
		{"model list", map[string]string{"surface": "geminicli", "model": "none", "code": "2xx", "key": "operator"}, 1},
		{"codex untouched", map[string]string{"surface": "codex", "model": "none", "code": "2xx", "key": "operator"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := sample(fams, "pollux_requests_total", tc.labels)
			if !ok || got != tc.want {
				t.Errorf("requests_total%v = %v (present %v), want %v", tc.labels, got, ok, tc.want)
			}
		})
	}
	for _, m := range fams["pollux_requests_total"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "surface" && lp.GetValue() != "geminicli" && lp.GetValue() != "codex" {
				t.Errorf("request counted under surface %q (healthz, metrics and admin are not API surfaces)", lp.GetValue())
			}
		}
	}
}
