// Package messages is the Anthropic Messages client surface of Pollux, over
// both pools: POST messages and POST messages/count_tokens under
// /geminicli/v1 (Gemini CLI pool) and /codex/v1 (Codex pool), and the
// pools' GET models in Anthropic's format for a caller that sends
// anthropic-version (Models.Negotiate). Claude Code and the Anthropic SDKs
// reach the pools with ANTHROPIC_BASE_URL set to either prefix's root and
// the Pollux key (or a member key) as x-api-key.
//
// # Translation
//
// A request is decoded and checked (parseRequest), then translated for the
// pool: toGemini writes a generateContent body (systemInstruction,
// contents with text, inlineData/fileData images and PDFs, functionCall and
// functionResponse parts, thought parts with their signatures; tools as
// functionDeclarations through geminicli.CleanToolSchema; tool_choice as
// functionCallingConfig; max_tokens, temperature, top_p, top_k and
// stop_sequences in generationConfig; thinking budgets as thinkingConfig;
// output_format as responseJsonSchema). toResponses writes a Codex
// Responses body (instructions, message, function_call and
// function_call_output items, function tools, tool_choice,
// parallel_tool_calls, thinking budgets as reasoning.effort: below 4096
// low, below 16384 medium, else high; output_format as text.format; the
// metadata's user_id, hashed, as prompt_cache_key). The user_id also keeps
// a conversation on one credential (the relay's affinity) on both pools.
//
// The answer is always an upstream stream. Each pool's translator turns
// its events into Anthropic events through one builder, which keeps the
// block indexes and the open block; the stream codec writes them as SSE
// and the collector builds the unary message from the same events, so both
// forms say the same. Gemini function calls arrive whole and become a
// tool_use block with one input_json_delta; Codex argument deltas pass
// through as input_json_delta. Tool ids are Gemini's own when it gives one,
// else made once per call; Codex call_ids pass as they are. Thinking comes
// back as thinking blocks (Gemini thought parts, with the signature as a
// signature_delta; Codex reasoning summaries). Usage: input_tokens excludes
// the cached prompt, which is cache_read_input_tokens; output_tokens
// includes the thinking tokens.
//
// Documents go as PDF parts (Gemini inlineData or fileData, Codex
// input_file) or, for text sources, as text. What cannot be translated
// (server tools, Files API references, other block types, images in a
// Codex tool result, unknown members) is refused with a 400 naming the
// member. What has no place upstream is left out on purpose and named in
// X-Pollux-Dropped-Params: on the Codex pool max_tokens, temperature,
// top_p, top_k and stop_sequences (the backend refuses or lacks them);
// metadata on both. Thinking blocks of earlier turns are not sent to
// Codex (its reasoning is encrypted by the backend; an Anthropic signature
// means nothing there).
//
// # Failures
//
// Streams are held back at their head (relay.HoldHead) so an overload or a
// limit there fails over to another credential; a unary answer is read
// whole before anything is written, so a failure anywhere in it may fail
// over. Errors use Anthropic's envelope,
//
//	{"type":"error","error":{"type":"rate_limit_error","message":"..."}}
//
// with Retry-After on a 429; the server's renderer picks this envelope for
// every path IsPath accepts. A stream that fails or breaks off after its
// first byte ends with an Anthropic error event, never a silent close.
//
// # Wire types
//
// The wire structures are this package's own, not anthropic-sdk-go's: the
// SDK's types are made for building requests in a client (optional-field
// wrappers, unions that marshal one way), and the gateway reads requests
// and writes answers in the opposite direction, translating both into
// another format, where unknown members have no place to survive and are
// refused by name instead. Adding the SDK would bring its HTTP client and
// every API it covers for a few small structs.
package messages
