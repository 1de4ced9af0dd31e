package geminicli

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
)

var testNow = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// readErrorSample returns a testdata/errors body and the status its file
// name starts with.
func readErrorSample(t *testing.T, name string) (int, []byte) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "errors", name))
	if err != nil {
		t.Fatal(err)
	}
	status, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
	if err != nil {
		t.Fatalf("file %s: name must start with the status: %v", name, err)
	}
	return status, body
}

func TestClassifySamples(t *testing.T) {
	at := func(d time.Duration) time.Time { return testNow.Add(d) }
	tests := []struct {
		file string
		want providers.Outcome // Status is filled from the file name
	}{
		{"429_rate_limit_retryinfo.json", providers.Outcome{Kind: providers.KindRateLimited, Scope: providers.ScopeModel, RetryAt: at(54 * time.Second), Reason: "RATE_LIMIT_EXCEEDED"}},
		{"429_quota_reset_delay.json", providers.Outcome{Kind: providers.KindRateLimited, Scope: providers.ScopeModel, RetryAt: at(1500 * time.Millisecond), Reason: "RATE_LIMIT_EXCEEDED"}},
		{"429_quota_exhausted_timestamp.json", providers.Outcome{Kind: providers.KindQuotaExhausted, Scope: providers.ScopeModel, RetryAt: time.Date(2026, 7, 2, 7, 0, 0, 0, time.UTC), Reason: "QUOTA_EXHAUSTED"}},
		{"429_daily_quota_failure.json", providers.Outcome{Kind: providers.KindQuotaExhausted, Scope: providers.ScopeModel, RetryAt: at(time.Hour), Reason: "RESOURCE_EXHAUSTED"}},
		{"429_model_capacity.json", providers.Outcome{Kind: providers.KindOverloaded, Scope: providers.ScopeModel, RetryAt: at(5 * time.Second), Reason: "MODEL_CAPACITY_EXHAUSTED"}},
		{"429_no_details.json", providers.Outcome{Kind: providers.KindRateLimited, Scope: providers.ScopeModel, Reason: "RESOURCE_EXHAUSTED"}},
		{"429_please_retry.json", providers.Outcome{Kind: providers.KindRateLimited, Scope: providers.ScopeModel, RetryAt: at(23500 * time.Millisecond), Reason: "RESOURCE_EXHAUSTED"}},
		{"429_array_wrapped.json", providers.Outcome{Kind: providers.KindRateLimited, Scope: providers.ScopeModel, RetryAt: at(847655010 * time.Nanosecond), Reason: "RESOURCE_EXHAUSTED"}},
		{"401_unauthenticated.json", providers.Outcome{Kind: providers.KindAuthExpired, Scope: providers.ScopeCredential, Reason: "ACCESS_TOKEN_EXPIRED"}},
		{"403_subscription_required.json", providers.Outcome{Kind: providers.KindIneligible, Scope: providers.ScopeCredential, Reason: "SUBSCRIPTION_REQUIRED"}},
		{"403_terms_of_service.json", providers.Outcome{Kind: providers.KindBanned, Scope: providers.ScopeCredential, Reason: "TERMS_OF_SERVICE"}},
		{"403_validation_required.json", providers.Outcome{Kind: providers.KindAuthRevoked, Scope: providers.ScopeCredential, Reason: "VALIDATION_REQUIRED",
			URL: "https://accounts.google.com/signin/continue?service=cloudcode&validation=abc123"}},
		{"403_permission_denied.json", providers.Outcome{Kind: providers.KindBadRequest, Scope: providers.ScopeModel, Reason: "CONSUMER_INVALID"}},
		{"404_not_found.json", providers.Outcome{Kind: providers.KindModelUnsupported, Scope: providers.ScopeModel, Reason: "NOT_FOUND"}},
		{"400_invalid_argument.json", providers.Outcome{Kind: providers.KindBadRequest, Scope: providers.ScopeModel, Reason: "INVALID_ARGUMENT"}},
		{"500_internal.json", providers.Outcome{Kind: providers.KindTransient, Scope: providers.ScopeModel, Reason: "INTERNAL"}},
		{"503_unavailable.json", providers.Outcome{Kind: providers.KindTransient, Scope: providers.ScopeModel, Reason: "UNAVAILABLE"}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			status, body := readErrorSample(t, tt.file)
			want := tt.want
			want.Status = status
			got := classify(testNow, status, http.Header{}, body)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("classify (-want +got):\n%s", diff)
			}
		})
	}
	// Every sample must be in the table, so a new file cannot go untested.
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("testdata/errors/%s has no case in TestClassifySamples", filepath.Base(f))
		}
	}
}

