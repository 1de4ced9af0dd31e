package codex

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRateLimits(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   RateLimits
		wantOK bool
	}{
		{
			name: "absolute resets",
			header: map[string]string{
				"x-codex-primary-used-percent":     "42.5",
				"x-codex-primary-window-minutes":   "300",
				"x-codex-primary-reset-at":         "1700003600",
				"x-codex-secondary-used-percent":   "7",
				"x-codex-secondary-window-minutes": "10080",
				"x-codex-secondary-reset-at":       "1700600000",
			},
			want: RateLimits{
				Primary:   Window{UsedPercent: 42.5, WindowMinutes: 300, ResetAt: time.Unix(1700003600, 0)},
				Secondary: Window{UsedPercent: 7, WindowMinutes: 10080, ResetAt: time.Unix(1700600000, 0)},
			},
			wantOK: true,
		},
		{
			name: "relative resets",
			header: map[string]string{
				"x-codex-primary-used-percent":        "100",
				"x-codex-primary-reset-after-seconds": "90",
			},
			want:   RateLimits{Primary: Window{UsedPercent: 100, ResetAt: testNow.Add(90 * time.Second)}},
			wantOK: true,
		},
		{
			// Issue 9: a relative reset does not depend on the clocks agreeing.
			name: "reset-after wins over reset-at",
			header: map[string]string{
				"x-codex-secondary-reset-at":            "1700000100",
				"x-codex-secondary-reset-after-seconds": "5",
			},
			want:   RateLimits{Secondary: Window{ResetAt: testNow.Add(5 * time.Second)}},
			wantOK: true,
		},
		{
			// Issue 9: the local clock runs 4 s ahead of the backend's; the
			// absolute reset moves 4 s later so the cooldown cannot end early.
			name: "reset-at corrected by the Date header",
			header: map[string]string{
				"Date":                         testNow.Add(-4 * time.Second).UTC().Format(http.TimeFormat),
				"x-codex-primary-reset-at":     "1700000100",
				"x-codex-primary-used-percent": "100",
			},
			want: RateLimits{Primary: Window{UsedPercent: 100,
				ResetAt: testNow.Add(time.Unix(1700000100, 0).Sub(testNow.Add(-4 * time.Second)))}},
			wantOK: true,
		},
		{
			name:   "junk ignored",
			header: map[string]string{"x-codex-primary-used-percent": "lots", "x-codex-primary-window-minutes": "5h"},
			wantOK: false,
		},
		{name: "none", header: map[string]string{"Content-Type": "text/event-stream"}, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			got, ok := parseRateLimitsAt(h, testNow)
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("limits (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWindowHeaderNamesAreCanonical: the names parseWindow reads are the
// ones net/http stores, so a lookup needs no canonicalization.
func TestWindowHeaderNamesAreCanonical(t *testing.T) {
	for _, w := range []windowHeaders{primaryHeaders, secondaryHeaders} {
		for _, name := range []string{w.usedPercent, w.windowMinutes, w.resetAfterSeconds, w.resetAt} {
			if c := http.CanonicalHeaderKey(name); c != name {
				t.Errorf("%q is stored as %q", name, c)
			}
		}
	}
}
