// Package geminicli is the Gemini CLI / Google Cloud Code Assist provider:
// Google OAuth for Gemini CLI seats, Code Assist onboarding, the v1internal
// API client, its request and response envelopes, and the classification of
// its errors. It is protocol knowledge plus an *http.Client; it knows nothing
// of actors or HTTP serving.
//
// # OAuth
//
// Seats sign in with the Gemini CLI's own installed-app OAuth client (its
// secret is public). The browser flow goes to the authorize endpoint with
// access_type=offline, prompt=consent, a random state and a PKCE S256
// challenge, and comes back to a redirect URI with a code; the token
// endpoint trades it (grant authorization_code, form POST, client id and
// secret in the body) for an access token, a refresh token and an id_token
// whose claims sub and email name the account. Without an id_token the
// userinfo endpoint names it:
//
//	GET https://www.googleapis.com/oauth2/v2/userinfo
//	Authorization: Bearer <access token>
//	→ {"id":"1073...","email":"a@example.com","verified_email":true}
//
// Refresh is grant refresh_token. Google does not rotate refresh tokens: the
// reply carries only a new access token (about an hour) and the old refresh
// token stays valid. A dead refresh token answers
//
//	400 {"error":"invalid_grant","error_description":"Token has been expired or revoked."}
//
// which is permanent (ErrReauth). Network errors, 429 and 5xx are transient.
//
// # Onboarding
//
// A seat needs a Code Assist tier and a Cloud project before it can serve.
// Every call below is POST {base}/v1internal:{method} with a Bearer token:
//
//	loadCodeAssist {"cloudaicompanionProject":<pinned project, optional>,
//	                "metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}
//	  → {"currentTier":{"id":"standard-tier",...},"allowedTiers":[{"id":..,"isDefault":true}],
//	     "ineligibleTiers":[{"reasonCode":"UNSUPPORTED_CLIENT","reasonMessage":..,"tierId":..,"validationUrl":..}],
//	     "cloudaicompanionProject":"my-project"}
//
// With a current tier and a project the seat is ready (the project arrives
// as a string or as {"id","name"}; a numeric project number is never used).
// With no current tier and only ineligible tiers, the seat is ineligible and
// the first reason is kept; since June 2026 personal accounts end here.
// Otherwise the seat is onboarded into the default allowed tier:
//
//	onboardUser {"tierId":"free-tier","metadata":{...}}            (free tier: no project)
//	onboardUser {"tierId":"standard-tier","cloudaicompanionProject":"my-project","metadata":{...}}
//	  → {"name":"operations/...","done":false}
//
// and the operation is polled (GET {base}/v1internal/{name}, or the same
// POST again when it has no name) every few seconds, a bounded number of
// times, until {"done":true,"response":{"cloudaicompanionProject":{"id":..}}}.
// Tier ids seen: free-tier, legacy-tier, standard-tier, g1-pro-tier,
// g1-ultra-tier. Tier, project and onboarding time are stored on the
// credential (Account, Tier, and Extra).
//
// # Generating
//
// The client's Gemini v1beta request is sent inside an envelope, the client
// body copied byte for byte so that unknown fields, parametersJsonSchema,
// thinkingConfig, functionCall ids and thoughtSignature survive:
//
//	POST {base}/v1internal:generateContent
//	POST {base}/v1internal:streamGenerateContent?alt=sse
//
//	{"model":"gemini-2.5-pro","project":"my-project","user_prompt_id":"<random>","request":<client body>}
//	  → {"response":{"candidates":[..],"usageMetadata":{..},"modelVersion":..,"responseId":..},"traceId":..}
//
// The client gets the inner "response" object. A stream is SSE whose every
// event is "data: <envelope>"; events are split on blank lines (never on
// network reads) and each one is unwrapped the same way. The last event
// carries a finishReason and usageMetadata; an {"error":{...}} event may
// arrive mid-stream instead. Pollux reads each event in one pass over its
// bytes (eventscan.go: the response's span, finish reasons, usage) and
// copies the response out untouched; error objects and anything unusual go
// to encoding/json, as they always did. countTokens has its own envelope and answers
// at top level:
//
//	POST {base}/v1internal:countTokens
//	{"request":{"model":"models/gemini-2.5-pro","contents":[..]}}  → {"totalTokens":31}
//
// # Headers
//
// Every call to Google carries exactly the headers the Gemini CLI's Node
// stack sends for the same call (the sources are listed in nodeheaders.go;
// headers_test.go pins each set). The CLI's Code Assist calls go through
// google-auth-library's OAuth2Client.request, gaxios and node-fetch; its
// token calls through the same library without the CLI's User-Agent; its
// userinfo call through Node's global fetch (undici):
//
//	v1internal (generateContent, countTokens, loadCodeAssist, onboardUser,
//	operation polls, retrieveUserQuota; streamGenerateContent with Accept */*)
//	  Accept: application/json
//	  Accept-Encoding: gzip, deflate, br
//	  Authorization: Bearer <access token>
//	  Connection: keep-alive
//	  Content-Type: application/json
//	  User-Agent: GeminiCLI/<version>/<model> (<platform>; <arch>; terminal) google-api-nodejs-client/<auth lib>
//	  X-Goog-Api-Client: gl-node/<node>
//	  <trace_header>: geminicli:<email or unknown>:<lease id>   (only when configured)
//
//	POST oauth2.googleapis.com/token (refresh and code exchange)
//	  Accept: */*
//	  Accept-Encoding: gzip, deflate, br
//	  Connection: keep-alive
//	  Content-Type: application/x-www-form-urlencoded;charset=UTF-8
//	  User-Agent: google-api-nodejs-client/<auth lib>
//	  X-Goog-Api-Client: gl-node/<node>
//
//	GET www.googleapis.com/oauth2/v2/userinfo
//	  Accept: */*
//	  Accept-Encoding: br, gzip, deflate
//	  Accept-Language: *
//	  Authorization: Bearer <access token>
//	  Connection: keep-alive
//	  Sec-Fetch-Mode: cors
//	  User-Agent: node
//
// <version> is client_version (default DefaultCLIVersion); platform and arch
// are Node's names (linux, darwin, win32; x64, arm64, ia32), not Go's; calls
// about no model (onboarding, quota) name the first configured model.
// <node> is node_version (default DefaultNodeVersion, a Node 22 LTS
// release) and <auth lib> is auth_library_version (default
// DefaultAuthLibraryVersion, the google-auth-library the CLI release
// depends on). POST bodies carry Content-Length, as Node's do. The token
// calls reach x/oauth2 through tokenTransport, on the same egress client
// (proxy, pooling) as everything else.
//
// Accept-Encoding is sent as Node sends it, br included, and not as Go's
// default "gzip": an Accept-Encoding that differs from the CLI's would mark
// every call. Being truthful about it means decoding all three, so the
// client's transport (decodingTransport) decodes gzip, deflate (zlib, per
// RFC 9110) and br (github.com/andybalholm/brotli, pure Go) as bodies
// stream, which Go's own transport stops doing once a caller sets
// Accept-Encoding; an encoding never offered is an error, never bytes
// passed off as JSON. Connection: keep-alive is what Node's default agent
// says on HTTP/1.1; over HTTP/2 Go leaves it out, as the protocol requires.
// What headers cannot express is left as it is: header-name case and
// order on the wire, and Go's HTTP/2 where Node speaks HTTP/1.1.
//
// # Errors
//
// Failures are {"error":{"code","message","status","details":[..]}}, the
// details typed by "@type": google.rpc.RetryInfo {"retryDelay":"54s"},
// google.rpc.ErrorInfo {"reason","domain","metadata":{"quotaResetDelay",
// "quotaResetTimeStamp"}}, google.rpc.QuotaFailure {"violations":[{"quotaId"}]}.
// For example, a per-minute limit:
//
//	429 {"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"...",
//	     "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED",..},
//	                {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"54s"}]}}
//
// Classify maps them (testdata/errors holds a sample of each):
//
//	401 UNAUTHENTICATED                          auth_expired: refresh, retry
//	403 VALIDATION_REQUIRED (+ a help link)      auth_revoked: a human must act (ValidationURL)
//	403 "... Terms of Service ..."               banned
//	403 SUBSCRIPTION_REQUIRED (#3501), ineligible ineligible
//	404                                          model_unsupported for this seat
//	429 MODEL_CAPACITY_EXHAUSTED                 overloaded: upstream capacity, brief cooldown
//	429 QUOTA_EXHAUSTED, or a PerDay/Daily quotaId quota_exhausted until the reset time
//	429 with RetryInfo / quotaResetDelay / quotaResetTimeStamp / "Please retry in Xs"
//	                                             rate_limited until then
//	429 with no details                          rate_limited, RetryAt zero (pool backs off)
//	5xx                                          transient
//	400 INVALID_ARGUMENT, other 4xx              bad_request: the client's fault
//
// The Outcome's Reason is a short code (the ErrorInfo reason or the RPC
// status), never the message or the body.
//
// # Thought signatures
//
// Gemini 3 models attach a thoughtSignature to response parts and reject a
// follow-up whose model turns lost it. SignatureCache (one per Client, so
// per pool) records the signature of every part of every candidate, from
// unary replies (RecordSignatures) and streamed chunks (TranslateEvent),
// keyed by the SHA-256 of the function call's canonical JSON (name and
// args, keys sorted) or of the thought text. Send gives every model-role
// part of a generate request that lacks a signature the recorded one, or
// SkipSignature; the client's own signatures are never changed, and only
// the "contents" member of the body is re-encoded. The cache is bounded in
// bytes (least recently used first out) and entries expire after 6 hours.
package geminicli
