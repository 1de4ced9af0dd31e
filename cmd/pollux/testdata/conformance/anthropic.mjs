// Drives the official @anthropic-ai/sdk against Pollux's Anthropic Messages
// surface over one pool and prints one JSON summary on stdout for
// conformance_test.go to check.
//
// Environment: POLLUX_URL (http://host:port), POLLUX_KEY (sent by the SDK
// as x-api-key), POLLUX_PREFIX (/geminicli, /codex, or "" for the one base
// URL at the root), POLLUX_MODEL and
// POLLUX_SCENARIO: "basic" (messages.create unary and stream: true, the
// messages.stream() helper, countTokens, models.list, an unknown model),
// "tools" (a tool round trip) or "thinking" (thinking enabled, streamed).
import Anthropic from "@anthropic-ai/sdk";

const base = process.env.POLLUX_URL;
const key = process.env.POLLUX_KEY;
const prefix = process.env.POLLUX_PREFIX;
const model = process.env.POLLUX_MODEL;
const scenario = process.env.POLLUX_SCENARIO;
if (!base || !key || prefix === undefined || !model) {
  throw new Error("POLLUX_URL, POLLUX_KEY, POLLUX_PREFIX and POLLUX_MODEL must be set");
}

// maxRetries 0: every failure shows at once instead of being retried.
const client = new Anthropic({ baseURL: `${base}${prefix}`, apiKey: key, maxRetries: 0 });
const summary = {};
const user = (text) => ({ role: "user", content: text });
const text = (msg) => msg.content.filter((b) => b.type === "text").map((b) => b.text).join("");

async function basic() {
  const unary = await client.messages.create({ model, max_tokens: 64, system: "Be brief.", messages: [user("Say hello.")] });
  summary.unary = {
    type: unary.type,
    role: unary.role,
    model: unary.model,
    text: text(unary),
    stopReason: unary.stop_reason,
    outputTokens: unary.usage.output_tokens,
  };

  const stream = await client.messages.create({ model, max_tokens: 64, messages: [user("Say hello.")], stream: true });
  const events = [];
  let streamed = "";
  for await (const ev of stream) {
    events.push(ev.type);
    if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") {
      streamed += ev.delta.text;
    }
  }
  summary.stream = { events, text: streamed };

  const helper = client.messages.stream({ model, max_tokens: 64, messages: [user("Say hello.")] });
  let helperText = "";
  helper.on("text", (t) => {
    helperText += t;
  });
  const final = await helper.finalMessage();
  summary.helper = { deltaText: helperText, text: text(final), stopReason: final.stop_reason };

  const counted = await client.messages.countTokens({ model, messages: [user("How many tokens is this?")] });
  summary.countTokens = counted.input_tokens;

  const ids = [];
  for await (const m of client.models.list()) {
    ids.push(m.id);
  }
  summary.models = ids;

  try {
    await client.messages.create({ model: "claude-not-served", max_tokens: 8, messages: [user("hi")] });
    summary.unknownModel = { thrown: false };
  } catch (err) {
    summary.unknownModel = { thrown: true, status: err.status ?? null, type: err.error?.error?.type ?? null };
  }
}

const weatherTool = {
  name: "get_weather",
  description: "The weather in a city.",
  input_schema: {
    $schema: "http://json-schema.org/draft-07/schema#",
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
};

async function tools() {
  const messages = [user("What is the weather in Paris?")];
  const first = await client.messages.create({ model, max_tokens: 256, tools: [weatherTool], messages });
  const call = first.content.find((b) => b.type === "tool_use");
  summary.first = { stopReason: first.stop_reason, types: first.content.map((b) => b.type), call: call ?? null };
  if (!call) {
    return;
  }
  messages.push({ role: "assistant", content: first.content });
  messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "sunny, 21 C" }] });
  // The second turn streams, through the helper.
  const second = await client.messages.stream({ model, max_tokens: 256, tools: [weatherTool], messages }).finalMessage();
  summary.second = { stopReason: second.stop_reason, text: text(second) };
}

async function thinking() {
  const helper = client.messages.stream({
    model,
    max_tokens: 4096,
    thinking: { type: "enabled", budget_tokens: 2048 },
    tools: [weatherTool],
    messages: [user("Weather in Paris and Tokyo?")],
  });
  let thinkingDelta = "";
  helper.on("thinking", (d) => {
    thinkingDelta += d;
  });
  const final = await helper.finalMessage();
  const th = final.content.find((b) => b.type === "thinking");
  summary.thinking = {
    types: final.content.map((b) => b.type),
    thinkingDelta,
    thinking: th?.thinking ?? null,
    signature: th?.signature ?? null,
    calls: final.content.filter((b) => b.type === "tool_use").map((b) => ({ id: b.id, name: b.name, input: b.input })),
    stopReason: final.stop_reason,
  };
}

switch (scenario) {
  case "basic":
    await basic();
    break;
  case "tools":
    await tools();
    break;
  case "thinking":
    await thinking();
    break;
  default:
    throw new Error(`unknown POLLUX_SCENARIO ${scenario}`);
}
process.stdout.write(JSON.stringify(summary));
