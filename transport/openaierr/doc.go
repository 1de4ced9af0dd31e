// Package openaierr is the OpenAI error envelope, the one wire format the
// two OpenAI-shaped surfaces (Responses in transport/responses, Chat
// Completions in transport/chat) both answer failures in:
//
//	{"error":{"message","type","code","param"}}
//
// code and param are null when unknown, as OpenAI writes them; the Codex
// usage-limit fields (plan_type, resets_at, resets_in_seconds) are added
// when the upstream stated them. Type and Code are the one map from an HTTP
// status to the type and code Pollux sends, so both surfaces say the same
// thing for the same status.
package openaierr
