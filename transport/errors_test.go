package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func TestErrorKindStatus(t *testing.T) {
	cases := []struct {
		kind ErrorKind
		want int
	}{
		{KindInternal, 500},
		{KindInvalidArgument, 400},
		{KindUnauthenticated, 401},
		{KindPermissionDenied, 403},
		{KindNotFound, 404},
		{KindTooLarge, 413},
		{KindRateLimited, 429},
		{KindCanceled, 499},
		{KindUpstream, 502},
		{KindUnavailable, 503},
		{KindTimeout, 504},
		{ErrorKind(200), 500},
	}
	for _, tc := range cases {
		t.Run(tc.kind.String(), func(t *testing.T) {
			if got := tc.kind.Status(); got != tc.want {
				t.Errorf("%v.Status() = %d, want %d", tc.kind, got, tc.want)
			}
		})
	}
}

func TestProblemOf(t *testing.T) {
	cause := errors.New("upstream said: token ya29.secret")
	cases := []struct {
		name string
		err  error
		want problem
	}{
		{"typed", &Error{Kind: KindNotFound, Message: "no such model"}, problem{404, "no such model", 0}},
		{"typed without message", &Error{Kind: KindUnavailable}, problem{503, "service unavailable", 0}},
		{"typed keeps cause out", &Error{Kind: KindUpstream, Message: "upstream failed", Err: cause}, problem{502, "upstream failed", 0}},
		{"wrapped typed", fmt.Errorf("relay: %w", &Error{Kind: KindRateLimited, RetryAfter: time.Second}), problem{429, "rate limited", time.Second}},
		{"max bytes", fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 10}), problem{413, "request body is larger than 10 bytes", 0}},
		{"canceled", fmt.Errorf("acquire: %w", context.Canceled), problem{499, "client closed request", 0}},
		{"deadline", fmt.Errorf("acquire: %w", context.DeadlineExceeded), problem{504, "timeout", 0}},
		{"echo not found", echo.ErrNotFound, problem{404, "not found", 0}},
		{"echo method not allowed", echo.ErrMethodNotAllowed, problem{405, "method not allowed", 0}},
		{"echo custom message", echo.NewHTTPError(400, "pageSize must be a non-negative integer"), problem{400, "pageSize must be a non-negative integer", 0}},
		{"echo wrapping max bytes", echo.NewHTTPError(400, "bad body").WithInternal(&http.MaxBytesError{Limit: 5}), problem{413, "request body is larger than 5 bytes", 0}},
		{"unknown error hides its text", cause, problem{500, "internal error", 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemOf(tc.err); got != tc.want {
				t.Errorf("problemOf(%v) = %+v, want %+v", tc.err, got, tc.want)
			}
		})
	}
}

func TestRetryAfterSecs(t *testing.T) {
	cases := []struct {
		name   string
		status int
		d      time.Duration
		want   int
	}{
		{"429 unknown delay", 429, 0, 1},
		{"429 sub-second is one second", 429, 300 * time.Millisecond, 1},
		{"429 rounds down (the reset is often rounded up already)", 429, 1500 * time.Millisecond, 1},
		{"429 just under a whole second", 429, 2999 * time.Millisecond, 2},
		{"429 whole seconds", 429, 54 * time.Second, 54},
		{"429 negative", 429, -time.Second, 1},
		{"503 unknown delay", 503, 0, 0},
		{"503 known delay", 503, 2100 * time.Millisecond, 3},
		{"503 negative", 503, -time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryAfterSecs(tc.status, tc.d); got != tc.want {
				t.Errorf("retryAfterSecs(%d, %v) = %d, want %d", tc.status, tc.d, got, tc.want)
			}
		})
	}
}

func TestRateLimitedCarriesRetryAfter(t *testing.T) {
	s, _ := newTestServer(t, nil)
	limited := func(c echo.Context) error {
		return &Error{Kind: KindRateLimited, Message: "all credentials are cooling", RetryAfter: 2500 * time.Millisecond}
	}
	for _, p := range []string{"/geminicli/v1beta/__limited", "/codex/v1/__limited", "/__limited"} {
		s.Echo().GET(p, limited)
	}
	cases := []struct {
		name string
		path string
		want string
	}{
		{"gemini", "/geminicli/v1beta/__limited", `{"error":{"code":429,"message":"all credentials are cooling","status":"RESOURCE_EXHAUSTED",
			"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}}`},
		{"openai", "/codex/v1/__limited", `{"error":{"message":"all credentials are cooling","type":"rate_limit_error","code":"rate_limit_exceeded","param":null}}`},
		{"plain", "/__limited", `{"error":{"status":429,"message":"all credentials are cooling"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, s, withKey(tc.path))
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("status = %d, want 429", rec.Code)
			}
			if got := rec.Header().Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After = %q, want \"2\"", got)
			}
			assertJSON(t, rec.Body.Bytes(), tc.want)
		})
	}
}

func TestUnknownRoutes(t *testing.T) {
	s, _ := newTestServer(t, nil)
	cases := []struct {
		name       string
		req        *http.Request
		wantStatus int
		want       string
	}{
		{"gemini", withKey("/geminicli/v1beta/nope"), 404,
			`{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`},
		{"gemini v1", withKey("/geminicli/v1/nope/deeper"), 404,
			`{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`},
		{"gemini unknown version", withKey("/geminicli/v2/models"), 404,
			`{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`},
		{"openai", withKey("/codex/v1/nope"), 404,
			`{"error":{"message":"not found","type":"not_found_error","code":"not_found","param":null}}`},
		{"plain", httptest.NewRequest(http.MethodGet, "/nope", nil), 404,
			`{"error":{"status":404,"message":"not found"}}`},
		{"unknown gemini route without key is 401", httptest.NewRequest(http.MethodGet, "/geminicli/v1beta/nope", nil), 401,
			`{"error":{"code":401,"message":"` + missingKeyMessage + `","status":"UNAUTHENTICATED"}}`},
		{"gemini wrong method", func() *http.Request {
			r := withKey("/geminicli/v1beta/models")
			r.Method = http.MethodDelete
			return r
		}(), 405, `{"error":{"code":405,"message":"method not allowed","status":"INVALID_ARGUMENT"}}`},
		{"openai wrong method", func() *http.Request {
			r := withKey("/codex/v1/models")
			r.Method = http.MethodDelete
			return r
		}(), 405, `{"error":{"message":"method not allowed","type":"invalid_request_error","code":"method_not_allowed","param":null}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, s, tc.req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			assertJSON(t, rec.Body.Bytes(), tc.want)
		})
	}
}

func TestInternalErrorLogsCauseNotToClient(t *testing.T) {
	s, logs := newTestServer(t, nil)
	s.Echo().GET("/codex/v1/__fail", func(echo.Context) error {
		return fmt.Errorf("storage: %w", errors.New("disk on fire"))
	})
	rec := do(t, s, withKey("/codex/v1/__fail"))
	assertJSON(t, rec.Body.Bytes(), `{"error":{"message":"internal error","type":"server_error","code":"internal_error","param":null}}`)
	failed := logs.FilterMessage("request failed").All()
	if len(failed) != 1 || failed[0].ContextMap()["error"] != "storage: disk on fire" {
		t.Errorf("request failed log = %v, want one line with the cause", failed)
	}
}
