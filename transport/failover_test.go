package transport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// faultUsageLimitIn is a usage-limit 429 whose window resets in secs.
func faultUsageLimitIn(secs int64) codexfake.Reply {
	return codexfake.Reply{Status: http.StatusTooManyRequests, Body: fmt.Sprintf(
		`{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"pro","resets_at":%d,"resets_in_seconds":%d}}`,
		time.Now().Unix()+secs, secs)}
}

// TestFailoverBeyondThirtyTwoCredentials: a request moves on through every
// credential it has not tried, however many there are. Issue 9 saw requests
// give up after 32 failovers (a constant) while 41 accounts had quota.
func TestFailoverBeyondThirtyTwoCredentials(t *testing.T) {
	const n = 40
	h := newHarness(t, harnessOptions{})
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("c-%02d", i)
	}
	h.addCodex(tokens...)
	for i := 0; i < n-1; i++ {
		h.cfake.Push(codexfake.Responses, faultUsageLimitIn(3600))
	}
	resp, body := faultCodexSend(t, h, faultCodexModel)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (%s), want 200 from the one account with quota left", resp.StatusCode, body)
	}
	if got := len(faultCodexCalls(h)); got != n {
		t.Errorf("upstream calls = %d, want %d: each account once", got, n)
	}
}

// TestRetryAfterIsThePoolsEarliestReset: when every account is spent the
// client is told the earliest reset of the pool, not the last account's.
func TestRetryAfterIsThePoolsEarliestReset(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("c-a", "c-b", "c-c")
	h.cfake.Push(codexfake.Responses, faultUsageLimitIn(900), faultUsageLimitIn(120), faultUsageLimitIn(3000))
	resp, body := faultCodexSend(t, h, faultCodexModel)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d (%s), want 429", resp.StatusCode, body)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 119 || ra > 121 {
		t.Errorf("Retry-After = %q, want 120 (the earliest reset, +1 s at most)", resp.Header.Get("Retry-After"))
	}
	var e struct {
		Error struct {
			ResetsInSeconds *int64 `json:"resets_in_seconds"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.ResetsInSeconds == nil || *e.Error.ResetsInSeconds > 121 {
		t.Errorf("body %s: resets_in_seconds should tell the pool's earliest reset", body)
	}
}

// TestSpentPoolParksUntilTheReset: when every account answered 429 and the
// earliest reset falls inside the queue timeout, the request waits for it
// and is served there, by the account that reset first, instead of failing.
func TestSpentPoolParksUntilTheReset(t *testing.T) {
	h := newHarness(t, harnessOptions{queueSecs: 5})
	h.addCodex("c-a", "c-b")
	h.cfake.Push(codexfake.Responses, faultUsageLimitIn(3600), faultUsageLimitIn(1))
	start := time.Now()
	resp, body := faultCodexSend(t, h, faultCodexModel)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (%s), want 200 once the first account resets", resp.StatusCode, body)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("served after %s, before the reset (1 s)", took)
	}
	if got := len(faultCodexCalls(h)); got != 3 {
		t.Errorf("upstream calls = %d, want 3 (two 429s, then the reset account)", got)
	}
}

// TestAccessLogPickReason: at debug level the access log says why the
// scheduler chose the credential; at info level it does not.
func TestAccessLogPickReason(t *testing.T) {
	for _, tc := range []struct {
		level zapcore.Level
		want  string
	}{{zapcore.DebugLevel, actors.PickUnknown}, {zapcore.InfoLevel, ""}} {
		t.Run(tc.level.String(), func(t *testing.T) {
			e := newAdminEnv(t, adminEnvOptions{level: tc.level})
			e.addGemini("pick-a", "pick-b")
			e.logs.TakeAll()
			e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusOK)
			lines := e.logs.FilterMessage("request").All()
			if len(lines) != 1 {
				t.Fatalf("%d access log lines, want 1", len(lines))
			}
			if got, _ := lines[0].ContextMap()["pick"].(string); got != tc.want {
				t.Errorf("pick = %q, want %q", got, tc.want)
			}
		})
	}
}
