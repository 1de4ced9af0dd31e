package codex

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// RateLimits is the account's two usage windows as the backend reports them
// on every answer: primary (the short window, typically 5 h) and secondary
// (typically a week).
type RateLimits struct {
	Primary, Secondary Window
}

// Window is one usage window. A zero ResetAt means the backend did not say.
type Window struct {
	UsedPercent   float64
	WindowMinutes int
	ResetAt       time.Time
}

// ParseRateLimits reads the x-codex-{primary,secondary}-* headers:
// used-percent, window-minutes, and reset-after-seconds (relative, preferred:
// it does not depend on the two clocks agreeing) or reset-at (unix seconds on
// the backend's clock, corrected by the offset its Date header shows). It
// reports whether any of them was present and well formed.
func ParseRateLimits(h http.Header) (RateLimits, bool) {
	return parseRateLimitsAt(h, time.Now())
}

func parseRateLimitsAt(h http.Header, now time.Time) (RateLimits, bool) {
	p, okP := parseWindow(h, primaryHeaders, now)
	s, okS := parseWindow(h, secondaryHeaders, now)
	return RateLimits{Primary: p, Secondary: s}, okP || okS
}

// windowHeaders are the names of one window's headers, in the form
// Header.Get would canonicalize them to (so reading them allocates
// nothing).
type windowHeaders struct {
	usedPercent, windowMinutes, resetAfterSeconds, resetAt string
}

var (
	primaryHeaders = windowHeaders{"X-Codex-Primary-Used-Percent", "X-Codex-Primary-Window-Minutes",
		"X-Codex-Primary-Reset-After-Seconds", "X-Codex-Primary-Reset-At"}
	secondaryHeaders = windowHeaders{"X-Codex-Secondary-Used-Percent", "X-Codex-Secondary-Window-Minutes",
		"X-Codex-Secondary-Reset-After-Seconds", "X-Codex-Secondary-Reset-At"}
)

func parseWindow(h http.Header, names windowHeaders, now time.Time) (Window, bool) {
	var w Window
	ok := false
	if v, err := strconv.ParseFloat(strings.TrimSpace(h.Get(names.usedPercent)), 64); err == nil {
		w.UsedPercent, ok = v, true
	}
	if v, err := strconv.Atoi(strings.TrimSpace(h.Get(names.windowMinutes))); err == nil {
		w.WindowMinutes, ok = v, true
	}
	if v, err := strconv.ParseFloat(strings.TrimSpace(h.Get(names.resetAfterSeconds)), 64); err == nil && v >= 0 {
		w.ResetAt, ok = now.Add(time.Duration(v*float64(time.Second))), true
	} else if v, err := strconv.ParseInt(strings.TrimSpace(h.Get(names.resetAt)), 10, 64); err == nil && v > 0 {
		w.ResetAt, ok = providers.LocalResetTime(time.Unix(v, 0), h, now), true
	}
	return w, ok
}

// Windows returns the windows in the provider-neutral form the pool keeps.
func (r RateLimits) Windows() []providers.QuotaWindow {
	return []providers.QuotaWindow{
		{Name: "primary", UsedPercent: r.Primary.UsedPercent, WindowMinutes: r.Primary.WindowMinutes, ResetAt: r.Primary.ResetAt},
		{Name: "secondary", UsedPercent: r.Secondary.UsedPercent, WindowMinutes: r.Secondary.WindowMinutes, ResetAt: r.Secondary.ResetAt},
	}
}
