// Drives the official openai SDK against Pollux's OpenAI Responses surface
// and prints one JSON summary on stdout for conformance_test.go to check.
//
// Environment: POLLUX_URL (http://host:port), POLLUX_KEY, and
// POLLUX_SCENARIO: "basic" (unary, stream: true, the responses.stream()
// helper, models.list, an unknown model) or "tools" (a function-call round
// trip).
import OpenAI from "openai";

const base = process.env.POLLUX_URL;
const key = process.env.POLLUX_KEY;
const scenario = process.env.POLLUX_SCENARIO;
if (!base || !key) {
  throw new Error("POLLUX_URL and POLLUX_KEY must be set");
}

// maxRetries 0: every failure shows at once instead of being retried.
const client = new OpenAI({ baseURL: `${base}/codex/v1`, apiKey: key, maxRetries: 0 });
const model = "gpt-5.2-codex";
const summary = {};

async function basic() {
  const unary = await client.responses.create({ model, input: "Say hello." });
  summary.unary = {
    object: unary.object,
    status: unary.status,
    id: unary.id,
    outputText: unary.output_text,
    totalTokens: unary.usage?.total_tokens ?? null,
  };

  const stream = await client.responses.create({ model, input: "Say hello.", stream: true });
  const events = [];
  let text = "";
  for await (const ev of stream) {
    events.push(ev.type);
    if (ev.type === "response.output_text.delta") {
      text += ev.delta;
    }
  }
  summary.stream = { events, text };

  const helper = client.responses.stream({ model, input: "Say hello." });
  const helperEvents = [];
  let helperText = "";
  helper.on("response.output_text.delta", (ev) => {
    helperText += ev.delta;
  });
  for await (const ev of helper) {
    helperEvents.push(ev.type);
  }
  const final = await helper.finalResponse();
  summary.helper = {
    events: helperEvents,
    deltaText: helperText,
    status: final.status,
    outputTypes: final.output.map((item) => item.type),
    outputText: final.output_text,
  };

  const ids = [];
  for await (const m of client.models.list()) {
    ids.push(m.id);
  }
  summary.models = ids;

  try {
    await client.responses.create({ model: "gpt-not-served", input: "hi" });
    summary.unknownModel = { thrown: false };
  } catch (err) {
    summary.unknownModel = {
      thrown: true,
      status: err.status ?? null,
      name: err.constructor?.name ?? err.name,
      code: err.code ?? null,
      type: err.type ?? null,
    };
  }
}

async function tools() {
  const tool = {
    type: "function",
    name: "get_weather",
    description: "Current weather in a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false,
    },
    strict: true,
  };
  const question = { role: "user", content: "What is the weather in Paris?" };
  const first = await client.responses.create({ model, input: [question], tools: [tool] });
  const call = first.output.find((item) => item.type === "function_call");
  summary.first = {
    status: first.status,
    outputTypes: first.output.map((item) => item.type),
    call: call ? { callId: call.call_id, name: call.name, arguments: call.arguments } : null,
  };
  if (!call) {
    return;
  }
  const args = JSON.parse(call.arguments);
  const second = await client.responses.create({
    model,
    tools: [tool],
    input: [
      question,
      call,
      { type: "function_call_output", call_id: call.call_id, output: JSON.stringify({ city: args.city, sky: "sunny" }) },
    ],
  });
  summary.second = { status: second.status, outputText: second.output_text };
}

switch (scenario) {
  case "basic":
    await basic();
    break;
  case "tools":
    await tools();
    break;
  default:
    throw new Error(`unknown POLLUX_SCENARIO ${JSON.stringify(scenario)}`);
}
process.stdout.write(JSON.stringify(summary) + "\n");
