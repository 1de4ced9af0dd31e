package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"
)

func TestHealthz(t *testing.T) {
	s, _ := newTestServer(t, func(context.Context) error { return errors.New("database: unreachable") })
	rec := do(t, s, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200 even when not ready", rec.Code)
	}
	assertJSON(t, rec.Body.Bytes(), `{"status":"ok"}`)
}

func TestReadyz(t *testing.T) {
	cases := []struct {
		name       string
		ready      func(context.Context) error
		wantStatus int
		want       string
	}{
		{"no check", nil, 200, `{"status":"ready"}`},
		{"ready", func(context.Context) error { return nil }, 200, `{"status":"ready"}`},
		{"not ready", func(context.Context) error { return errors.New("database: unreachable") }, 503,
			`{"status":"unavailable","reason":"database: unreachable"}`},
		{"check panics", func(context.Context) error { panic("nil actor system") }, 503,
			`{"status":"unavailable","reason":"readiness check panicked: nil actor system"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, tc.ready)
			rec := do(t, s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			assertJSON(t, rec.Body.Bytes(), tc.want)
		})
	}
}

func TestReadyzBoundsSlowCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		// A check that ignores its context.
		s, _ := newTestServer(t, func(context.Context) error { <-release; return nil })
		start := time.Now()
		rec := do(t, s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if elapsed := time.Since(start); elapsed != readyTimeout {
			t.Errorf("readyz answered after %v, want %v", elapsed, readyTimeout)
		}
		close(release)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503", rec.Code)
		}
		assertJSON(t, rec.Body.Bytes(), `{"status":"unavailable","reason":"readiness check gave no answer within 2s: context deadline exceeded"}`)
	})
}