func TestClassifyRetryAfterHeader(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   time.Time
	}{
		{"seconds", "30", testNow.Add(30 * time.Second)},
		{"http date", "Wed, 01 Jul 2026 12:05:00 GMT", testNow.Add(5 * time.Minute)},
		{"garbage", "soon", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(testNow, http.StatusTooManyRequests, http.Header{"Retry-After": {tt.header}}, nil)
			if got.Kind != providers.KindRateLimited || !got.RetryAt.Equal(tt.want) {
				t.Errorf("got %s RetryAt %v, want rate_limited RetryAt %v", got.Kind, got.RetryAt, tt.want)
			}
		})
	}
}

// TestClassifyNeverOK checks every non-2xx status, with bodies good and bad,
// against the contract: never KindOK, and a Reason that is a short code.
func TestClassifyNeverOK(t *testing.T) {
	bodies := map[string][]byte{
		"empty":   nil,
		"garbage": []byte("<html>502 Bad Gateway</html>"),
		"message": []byte(`{"error":{"code":500,"message":"secret ya29.leak in message","status":"has spaces and ya29.leak"}}`),
	}
	for status := 100; status < 600; status++ {
		if status >= 200 && status < 300 {
			continue
		}
		for name, body := range bodies {
			got := classify(testNow, status, http.Header{}, body)
			if got.Kind == providers.KindOK {
				t.Errorf("status %d, %s body: KindOK", status, name)
			}
			if strings.Contains(got.Reason, "ya29") || strings.Contains(got.Reason, " ") {
				t.Errorf("status %d, %s body: Reason %q leaks the body", status, name, got.Reason)
			}
		}
	}
	if got := classify(testNow, 200, nil, nil); got.Kind != providers.KindOK {
		t.Errorf("status 200: got %s, want ok", got.Kind)
	}
}

func TestValidationURL(t *testing.T) {
	_, body := readErrorSample(t, "403_validation_required.json")
	want := "https://accounts.google.com/signin/continue?service=cloudcode&validation=abc123"
	if got := ValidationURL(body); got != want {
		t.Errorf("ValidationURL = %q, want %q", got, want)
	}
	if got := ValidationURL([]byte(`{"error":{"code":403}}`)); got != "" {
		t.Errorf("ValidationURL without link = %q, want empty", got)
	}
}

// TestClassifyResetSkew: an absolute quotaResetTimeStamp is moved by the
// clock offset the answer's Date header shows, so a local clock running
// ahead of Google's cannot end the cooldown before the quota resets (issue
// 9).
func TestClassifyResetSkew(t *testing.T) {
	status, body := readErrorSample(t, "429_quota_exhausted_timestamp.json")
	reset := time.Date(2026, 7, 2, 7, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		date time.Time
		want time.Time
	}{
		{"clocks agree", testNow, reset},
		{"local clock 6s ahead", testNow.Add(-6 * time.Second), reset.Add(6 * time.Second)},
		{"local clock 6s behind", testNow.Add(6 * time.Second), reset.Add(-6 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Date": {tt.date.Format(http.TimeFormat)}}
			if got := classify(testNow, status, h, body); !got.RetryAt.Equal(tt.want) {
				t.Errorf("RetryAt = %v, want %v", got.RetryAt, tt.want)
			}
		})
	}
}
