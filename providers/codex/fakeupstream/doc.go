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
//     The device sign-in: POST /api/accounts/deviceauth/usercode (JSON
//     {client_id} → {device_auth_id, user_code, interval:"5"}) and POST
//     /api/accounts/deviceauth/token (JSON {device_auth_id, user_code} → 403
//     while pending, then {authorization_code, code_challenge,
//     code_verifier} for the token endpoint with redirect_uri
//     {fake}/deviceauth/callback; 400 access_denied when refused, 410 when
//     expired). SetDeviceScript scripts approval after N polls, refusal,
//     expiry or a server without device sign-in (404); ApproveDevice,
//     DenyDevice and ExpireDevice act on one user code, as the person at the
//     verification page would.
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
// server_is_overloaded), a delay before the first byte or a connection
// reset before it. Every request is recorded; refreshes and backend calls
// are counted per account, and SetAccountQuota caps the calls an account may
// make before it gets a scripted limit answer.
//
// One file per endpoint group: auth.go (authorize, token and its grants),
// device.go (device sign-in), responses.go (responses, compact and their
// default streams), usage.go (wham/usage); server.go holds the Server, its
// routes, scripting, recording, per-account counting and the shared reply
// writer.
package fakeupstream
