package responses

import (
	"net/http/httptest"
	"testing"
)

func TestErrorTypeAndCode(t *testing.T) {
	cases := []struct {
		status   int
		wantType string
		wantCode string
	}{
		{400, "invalid_request_error", "invalid_request"},
		{401, "authentication_error", "invalid_api_key"},
		{403, "permission_error", "permission_denied"},
		{404, "not_found_error", "not_found"},
		{405, "invalid_request_error", "method_not_allowed"},
		{413, "invalid_request_error", "request_too_large"},
		{422, "invalid_request_error", "invalid_request"},
		{429, "rate_limit_error", "rate_limit_exceeded"},
		{499, "invalid_request_error", "client_closed_request"},
		{500, "server_error", "internal_error"},
		{502, "server_error", "upstream_error"},
		{503, "server_error", "service_unavailable"},
		{504, "server_error", "timeout"},
	}
	for _, tc := range cases {
		if got := ErrorType(tc.status); got != tc.wantType {
			t.Errorf("ErrorType(%d) = %q, want %q", tc.status, got, tc.wantType)
		}
		if got := ErrorCode(tc.status); got != tc.wantCode {
			t.Errorf("ErrorCode(%d) = %q, want %q", tc.status, got, tc.wantCode)
		}
	}
}

func TestWriteError(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		retry      int
		wantBody   string
		wantHeader string
	}{
		{"unauthenticated", 401, 0,
			`{"error":{"message":"m","type":"authentication_error","code":"invalid_api_key","param":null}}`, ""},
		{"rate limited", 429, 3,
			`{"error":{"message":"m","type":"rate_limit_error","code":"rate_limit_exceeded","param":null}}`, "3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := WriteError(rec, tc.status, "m", tc.retry); err != nil {
				t.Fatalf("WriteError: %v", err)
			}
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			if got := rec.Body.String(); got != tc.wantBody {
				t.Errorf("body = %s, want %s", got, tc.wantBody)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.wantHeader {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantHeader)
			}
		})
	}
}
