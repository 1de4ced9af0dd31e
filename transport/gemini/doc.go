// Package gemini serves the Gemini v1beta surface of Pollux (mounted under
// /geminicli/v1beta and its alias /geminicli/v1) and owns that surface's wire
// formats: the Google error envelope and the model resources.
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
// Handlers here report failures as *echo.HTTPError (status and a client-safe
// message); the transport package renders every error, so this package never
// imports it.
package gemini
