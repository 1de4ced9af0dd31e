package relay

import (
	"net/http"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// TestFailureStatus is the one map from a final upstream failure to the
// client's status, as rendered by kind and with the upstream's client
// errors passed through.
func TestFailureStatus(t *testing.T) {
	cases := []struct {
		kind           providers.Kind
		upstream       int
		want, wantPass int
	}{
		{providers.KindRateLimited, 429, 429, 429},
		{providers.KindQuotaExhausted, 429, 429, 429},
		{providers.KindOverloaded, 503, 503, 503},
		{providers.KindBadRequest, 400, 400, 400},
		{providers.KindBadRequest, 404, 404, 404},
		{providers.KindBadRequest, 413, 413, 413},
		{providers.KindBadRequest, 422, 400, 422},
		{providers.KindBadRequest, 0, 400, 400},
		{providers.KindModelUnsupported, 400, 404, 400},
		{providers.KindModelUnsupported, 0, 404, 400},
		{providers.KindTransient, 500, 502, 502},
		{providers.KindAuthExpired, 401, 502, 502},
		{providers.KindAuthRevoked, 401, 502, 502},
		{providers.KindBanned, 403, 502, 502},
		{providers.KindIneligible, 403, 502, 502},
	}
	for _, tc := range cases {
		o := providers.Outcome{Kind: tc.kind}
		if got := FailureKind(o, tc.upstream).Status(); got != tc.want {
			t.Errorf("FailureKind(%s, %d).Status() = %d, want %d", tc.kind, tc.upstream, got, tc.want)
		}
		if got := PassThroughStatus(o, tc.upstream); got != tc.wantPass {
			t.Errorf("PassThroughStatus(%s, %d) = %d, want %d", tc.kind, tc.upstream, got, tc.wantPass)
		}
	}
}

// TestRetryAfter: a stated reset is told as it is; an overload without one
// is told the pool's few seconds; anything else nothing.
func TestRetryAfter(t *testing.T) {
	if got := RetryAfter(providers.Outcome{Kind: providers.KindOverloaded}); got != overloadRetryAfter {
		t.Errorf("overload without reset: %v, want %v", got, overloadRetryAfter)
	}
	if got := RetryAfter(providers.Outcome{Kind: providers.KindTransient}); got != 0 {
		t.Errorf("transient: %v, want 0", got)
	}
	got := RetryAfter(providers.Outcome{Kind: providers.KindRateLimited, RetryAt: time.Now().Add(30 * time.Second)})
	if got <= 29*time.Second || got > 30*time.Second {
		t.Errorf("limit 30 s out: %v", got)
	}
	if secs := RetryAfterSecs(http.StatusTooManyRequests, 2900*time.Millisecond); secs != 2 {
		t.Errorf("429 Retry-After of 2.9 s = %d, want 2 (rounded down)", secs)
	}
	if secs := RetryAfterSecs(http.StatusServiceUnavailable, 2100*time.Millisecond); secs != 3 {
		t.Errorf("503 Retry-After of 2.1 s = %d, want 3 (rounded up)", secs)
	}
	if secs := RetryAfterSecs(http.StatusTooManyRequests, 0); secs != 1 {
		t.Errorf("429 Retry-After of 0 = %d, want 1", secs)
	}
}
