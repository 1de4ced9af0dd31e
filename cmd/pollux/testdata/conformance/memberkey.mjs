// Drives both official SDKs with member keys that allow one request per
// minute: each SDK is served once, then refused with the key's own 429.
// Prints one JSON summary on stdout for conformance_test.go to check.
//
// Environment: POLLUX_URL (http://host:port), POLLUX_GEMINI_KEY and
// POLLUX_OPENAI_KEY (member keys).
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";

const base = process.env.POLLUX_URL;
const geminiKey = process.env.POLLUX_GEMINI_KEY;
const openaiKey = process.env.POLLUX_OPENAI_KEY;
if (!base || !geminiKey || !openaiKey) {
  throw new Error("POLLUX_URL, POLLUX_GEMINI_KEY and POLLUX_OPENAI_KEY must be set");
}

// @google/genai does not expose response headers on its errors: note the
// Retry-After of the last response the SDK received.
let lastRetryAfter = null;
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const resp = await realFetch(input, init);
  lastRetryAfter = resp.headers.get("retry-after");
  return resp;
};

const summary = {};

const ai = new GoogleGenAI({ apiKey: geminiKey, httpOptions: { baseUrl: `${base}/geminicli` } });
const served = await ai.models.generateContent({ model: "gemini-2.5-pro", contents: "Say hello." });
summary.gemini = { servedText: served.text };
try {
  await ai.models.generateContent({ model: "gemini-2.5-pro", contents: "Say hello again." });
  summary.gemini.limited = { thrown: false };
} catch (err) {
  summary.gemini.limited = { thrown: true, status: err.status ?? null, message: String(err.message), retryAfter: lastRetryAfter };
}

// maxRetries 0: the SDK would otherwise wait out the Retry-After and retry.
const client = new OpenAI({ baseURL: `${base}/codex/v1`, apiKey: openaiKey, maxRetries: 0 });
const first = await client.responses.create({ model: "gpt-5.2-codex", input: "Say hello." });
summary.openai = { servedStatus: first.status };
try {
  await client.responses.create({ model: "gpt-5.2-codex", input: "Say hello again." });
  summary.openai.limited = { thrown: false };
} catch (err) {
  const header = (name) => (typeof err.headers?.get === "function" ? err.headers.get(name) : err.headers?.[name]) ?? null;
  summary.openai.limited = {
    thrown: true,
    status: err.status ?? null,
    name: err.constructor?.name ?? err.name,
    message: err.error?.message ?? String(err.message),
    retryAfter: header("retry-after"),
    limitRequests: header("x-ratelimit-limit-requests"),
    remainingRequests: header("x-ratelimit-remaining-requests"),
  };
}

process.stdout.write(JSON.stringify(summary) + "\n");
