// Package chat is the OpenAI Chat Completions client surface of Pollux,
// over both pools: POST chat/completions under /geminicli/v1beta/openai
// (and /geminicli/v1/openai), the path Google's Gemini API uses for its
// OpenAI compatibility, translated to and from Gemini generateContent; and
// under /codex/v1, translated to and from the Responses API the Codex
// backend speaks. Unary and streamed. Routes returns the surface's routes
// for its Deps; it relays through transport/relay and imports no other
// surface.
//
// # Translation
//
// Request (request.go, gemini.go, codex.go):
//
//	Chat                              Gemini                                   Responses
//	system/developer messages         systemInstruction                        instructions
//	user text / image_url (data URL)  user parts text / inlineData             input_text / input_image
//	assistant content, tool_calls     model parts text / functionCall{id}      output_text message / function_call
//	tool message                      user functionResponse{id,name}           function_call_output
//	tools[].function                  functionDeclarations (CleanToolSchema)   function tools
//	tool_choice                       functionCallingConfig                    tool_choice
//	reasoning_effort                  thinkingBudget (Gemini 3: thinkingLevel) reasoning.effort (+summary auto)
//	response_format                   responseMimeType + responseSchema        text.format
//	max_(completion_)tokens           maxOutputTokens                          dropped (named)
//	temperature, top_p, stop          temperature, topP, stopSequences         dropped (named)
//	seed, presence/frequency_penalty  seed, presencePenalty, frequencyPenalty  dropped (named)
//
// The Codex backend refuses temperature, top_p and output limits; what a
// pool cannot take is removed and its name listed in the
// X-Pollux-Dropped-Params response header, as on the Responses surface.
// What cannot be translated at all (n > 1, audio output, logprobs, remote
// image URLs to Gemini) is a 400 in the OpenAI envelope naming the field.
//
// Reply: text → content; Gemini thought parts and Responses reasoning
// summaries → reasoning_content; function calls → tool_calls (Gemini's
// call id when it sends one, else a stable call_<n> id; streamed with one
// index per call, id and name in the first delta, argument fragments after);
// finish reasons → stop, length, tool_calls, content_filter; usage with
// cached and reasoning tokens (a usage chunk before [DONE] when
// stream_options.include_usage is set).
//
// # Streams and errors
//
// Streams are SSE "data: <chunk>" lines ending with "data: [DONE]". A
// stream that breaks after the first byte ends with a chunk carrying an
// "error" object in the OpenAI envelope's fields, then [DONE]: the OpenAI
// SDKs raise it. Before the first byte the relay fails over as on the
// native surfaces (the head of a stream is held back until it shows
// output). Errors before the stream are the OpenAI envelope; pool
// exhaustion is a 429 with Retry-After.
//
// # Wire types
//
// The request and reply structures are this package's own small structs,
// not openai-go's: openai-go's params are client-side builders (param.Opt
// wrappers and unions meant for marshalling, not for decoding arbitrary
// client input) and would add a large dependency to read a dozen fields.
// The surface translates; it does not pass Chat bodies through, so no
// unknown Chat field has a place to survive in the Gemini or Responses
// request: each is either mapped, dropped and named, or refused.
package chat
