// Drives the official openai SDK's chat.completions against Pollux's Chat
// Completions surface over one pool and prints one JSON summary on stdout
// for conformance_test.go to check.
//
// Environment: POLLUX_URL (http://host:port), POLLUX_KEY, POLLUX_POOL
// ("gemini": base URL <pollux>/geminicli/v1beta/openai; "codex":
// <pollux>/codex/v1), POLLUX_MODEL, and optionally POLLUX_BASE_PATH, a
// base path that replaces the pool's (/v1: the one base URL). In order: a tool round trip (the
// first answer is scripted to call get_weather), a streamed tool call
// through the SDK's stream helper, a unary completion, a
// stream with include_usage, a response_format json_schema request and an
// unknown model.
import OpenAI from "openai";

const base = process.env.POLLUX_URL;
const key = process.env.POLLUX_KEY;
const pool = process.env.POLLUX_POOL;
const model = process.env.POLLUX_MODEL;
if (!base || !key || !model) {
  throw new Error("POLLUX_URL, POLLUX_KEY and POLLUX_MODEL must be set");
}
const prefix = process.env.POLLUX_BASE_PATH || { gemini: "/geminicli/v1beta/openai", codex: "/codex/v1" }[pool];
if (!{ gemini: true, codex: true }[pool]) {
  throw new Error(`unknown POLLUX_POOL ${JSON.stringify(pool)}`);
}

// maxRetries 0: every failure shows at once instead of being retried.
const client = new OpenAI({ baseURL: `${base}${prefix}`, apiKey: key, maxRetries: 0 });
const summary = {};

const tools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city.",
      parameters: {
        $schema: "http://json-schema.org/draft-07/schema#",
        type: "object",
        properties: { city: { type: "string" }, unit: { anyOf: [{ enum: ["C", "F"] }, { type: "null" }] } },
        required: ["city"],
        additionalProperties: false,
      },
    },
  },
];
const question = { role: "user", content: "What is the weather in Paris?" };

const first = await client.chat.completions.create({ model, messages: [question], tools });
const call = first.choices[0].message.tool_calls?.[0];
summary.first = {
  finish: first.choices[0].finish_reason,
  call: call ? { id: call.id, name: call.function.name, arguments: call.function.arguments } : null,
};
if (call) {
  const second = await client.chat.completions.create({
    model,
    tools,
    messages: [
      question,
      first.choices[0].message,
      { role: "tool", tool_call_id: call.id, content: JSON.stringify({ sky: "sunny" }) },
    ],
  });
  summary.second = { finish: second.choices[0].finish_reason, content: second.choices[0].message.content };
}

// The SDK's stream helper assembles streamed tool-call deltas (ids,
// names, argument fragments by index) into a final completion.
const runner = client.chat.completions.stream({ model, messages: [question], tools });
const streamed = await runner.finalChatCompletion();
const streamedCall = streamed.choices[0].message.tool_calls?.[0];
summary.streamTools = {
  finish: streamed.choices[0].finish_reason,
  call: streamedCall ? { id: streamedCall.id, name: streamedCall.function.name, arguments: streamedCall.function.arguments } : null,
};

const unary = await client.chat.completions.create({
  model,
  messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Say hello." }],
});
summary.unary = {
  object: unary.object,
  model: unary.model,
  content: unary.choices[0].message.content,
  finish: unary.choices[0].finish_reason,
  totalTokens: unary.usage?.total_tokens ?? null,
};

const stream = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: "Say hello." }],
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let finish = null;
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  for (const c of chunk.choices) {
    text += c.delta?.content ?? "";
    finish = c.finish_reason ?? finish;
  }
  usage = chunk.usage ?? usage;
}
summary.stream = { chunks, text, finish, totalTokens: usage?.total_tokens ?? null };

const structured = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: "Say hello as JSON." }],
  response_format: {
    type: "json_schema",
    json_schema: { name: "greeting", strict: true, schema: { type: "object", properties: { text: { type: "string" } }, required: ["text"], additionalProperties: false } },
  },
});
summary.structured = { content: structured.choices[0].message.content, finish: structured.choices[0].finish_reason };

try {
  await client.chat.completions.create({ model: "not-served", messages: [question] });
  summary.unknownModel = { thrown: false };
} catch (err) {
  summary.unknownModel = { thrown: true, status: err.status ?? null, code: err.code ?? null, type: err.type ?? null };
}

process.stdout.write(JSON.stringify(summary) + "\n");
