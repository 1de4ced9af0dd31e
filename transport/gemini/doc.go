// Package gemini is the Gemini v1beta client surface of Pollux (mounted
// under /geminicli/v1beta and its alias /geminicli/v1): the generate
// handler (generateContent, streamGenerateContent, countTokens), its stream
// codec, the Google error envelope and the model resources. Routes returns
// the surface's routes for its Deps; it relays through transport/relay and
// imports no other surface.
//
// Error envelope, as Google's APIs write it:
//
//	{"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED",
//	  "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}
//
// details is present only when a retry delay is known; the Gemini CLI reads
// RetryInfo to decide how long to wait. The status string follows the
// google.rpc code for the HTTP status (see StatusString). Google has no code
// for an oversized request, so 413 is written with status INVALID_ARGUMENT,
// and 502 (a failed upstream) with UNAVAILABLE.
//
// Handlers report failures as *relay.Error (or *echo.HTTPError); the
// server renders them with WriteError, picked by the request's path.
package gemini
