package codex

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
)

// errorCase is one testdata/errors/*.json file: a real-shaped upstream error
// and what Classify and ClientError must make of it.
type errorCase struct {
	Status   int               `json:"status"`
	Header   map[string]string `json:"header"`
	Body     json.RawMessage   `json:"body"`
	BodyText string            `json:"body_text"`
	Want     struct {
		Kind    string `json:"kind"`
		Scope   string `json:"scope"`
		Reason  string `json:"reason"`
		RetryAt int64  `json:"retry_at"`
	} `json:"want"`
	Client json.RawMessage `json:"client"`
}

func TestClassifyErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no error cases in testdata/errors")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var tc errorCase
			if err := json.Unmarshal(raw, &tc); err != nil {
				t.Fatalf("decode %s: %v", file, err)
			}
			body := []byte(tc.BodyText)
			if len(tc.Body) > 0 {
				body = tc.Body
			}
			h := http.Header{}
			for k, v := range tc.Header {
				h.Set(k, v)
			}
			got := classify(tc.Status, h, body, testNow)
			if got.Kind.String() != tc.Want.Kind || got.Scope.String() != tc.Want.Scope || got.Reason != tc.Want.Reason || got.Status != tc.Status {
				t.Errorf("Classify = %s/%s/%q/%d, want %s/%s/%q/%d", got.Kind, got.Scope, got.Reason, got.Status,
					tc.Want.Kind, tc.Want.Scope, tc.Want.Reason, tc.Status)
			}
			var wantRetry time.Time
			if tc.Want.RetryAt != 0 {
				wantRetry = time.Unix(tc.Want.RetryAt, 0)
			}
			if !got.RetryAt.Equal(wantRetry) {
				t.Errorf("RetryAt = %v, want %v", got.RetryAt, wantRetry)
			}
			var wantClient APIError
			if err := json.Unmarshal(tc.Client, &wantClient); err != nil {
				t.Fatalf("decode client: %v", err)
			}
			if diff := cmp.Diff(wantClient, ClientError(body)); diff != "" {
				t.Errorf("ClientError (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClassifyNeverOK: no non-2xx answer is ever OK, whatever its body.
func TestClassifyNeverOK(t *testing.T) {
	bodies := []string{"", "{}", `{"error":{"code":"ok"}}`, `{"detail":"fine"}`, "null", `"x"`, "<html>"}
	for status := 100; status < 600; status++ {
		if status >= 200 && status <= 299 {
			continue
		}
		for _, b := range bodies {
			if got := classify(status, http.Header{}, []byte(b), testNow); got.Kind == providers.KindOK {
				t.Errorf("classify(%d, %q) = ok", status, b)
			}
		}
	}
	if got := classify(200, http.Header{}, nil, testNow); got.Kind != providers.KindOK {
		t.Errorf("classify(200) = %v, want ok", got.Kind)
	}
}

func TestRetryAfterDate(t *testing.T) {
	h := http.Header{"Retry-After": {testNow.Add(time.Minute).UTC().Format(http.TimeFormat)}}
	got := classify(429, h, []byte(`{"error":{"code":"rate_limit_exceeded"}}`), testNow)
	if want := testNow.Add(time.Minute); !got.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want %v", got.RetryAt, want)
	}
}

func TestReasonIsBounded(t *testing.T) {
	long := strings.Repeat("x", 500)
	got := classify(400, nil, []byte(`{"error":{"code":"`+long+`"}}`), testNow)
	if len(got.Reason) > maxReason {
		t.Errorf("reason has %d bytes, want at most %d", len(got.Reason), maxReason)
	}
}

// TestClassifyResetTimes covers issue 9's reset trap: relative resets win
// over absolute ones, absolute ones are moved by the clock offset the Date
// header shows, and a reset already past comes back as it is (the credential
// state machine answers it with a short backoff, never a long default).
func TestClassifyResetTimes(t *testing.T) {
	body := func(fields string) []byte {
		return []byte(`{"error":{"type":"usage_limit_reached","message":"limit"` + fields + `}}`)
	}
	date := func(t time.Time) http.Header { return http.Header{"Date": {t.UTC().Format(http.TimeFormat)}} }
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   time.Time
	}{
		{"resets_in_seconds preferred", nil, body(`,"resets_at":1700000100,"resets_in_seconds":7`), testNow.Add(7 * time.Second)},
		{"resets_at, clocks agree", date(testNow), body(`,"resets_at":1700000030`), time.Unix(1700000030, 0)},
		{"resets_at, local clock 3s ahead", date(testNow.Add(-3 * time.Second)), body(`,"resets_at":1700000030`), testNow.Add(33 * time.Second)},
		{"resets_at already past", date(testNow), body(`,"resets_at":1699999999`), time.Unix(1699999999, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(http.StatusTooManyRequests, tt.header, tt.body, testNow)
			if got.Kind != providers.KindQuotaExhausted || !got.RetryAt.Equal(tt.want) {
				t.Errorf("classify = %v at %v, want quota_exhausted at %v", got.Kind, got.RetryAt, tt.want)
			}
		})
	}
}
