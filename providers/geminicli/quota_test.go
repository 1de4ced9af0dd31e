package geminicli

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

func TestParseQuota(t *testing.T) {
	body := `{"buckets":[
		{"modelId":"gemini-2.5-pro","tokenType":"REQUESTS","remainingFraction":0.25,"resetTime":"2026-07-01T12:10:00Z"},
		{"modelId":"gemini-2.5-pro","tokenType":"INPUT_TOKENS","remainingFraction":0.5,"resetTime":"2026-07-01T12:20:00Z"},
		{"modelId":"gemini-2.5-flash","tokenType":"REQUESTS","remainingFraction":0,"resetTime":"2026-07-01T12:05:00Z"},
		{"modelId":"gemini-2.5-flash-lite","tokenType":"REQUESTS"}
	]}`
	tests := []struct {
		name   string
		header http.Header
		want   []providers.QuotaBucket
	}{
		{"clocks agree", nil, []providers.QuotaBucket{
			{Model: "gemini-2.5-pro", Remaining: 0.25, ResetAt: testNow.Add(10 * time.Minute)},
			{Model: "gemini-2.5-flash", Remaining: 0, ResetAt: testNow.Add(5 * time.Minute)},
		}},
		{"local clock 4s ahead", http.Header{"Date": {testNow.Add(-4 * time.Second).Format(http.TimeFormat)}}, []providers.QuotaBucket{
			{Model: "gemini-2.5-pro", Remaining: 0.25, ResetAt: testNow.Add(10*time.Minute + 4*time.Second)},
			{Model: "gemini-2.5-flash", Remaining: 0, ResetAt: testNow.Add(5*time.Minute + 4*time.Second)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseQuota([]byte(body), tt.header, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("buckets (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := parseQuota([]byte(`not json`), nil, testNow); err == nil {
		t.Error("junk body: no error")
	}
}

// TestReadQuotaAgainstFake: the RPC's path, body and answer over real HTTP;
// a failing RPC comes back as an error (the pool keeps serving).
func TestReadQuotaAgainstFake(t *testing.T) {
	env := newEnv(t)
	g := env.grant(t, "1//quota-refresh", "proj-q")
	env.fake.SetQuotaBuckets("1//quota-refresh", []fakeupstream.QuotaBucket{
		{ModelID: "gemini-2.5-pro", RemainingFraction: 0.4, ResetTime: testNow.Add(time.Hour)},
	})
	got, err := env.c.ReadQuota(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	want := []providers.QuotaBucket{{Model: "gemini-2.5-pro", Remaining: 0.4, ResetAt: testNow.Add(time.Hour)}}
	// The fake's Date header is its real clock; the test clock is fixed in
	// the past, so allow for the skew correction by comparing the
	// remaining fraction and the model only when the clocks differ.
	if len(got) != 1 || got[0].Model != want[0].Model || got[0].Remaining != want[0].Remaining {
		t.Fatalf("ReadQuota = %+v, want %+v", got, want)
	}
	var body struct {
		Project string `json:"project"`
	}
	reqs := env.fake.Requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/v1internal:retrieveUserQuota" || json.Unmarshal(last.Body, &body) != nil || body.Project != "proj-q" {
		t.Fatalf("request %s %s, want retrieveUserQuota for proj-q", last.Path, last.Body)
	}
	env.fake.FailQuota(&fakeupstream.Response{Status: http.StatusServiceUnavailable, Body: `{"error":{"code":503,"message":"down","status":"UNAVAILABLE"}}`})
	if _, err := env.c.ReadQuota(t.Context(), g); err == nil {
		t.Fatal("failing RPC: no error")
	}
}
