package quotasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var epoch = time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)

func TestWindowsResetPerAccountAndModel(t *testing.T) {
	s := New(Gemini, Config{Window: 10 * time.Second, Quota: 2, Models: []string{"a", "b"}}, []string{"p0", "p1"}, epoch, nil)
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	// p1's windows are offset by half a window.
	steps := []struct {
		id, model string
		t         time.Duration
		wantOK    bool
		wantReset time.Duration
	}{
		{"p0", "a", 0, true, 10 * time.Second},
		{"p0", "a", time.Second, true, 10 * time.Second},
		{"p0", "a", 2 * time.Second, false, 10 * time.Second},
		{"p0", "b", 2 * time.Second, true, 10 * time.Second}, // per model
		{"p1", "a", 2 * time.Second, true, 5 * time.Second},  // its window ends at +5s
		{"p0", "a", 10 * time.Second, true, 20 * time.Second},
	}
	for i, st := range steps {
		ok, _, reset, known := s.take(st.id, st.model, at(st.t))
		if !known || ok != st.wantOK || !reset.Equal(at(st.wantReset)) {
			t.Fatalf("step %d: ok=%v reset=%v, want %v %v", i, ok, reset, st.wantOK, at(st.wantReset))
		}
	}
	if got := s.Stats(); got.Calls != 6 || got.Limited != 1 {
		t.Errorf("stats = %+v, want 6 calls, 1 limited", got)
	}
	// p0 spent "a" in [10s,20s) after one more; p1's window [5s,15s) has 0 used.
	s.take("p0", "a", at(11*time.Second))
	if !s.Available("a", at(12*time.Second)) {
		t.Error("p1 has quota for a at 12s")
	}
	s.take("p1", "a", at(12*time.Second))
	s.take("p1", "a", at(12*time.Second))
	if s.Available("a", at(13*time.Second)) {
		t.Error("no account has quota for a at 13s")
	}
	if got, want := s.NextAvailable("a", at(13*time.Second)), at(15*time.Second); !got.Equal(want) {
		t.Errorf("NextAvailable = %v, want %v (p1's reset)", got, want)
	}
}

func TestCodexAnswers(t *testing.T) {
	now := epoch
	s := New(Codex, Config{Window: 30 * time.Second, Quota: 1}, []string{"acct-0"}, epoch, func() time.Time { return now })
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-codex-primary-used-percent", "12.5") // the fake's fixed value
		w.WriteHeader(http.StatusOK)
	})
	h := s.Handler(ok)
	do := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"model":"m"}`))
		req.Header.Set("chatgpt-account-id", "acct-0")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	first := do("/backend-api/codex/responses")
	if first.Code != http.StatusOK || first.Header().Get("x-codex-primary-used-percent") != "100" ||
		first.Header().Get("x-codex-primary-reset-after-seconds") != "30" {
		t.Fatalf("first: %d %v", first.Code, first.Header())
	}
	now = epoch.Add(2500 * time.Millisecond)
	second := do("/backend-api/codex/responses")
	var body struct {
		Error struct {
			Type            string `json:"type"`
			ResetsInSeconds int64  `json:"resets_in_seconds"`
		} `json:"error"`
	}
	if second.Code != http.StatusTooManyRequests || json.Unmarshal(second.Body.Bytes(), &body) != nil ||
		body.Error.Type != "usage_limit_reached" || body.Error.ResetsInSeconds != 28 {
		t.Fatalf("second: %d %s, want 429 usage_limit_reached resetting in 28 s (27.5 rounded up)", second.Code, second.Body)
	}
	usage := do("/backend-api/wham/usage")
	if !strings.Contains(usage.Body.String(), `"limit_reached":true`) {
		t.Errorf("usage: %s", usage.Body)
	}
}

func TestUnused(t *testing.T) {
	s := New(Gemini, Config{Window: 10 * time.Second, Quota: 2, Models: []string{"a", "b"}}, []string{"p0"}, epoch, nil)
	s.take("p0", "a", epoch.Add(time.Second))
	s.take("p0", "b", epoch.Add(12*time.Second))
	s.take("p0", "b", epoch.Add(13*time.Second))
	// Windows [0,10) and [10,20) lie inside; [20,30) does not. Left: a 1 and
	// b 2 in the first, a 2 and b 0 in the second.
	if got, want := s.Unused(epoch, epoch.Add(25*time.Second)), 1+2+2+0; got != want {
		t.Fatalf("Unused = %d, want %d", got, want)
	}
}

func TestLastReset(t *testing.T) {
	s := New(Codex, Config{Window: 10 * time.Second, Quota: 2}, []string{"a0", "a1"}, epoch, nil)
	for _, tc := range []struct {
		id   string
		at   time.Duration
		want time.Duration
	}{
		{"a0", 3 * time.Second, 0},
		{"a0", 12 * time.Second, 10 * time.Second},
		{"a1", 3 * time.Second, -5 * time.Second}, // offset half a window
		{"a1", 5 * time.Second, 5 * time.Second},
	} {
		got, ok := s.LastReset(tc.id, "m", epoch.Add(tc.at))
		if !ok || !got.Equal(epoch.Add(tc.want)) {
			t.Errorf("LastReset(%s, %v) = %v, %v; want %v", tc.id, tc.at, got.Sub(epoch), ok, tc.want)
		}
	}
	if _, ok := s.LastReset("nobody", "m", epoch); ok {
		t.Error("an unknown account has a reset")
	}
}
