// Package transport is Pollux's HTTP server, built on Echo. It assembles the
// gateway's parts and owns what they share: the middleware chain, the route
// groups and the key each one demands, the mapping of errors to
// client-facing envelopes, /metrics and the health endpoints.
//
// # Layout
//
// Each part of the HTTP surface is a package with its own small Deps struct
// (narrow interfaces, no back-pointer to the server), built in surfaces.go
// and mounted by one line in Server.routes:
//
//	transport/openaierr    the OpenAI error envelope the Responses and Chat surfaces share
//	transport/relay        the kernel: attempt loop with one retry decision, SSE pump,
//	                       held-back stream head, error-kind map, request Record, relay.Pool
//	transport/models       each pool's model names: models, aliases, fallback chains (pure);
//	                       the surfaces get a resolver built on it (modelnames.go)
//	transport/gemini       the Gemini v1beta surface: handler, stream codec, envelope, models
//	transport/responses    the OpenAI Responses surface: handler, stream codec, envelope, models,
//	                       the Codex CLI's usage routes
//	transport/chat         OpenAI Chat Completions over both pools: translation, stream codecs, envelope
//	transport/messages     the Anthropic Messages surface over both pools: translation, codec, envelope, models
//	transport/signin       browser OAuth, the paste page, the Codex device-code sign-in
//	transport/operations   admin API, member keys and usage, pool usage, resource:add, status page
//
// The root's own files include rootapi.go, the one base URL: the surfaces
// again at /v1 and /v1beta, each request handed to the handler of the pool
// that serves its model. The model→pool decision is poolForModel
// (modelroute.go), the only place it is made; peekModel (modelpeek.go)
// reads a body's top-level "model" in place.
//
// The import rules (cmd/pollux/layout_test.go, relay.TestSurfaceImportRules)
// keep this shape: only the root imports a surface package, no surface
// imports another or the root, a surface may import the relay kernel, the
// relay imports no surface, and nothing under transport imports storage
// (the records it shows are named in actors).
//
// # Routes and keys
//
// Who may call a route is decided where it is mounted and nowhere else:
// Server.routes hands each part the function that mounts a route in one
// access group (Server.group), and the middleware looks the matched route
// up in that table. The groups:
//
//	open      no key: /healthz, /readyz, the status page, the sign-in callbacks and paste page
//	client    the Pollux key or a member key: the model APIs (also at the root's /v1 and /v1beta),
//	          /v1/me, the Codex CLI's usage routes
//	operator  the admin key when one is set, else the Pollux key: /admin/v1, resource:add, the sign-in starts
//	monitor   the Pollux key or the admin key (none with metrics_public): /metrics
//
// A path under /geminicli or /codex, or under the root's /v1 or /v1beta,
// that matches no route is treated as client, so a wrong path without a
// key answers 401, not 404.
//
// # One request's path
//
// POST /geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent: the
// middleware assigns a request id, starts the access-log record, checks the
// client key of the route's group and caps the body. gemini's handler
// parses the model and method, admits the key (Deps.Admit), reads and checks
// the body, and calls relay.Relay.Do: the attempt loop leases a credential
// from the pool, sends the call upstream, classifies a failure and reports
// it, and asks its retry decision whether and where to try again. The
// handler defers reply.Finish and hands the reply to Relay.Stream with its
// codec: each upstream event becomes client bytes, flushed per burst, with
// keep-alives while the upstream is silent; at the end the codec gives the
// outcome and the in-band error event, if any. Finish reports the outcome
// for the credential and counts the tokens; the access log writes the line
// and settles the member key.
//
// # Surfaces
//
// The first path segment picks the error envelope (the Messages routes,
// under either, take Anthropic's):
//
//	/geminicli/...   Gemini (package gemini):     {"error":{"code":401,"message":"...","status":"UNAUTHENTICATED"}}
//	/codex/...       OpenAI (package responses):  {"error":{"message":"...","type":"authentication_error","code":"invalid_api_key","param":null}}
//	.../v1/messages  Anthropic (package messages): {"type":"error","error":{"type":"authentication_error","message":"..."}}
//	/geminicli/v1beta/openai/... and /geminicli/v1/openai/...: OpenAI, for the OpenAI-compatible routes there
//	/v1beta/..., and POST /v1/models/...: Gemini (the one base URL's Gemini routes)
//	/v1/...          OpenAI, but Anthropic on /v1/messages and for a request with anthropic-version
//	anything else    plain:                       {"error":{"status":404,"message":"not found"}}
//
// Unknown routes and wrong methods are answered in the same envelopes. The
// Gemini surface is served under /geminicli/v1beta and, identically, under
// /geminicli/v1 (the Gen AI SDK 3.x default); both come from one route table.
//
// # Middleware
//
// In order, outermost first:
//
//  1. recover: a panic is logged with its stack and answered 500; if the
//     response was already under way the connection is aborted instead.
//     http.ErrAbortHandler passes through, so a handler can cut a body
//     that failed mid-copy.
//  2. request id: X-Request-Id is kept when it is 1-128 characters of
//     [A-Za-z0-9._-], otherwise replaced by a random one; the response
//     carries it.
//  3. access log: one info line per request with request_id, method, path
//     (never the query string, which may hold ?key=), status, bytes_out,
//     duration and remote_ip (the peer address). It renders handler errors
//     itself so the line has the final status.
//  4. body limit: 50 MiB. A larger Content-Length is refused before
//     reading; the body stream is capped as well, so chunked bodies are too.
//     Both answer 413.
//  5. key auth: the key the route's group demands (see Routes and keys),
//     as "Authorization: Bearer <key>", "x-api-key: <key>" (the
//     Anthropic SDKs), "x-goog-api-key: <key>" or "?key=<key>", compared
//     in constant time.
//     Missing or wrong keys get 401. Every form the client used is then
//     deleted from the request, so handlers never see, forward or log the
//     key. With [basic] admin_key set, the operator routes (resource:add,
//     the sign-in starts, /admin/v1) take only that key. The client routes
//     take the Pollux key or a member key, found by its SHA-256 in the
//     in-memory key set (teamkeys.go: 401 unknown, disabled or expired; 403
//     outside the key's surfaces). Once a handler knows the model it calls
//     admit (the key's model allow-list, 403, and its limits, 429); the
//     access log settles the request (frees its slot, charges tokens,
//     counts usage per key, model, provider and day).
//
// GET /healthz (liveness) and GET /readyz (readiness, from Deps.Ready with a
// 2 s bound) need no key.
//
// # Errors
//
// Handlers return errors; *Error (relay.Error) carries an ErrorKind, a
// client-safe message and an optional Retry-After, and ErrorKind.Status is
// the one map from kinds to HTTP statuses (relay.FailureKind maps a final
// upstream failure to a kind). *echo.HTTPError (from Echo and the surface
// packages) keeps its status and message; *http.MaxBytesError becomes 413;
// context.Canceled becomes 499 and context.DeadlineExceeded 504; any other
// error is a bare 500 whose cause is only logged. A 429 always carries
// Retry-After in whole seconds, at least 1: a pool's wait rounded down (its
// resets are stated, often already rounded up), a member key's own limit
// rounded up (it frees at an exact instant).
//
// # Timeouts
//
// The http.Server has a 10 s read-header timeout, a 120 s idle timeout, 1 MiB
// of headers and no write timeout, because streamed answers run long.
// Shutdown stops accepting, drains in-flight requests until its context ends,
// then closes what is left.
package transport
