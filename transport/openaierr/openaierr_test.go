package openaierr

import (
	"net/http/httptest"
	"testing"
)

func TestTypeAndCode(t *testing.T) {
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
		if got := Type(tc.status); got != tc.wantType {
			t.Errorf("Type(%d) = %q, want %q", tc.status, got, tc.wantType)
		}
		if got := Code(tc.status); got != tc.wantCode {
			t.Errorf("Code(%d) = %q, want %q", tc.status, got, tc.wantCode)
		}
	}
}

func TestNewAndWrite(t *testing.T) {
	cases := []struct {
		name               string
		status             int
		message, code, par string
		retryAfter         int
		wantBody           string
		wantRetryAfter     string
	}{
		{"defaults", 404, "", "", "", 0,
			`{"error":{"message":"not found","type":"not_found_error","code":null,"param":null}}`, ""},
		{"field", 400, "messages: required", "invalid_request", "messages", 0,
			`{"error":{"message":"messages: required","type":"invalid_request_error","code":"invalid_request","param":"messages"}}`, ""},
		{"limit", 429, "slow down", "rate_limit_exceeded", "", 7,
			`{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded","param":null}}`, "7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := Write(rec, tc.status, Encode(New(tc.status, tc.message, tc.code, tc.par)), tc.retryAfter); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || rec.Body.String() != tc.wantBody {
				t.Errorf("got %d %s, want %d %s", rec.Code, rec.Body.String(), tc.status, tc.wantBody)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetryAfter)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
		})
	}
}
