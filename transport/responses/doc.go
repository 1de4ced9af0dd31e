// Package responses is the OpenAI Responses client surface of Pollux over
// the Codex backend (mounted under /codex/v1): POST responses (streamed,
// with the head of the stream held back so an overload or usage limit there
// fails over; or collected whole), POST responses/compact, the stream
// codec, the OpenAI error envelope and the OpenAI model list; and, under
// /codex, the Codex CLI's usage routes (GET backend-api/wham/usage and
// api/codex/usage: the pool's aggregate usage windows in the ChatGPT
// backend's shape, from Deps.Snapshot). Routes and UsageRoutes return the
// surface's routes for its Deps; it relays through transport/relay and
// imports no other surface.
//
// Error envelope, as OpenAI's API writes it, with the usage-limit fields the
// Codex CLI shows when the upstream stated them:
//
//	{"error":{"message":"...","type":"rate_limit_error","code":"usage_limit_reached","param":null,
//	  "plan_type":"plus","resets_at":1767225600,"resets_in_seconds":3600}}
//
// For Pollux's own errors type and code are derived from the HTTP status
// (see openaierr.Type and openaierr.Code) and param is null.
//
// Handlers report failures as *relay.Error (or *echo.HTTPError); the
// server renders them with WriteError, picked by the request's path.
package responses
