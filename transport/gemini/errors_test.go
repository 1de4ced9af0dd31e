package gemini

import (
	"net/http/httptest"
	"testing"
)

func TestStatusString(t *testing.T) {
	cases := []struct {
		code int
		want string
	}{
		{400, "INVALID_ARGUMENT"},
		{401, "UNAUTHENTICATED"},
		{403, "PERMISSION_DENIED"},
		{404, "NOT_FOUND"},
		{405, "INVALID_ARGUMENT"},
		{409, "ABORTED"},
		{413, "INVALID_ARGUMENT"},
		{429, "RESOURCE_EXHAUSTED"},
		{499, "CANCELLED"},
		{500, "INTERNAL"},
		{501, "UNIMPLEMENTED"},
		{502, "UNAVAILABLE"},
		{503, "UNAVAILABLE"},
		{504, "DEADLINE_EXCEEDED"},
		{507, "INTERNAL"},
	}
	for _, tc := range cases {
		if got := StatusString(tc.code); got != tc.want {
			t.Errorf("StatusString(%d) = %q, want %q", tc.code, got, tc.want)
		}
	}
}

func TestWriteError(t *testing.T) {
	cases := []struct {
		name       string
		code       int
		message    string
		retry      int
		wantBody   string
		wantHeader string
	}{
		{"plain", 401, "invalid API key", 0,
			`{"error":{"code":401,"message":"invalid API key","status":"UNAUTHENTICATED"}}`, ""},
		{"with retry", 429, "slow down", 7,
			`{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`, "7"},
		{"escapes", 400, `bad "json" <here>`, 0,
			`{"error":{"code":400,"message":"bad \"json\" \u003chere\u003e","status":"INVALID_ARGUMENT"}}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := WriteError(rec, tc.code, tc.message, tc.retry); err != nil {
				t.Fatalf("WriteError: %v", err)
			}
			if rec.Code != tc.code {
				t.Errorf("status = %d, want %d", rec.Code, tc.code)
			}
			if got := rec.Body.String(); got != tc.wantBody {
				t.Errorf("body = %s, want %s", got, tc.wantBody)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.wantHeader {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantHeader)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q, want JSON", got)
			}
		})
	}
}
