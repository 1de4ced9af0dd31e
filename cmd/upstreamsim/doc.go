// Command upstreamsim serves both fake upstreams of Pollux on one loopback
// listener, for manual runs, end-to-end tests and benchmarks:
//
//	/gemini/...  providers/geminicli/fakeupstream: the Google token endpoint
//	             (/gemini/token), userinfo (/gemini/userinfo) and Code Assist
//	             (/gemini/v1internal:*)
//	/codex/...   providers/codex/fakeupstream: auth.openai.com
//	             (/codex/oauth/token) and the ChatGPT backend
//	             (/codex/backend-api/codex/responses, ...)
//
// Accounts are pre-registered with deterministic refresh tokens:
// sim-gemini-0 ... sim-gemini-<N-1> (standard tier, project sim-project-<i>)
// and sim-codex-0 ... sim-codex-<N-1> (plan pro, account sim-codex-account-<i>).
// Codex refresh tokens rotate like OpenAI's: each works for one refresh, and
// the fake hands out the next one.
//
// Usage:
//
//	upstreamsim -listen 127.0.0.1:9090 -gemini-accounts 4 -codex-accounts 4 -quota 100 -print-config
//
// -print-config writes a complete Pollux config file (Pollux on
// 127.0.0.1:8188, database sim.db, a fresh pollux_key, every upstream URL
// pointing at the simulator) and, as TOML comments, the refresh tokens as
// JSON arrays to POST to /geminicli/resource:add and /codex/resource:add;
// "upstreamsim -print-config > sim.toml" gives a file Pollux loads as it
// is. The line "listening on ADDR" follows once the listener is bound (as
// a TOML comment with -print-config). -latency adds
// a fixed delay before every answer. SIGINT or SIGTERM shuts down gracefully.
//
// The simulator turns the fakes' request recording off, so its memory stays
// flat however long a benchmark runs.
//
// -quota N caps every account at N generate calls (Gemini generateContent
// and streamGenerateContent, Codex responses); after that it answers 429
// until the simulator restarts: Google's daily-quota error (a QuotaFailure
// on a PerDay quota) or Codex's usage_limit_reached, both without a reset
// time. With -window W the quota is N per window instead, and resets:
// per account and model on Gemini, per account on Codex, each account's
// windows offset differently, with the true reset in the 429 (Google's
// RetryInfo and quotaResetDelay, Codex's resets_in_seconds and resets_at),
// in Codex's x-codex-primary-* headers and in the quota endpoints
// (v1internal:retrieveUserQuota, backend-api/wham/usage); see
// cmd/internal/quotasim.
//
// # Control API
//
// Faults are scripted over HTTP on the same listener, for demos and
// benchmarks (no key: bind the simulator to loopback):
//
//	POST /_sim/gemini/script  queue faults for the Gemini fake
//	POST /_sim/codex/script   queue faults for the Codex responses endpoint
//	GET  /_sim/stats          {"quota":N,"gemini":{"<refresh token>":{"requests":N,"refreshes":N}},
//	                          "codex":{"<account id>":{"requests":N,"refreshes":N}}}
//
// A script body is a JSON array of faults (or one fault object), such as
//
//	[{"kind":"429_retryinfo","retry_after_secs":30},{"kind":"slow_first_byte","ms":2000}]
//
// Each fault answers the next call to its fake, whichever account makes it,
// in order; the whole script is rejected (400) if any fault is invalid.
// Gemini kinds: 429_retryinfo, 429_reset_delay and 429_reset_timestamp
// (retry_after_secs, default 30), 429_daily (QuotaFailure PerDay; a
// RetryInfo only when retry_after_secs is set), 429_capacity
// (MODEL_CAPACITY_EXHAUSTED), 429_no_details, 401, 403_tos,
// 403_subscription, 403_validation, 404, 500, 503, reset_before_headers,
// slow_first_byte (ms, then the normal answer) and cut_mid_stream
// (after_events, default 1). cut_mid_stream waits in a queue of its own
// that only streamGenerateContent calls take from, once the other queue is
// empty. Codex kinds: usage_limit_reached (resets_in_secs, default 3600),
// usage_not_included, 429_no_details, token_invalidated (or 401),
// account_deactivated, deactivated_workspace (402), 500, 503,
// overload_in_200, reset_before_headers, slow_first_byte (ms) and
// cut_mid_stream (after_events, default 5; the stream then ends without a
// terminal event).
package main
