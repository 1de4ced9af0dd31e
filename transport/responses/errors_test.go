package responses

import (
	"net/http/httptest"
	"testing"
)

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
