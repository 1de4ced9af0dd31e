// Package operations serves the operator's side of the gateway: the admin
// API (/admin/v1: credentials, jobs, pool, pool usage, log level), the
// member-key admin and usage reports (/admin/v1/keys, /admin/v1/usage) with
// the self-service GET /v1/me, the resource:add ingestion of refresh tokens
// (/geminicli/resource:add, /codex/resource:add and their jobs), and the
// status page that drives them (GET / and /status, package statuspage).
//
// The package decides no access: the root package transport hands
// MountOperator, MountClient and MountOpen the function that mounts a route
// in the right key group, and renders the errors handlers return
// (*echo.HTTPError with a client-safe message) in the envelope of the
// route's surface. What the handlers need of the rest of the gateway comes
// through Deps as narrow interfaces — Ingester and AdminPool of a pool,
// KeyAdmin of the member keys — which *actors.Pool and *actors.Keys
// implement, and which tests fake. Never a token or a key secret in an
// answer or a log line, except the new key's secret in the answer that
// creates or rotates it.
package operations
