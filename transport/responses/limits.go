package responses

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
)

// withPoolReset moves the usage-limit reset an upstream body states (one
// account's) to the pool's earliest reset when that comes more than a second
// sooner, so the Codex CLI waits for the pool, not for the last account
// tried.
func withPoolReset(e codex.APIError, o providers.Outcome, now time.Time) codex.APIError {
	if o.RetryAt.IsZero() || (e.ResetsAt == nil && e.ResetsInSeconds == nil) {
		return e
	}
	var stated time.Time
	switch {
	case e.ResetsInSeconds != nil:
		stated = now.Add(time.Duration(*e.ResetsInSeconds) * time.Second)
	case e.ResetsAt != nil:
		stated = time.Unix(*e.ResetsAt, 0)
	}
	if stated.Sub(o.RetryAt) <= time.Second {
		return e
	}
	secs := max(0, int64((o.RetryAt.Sub(now)+time.Second-1)/time.Second))
	at := now.Unix() + secs
	if e.ResetsInSeconds != nil {
		e.ResetsInSeconds = &secs
	}
	if e.ResetsAt != nil {
		e.ResetsAt = &at
	}
	return e
}

// observeRateLimits is the one place the surface reads an account's usage
// windows (the x-codex-primary-* and x-codex-secondary-* headers of every
// 2xx answer); the reply hands them to the credential.
func (h *handler) observeRateLimits(reqID string, credentialID int64, hdr http.Header) []providers.QuotaWindow {
	rl, ok := codex.ParseRateLimits(hdr)
	if !ok {
		return nil
	}
	if ce := h.log.Check(zap.DebugLevel, "codex: usage windows"); ce != nil {
		ce.Write(zap.String("request_id", reqID), zap.Int64("credential_id", credentialID),
			zap.Float64("primary_used_percent", rl.Primary.UsedPercent),
			zap.Int("primary_window_minutes", rl.Primary.WindowMinutes),
			zap.Time("primary_reset_at", rl.Primary.ResetAt),
			zap.Float64("secondary_used_percent", rl.Secondary.UsedPercent),
			zap.Int("secondary_window_minutes", rl.Secondary.WindowMinutes),
			zap.Time("secondary_reset_at", rl.Secondary.ResetAt))
	}
	return rl.Windows()
}

// logUsage notes the token accounting of a finished response.
func (h *handler) logUsage(reqID string, u *codex.Usage) {
	if u == nil {
		return
	}
	if ce := h.log.Check(zap.DebugLevel, "codex: usage"); ce != nil {
		ce.Write(zap.String("request_id", reqID),
			zap.Int64("input_tokens", u.InputTokens), zap.Int64("cached_tokens", u.CachedTokens),
			zap.Int64("output_tokens", u.OutputTokens), zap.Int64("reasoning_tokens", u.ReasoningTokens))
	}
}
