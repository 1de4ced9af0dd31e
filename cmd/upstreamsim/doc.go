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
//	upstreamsim -listen 127.0.0.1:9090 -gemini-accounts 4 -codex-accounts 4 -print-config
//
// -print-config writes a [providers.geminicli] / [providers.codex] snippet
// for Pollux's config.toml and, as TOML comments, the refresh tokens as JSON
// arrays to POST to /geminicli/resource:add and /codex/resource:add. The
// line "listening on ADDR" follows once the listener is bound. -latency adds
// a fixed delay before every answer. SIGINT or SIGTERM shuts down gracefully.
//
// The simulator turns the fakes' request recording off, so its memory stays
// flat however long a benchmark runs.
package main
