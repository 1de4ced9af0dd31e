// Package quotasim puts truthful quota windows in front of the fake
// upstreams (providers/*/fakeupstream), for the pool benchmark
// (cmd/poolbench) and the simulator (cmd/upstreamsim -window).
//
// Every account has a quota of Quota requests per Window, per model on
// Gemini (Code Assist's quotas are per model) and account-wide on Codex (its
// usage windows are). An account's windows start at a fixed offset of its own
// (spread evenly over one window across the accounts), so their resets
// differ, as the real ones do. A call within quota goes on to the fake; a
// call over it is answered 429 with the real reset: Google's
// RESOURCE_EXHAUSTED with RetryInfo.retryDelay and ErrorInfo quotaResetDelay,
// or Codex's usage_limit_reached with resets_in_seconds (rounded up) and
// resets_at. Codex answers carry x-codex-primary-* headers with the
// account's true usage; the quota endpoints (v1internal:retrieveUserQuota,
// backend-api/wham/usage) report the true remaining quota and reset.
//
// The simulator is also the benchmark's ground truth: Available says
// whether any account had quota for a model at a time, NextAvailable when
// one will, and Stats counts generate calls and the 429s among them.
package quotasim
