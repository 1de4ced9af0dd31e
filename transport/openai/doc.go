// Package openai serves the OpenAI-compatible parts of Pollux (the Codex
// surface under /codex/v1, and the OpenAI-style model list the Gemini surface
// offers under /geminicli/v1beta/openai) and owns their wire formats: the
// OpenAI error envelope and the model objects.
//
// Error envelope, as OpenAI's API writes it:
//
//	{"error":{"message":"...","type":"authentication_error","code":"invalid_api_key","param":null}}
//
// type and code are derived from the HTTP status (see ErrorType and
// ErrorCode); param is always null because Pollux reports no per-field
// errors.
//
// Handlers here report failures as *echo.HTTPError (status and a client-safe
// message); the transport package renders every error, so this package never
// imports it.
package openai
