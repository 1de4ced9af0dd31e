// Package fakeupstream is an http.Handler that imitates both upstreams of the
// codex provider, for tests, the upstream simulator and benchmarks:
//
//   - auth.openai.com: GET /oauth/authorize (signs in the account chosen with
//     SetLoginAccount and redirects with a code) and POST /oauth/token with
//     the authorization_code and refresh_token grants. Refresh tokens rotate
//     as OpenAI's do: each refresh returns a new one and kills the old one;
//     presenting a dead one answers 401
//     {"error":{"code":"refresh_token_reused",...}}. id_tokens are unsigned
//     JWTs carrying sub, email and the https://api.openai.com/auth claim.
//   - chatgpt.com: POST /backend-api/codex/responses (an SSE stream with
//     event: and data: lines and x-codex-primary-* / x-codex-secondary-*
//     headers), POST /backend-api/codex/responses/compact (JSON) and
//     GET /backend-api/wham/usage. Each checks Authorization and
//     chatgpt-account-id against the tokens it issued and answers 401
//     otherwise.
//
// By default the responses endpoint streams a complete answer ("Hello,
// world") for the requested model. Like the real backend with store=false,
// its response.completed carries an empty output; the items come in
// response.output_item.done. Tests script other answers per endpoint with
// Push: a status, headers and body, or a stream script (events with optional
// gates, a cut after N events, or an immediate response.failed
// server_is_overloaded). Every request is recorded, and refreshes are counted
// per account.
package fakeupstream
