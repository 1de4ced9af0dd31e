// Package codex is the provider for ChatGPT accounts used through the Codex
// backend: OAuth against auth.openai.com, the id_token claims that name the
// account, the request body rules, the stream events and the error classes.
// It is protocol knowledge plus an *http.Client; it imports no actors and no
// transport code.
//
// # Sign-in
//
// The client is the Codex CLI's public one, ClientID, with no secret; the
// client_id travels in the form body. A browser sign-in is
//
//	GET  {auth}/oauth/authorize?response_type=code&client_id=...&redirect_uri=http://localhost:1455/auth/callback
//	     &scope=openid+profile+email+offline_access&state=...&code_challenge=...&code_challenge_method=S256
//	     &id_token_add_organizations=true&codex_cli_simplified_flow=true
//	POST {auth}/oauth/token  grant_type=authorization_code&code=...&code_verifier=...&redirect_uri=...&client_id=...
//	POST {auth}/oauth/token  grant_type=refresh_token&refresh_token=...&client_id=...
//
// and the token answer is {access_token, refresh_token, id_token, expires_in}.
// The id_token is a JWT whose payload holds sub, email and the claim
//
//	"https://api.openai.com/auth": {"chatgpt_account_id": "...", "chatgpt_plan_type": "plus", ...}
//
// chatgpt_account_id is required (it scopes every backend call); the plan
// type becomes the credential's Tier and is never a reason to refuse it here.
//
// Refresh tokens rotate. Every refresh returns a new refresh token and kills
// the old one; presenting the old one again is refused for good:
//
//	401 {"error":{"message":"Your refresh token has already been used ...","type":"invalid_request_error","code":"refresh_token_reused"}}
//
// so the new token must be stored durably before the new access token is
// used, and only one refresh per credential may run at a time. OpenAI nests
// its token errors as above (x/oauth2 cannot read the code, so this package
// reads the body); the flat RFC 6749 form {"error":"invalid_grant",
// "error_description":...} also occurs. refresh_token_reused,
// refresh_token_expired, refresh_token_invalidated, invalid_grant and any 401
// mean the credential needs a human (ErrReauth); 429, 5xx and network errors
// are transient.
//
// # Backend
//
//	POST {base}/backend-api/codex/responses          always answers SSE
//	POST {base}/backend-api/codex/responses/compact  JSON
//	GET  {base}/backend-api/wham/usage               plan and usage windows
//
// Every call carries
//
//	Authorization: Bearer <access token>
//	chatgpt-account-id: <chatgpt_account_id>
//	originator: codex_cli_rs            (or the Codex CLI's own, see below)
//	version: <codex cli version>        (client_version; default DefaultClientVersion)
//	User-Agent: codex_cli_rs/<version> (<os type> <os version>; <arch>) <terminal>
//	<trace_header>: codex:<email or unknown>:<lease id>   (only when configured)
//	Accept: text/event-stream           (application/json for compact)
//	Content-Type: application/json
//
// plus, when the client sent them, session_id (the Codex CLI spells it
// session-id), thread-id, x-client-request-id, x-codex-turn-metadata,
// x-codex-window-id and x-codex-beta-features. No other client header
// passes; in particular the client's Authorization (the Pollux key) never
// does.
//
// The User-Agent has the Codex CLI's form: the OS as its os_info crate names
// it (from /etc/os-release: "Debian 12"), the architecture as uname -m does
// ("x86_64", "aarch64"), and "unknown" for the terminal of a service. When
// the caller is a Codex CLI (its User-Agent starts with its originator and a
// version), its originator and User-Agent go upstream unchanged and version
// is read from them, so the three agree. Token endpoint calls carry the same
// originator and User-Agent. Nothing names Pollux.
//
// # Request body
//
// The backend takes a Responses API body with stream=true, store=false and
// an "instructions" string that must be present (it may be ""). It rejects
// max_output_tokens, temperature, top_p, metadata, user, truncation,
// previous_response_id and service_tier (except "priority"). Normalize
// removes those and reports their names, forces stream and store, turns a
// string input into one user message, and moves role "system" messages into
// instructions. Everything else keeps its bytes: tools of every type
// (function, custom, namespace, web_search, tool_search), reasoning, include
// (reasoning.encrypted_content), prompt_cache_key, text, and the client's
// item ids.
//
// # Stream
//
// Each event has an event: line and a data: line with the same "type":
//
//	response.created → response.in_progress → response.output_item.added →
//	response.content_part.added → response.output_text.delta … →
//	response.output_text.done → response.content_part.done →
//	response.output_item.done → response.completed
//
// ending instead in response.failed, response.incomplete or error. The
// relay passes events through verbatim (clients break without
// output_item.done or the terminal event); InspectEvent only reads them,
// deltas by their event line alone and the events it needs in one pass over
// their bytes (eventscan.go). A
// stream without a terminal event is an error (ErrStreamTruncated). A 200
// stream that fails at once with server_is_overloaded is transient and may be
// retried on another account while nothing reached the client. With
// store=false the final response.completed carries an empty output; Collect
// rebuilds it from the output_item.done items for non-streaming clients.
//
// Every answer reports the account's usage windows in headers
// (ParseRateLimits):
//
//	x-codex-primary-used-percent: 12.5      x-codex-secondary-used-percent: 3
//	x-codex-primary-window-minutes: 300     x-codex-secondary-window-minutes: 10080
//	x-codex-primary-reset-at: 1730000000    (or -reset-after-seconds: 3600)
//
// # Errors
//
// Bodies come as {"error":{"type"|"code","message",...}}, {"detail":"..."} or
// {"detail":{"code":...}}. Classify maps them:
//
//	429 {"error":{"type":"usage_limit_reached","plan_type":"plus","resets_at":1730000000,"resets_in_seconds":3600}}
//	    → QuotaExhausted, whole account, until resets_at
//	429 {"error":{"type":"usage_not_included"}}       → Ineligible (the plan has no Codex)
//	429 {"error":{"code":"rate_limit_exceeded"}}      → RateLimited, whole account, Retry-After
//	401 {"error":{"code":"token_expired"}} / token_invalidated / bare 401
//	    → AuthExpired (refresh, retry; repeated failure becomes needs_reauth)
//	401 {"error":{"code":"account_deactivated"}}      → Banned
//	401/403 {"error":{"code":"no_organization"}}      → AuthRevoked
//	402 {"detail":{"code":"deactivated_workspace"}}   → Banned
//	400 {"detail":"The 'x' model is not supported when using Codex with a ChatGPT account."}
//	    → ModelUnsupported
//	other 4xx → BadRequest; 5xx → Transient; server_is_overloaded → Overloaded
//
// ClientError turns such a body into the OpenAI client envelope's fields,
// keeping resets_at and resets_in_seconds, which the Codex CLI shows.
package codex
