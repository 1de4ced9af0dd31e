// Drives the official @google/genai SDK against Pollux's Gemini surface and
// prints one JSON summary on stdout for conformance_test.go to check.
//
// Environment: POLLUX_URL (http://host:port), POLLUX_KEY, and optionally
// POLLUX_API_VERSION (unset: the SDK's own default) and POLLUX_PREFIX (the
// base URL's path; unset: /geminicli, "" the one base URL at the root).
import { GoogleGenAI } from "@google/genai";

const base = process.env.POLLUX_URL;
const key = process.env.POLLUX_KEY;
const apiVersion = process.env.POLLUX_API_VERSION;
if (!base || !key) {
  throw new Error("POLLUX_URL and POLLUX_KEY must be set");
}

// Record the method and path of every request the SDK makes (never the
// query: it could carry the key).
const requests = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  requests.push(`${init?.method ?? input.method ?? "GET"} ${url.pathname}`);
  return realFetch(input, init);
};

const httpOptions = { baseUrl: `${base}${process.env.POLLUX_PREFIX ?? "/geminicli"}` };
if (apiVersion) {
  httpOptions.apiVersion = apiVersion;
}
const ai = new GoogleGenAI({ apiKey: key, httpOptions });
const model = "gemini-2.5-pro";
const summary = {};

const unary = await ai.models.generateContent({ model, contents: "Say hello." });
summary.generate = {
  text: unary.text,
  finishReason: unary.candidates?.[0]?.finishReason ?? null,
  totalTokens: unary.usageMetadata?.totalTokenCount ?? null,
};

const stream = await ai.models.generateContentStream({ model, contents: "Say hello slowly." });
const chunks = [];
for await (const chunk of stream) {
  chunks.push({
    text: chunk.text ?? "",
    finishReason: chunk.candidates?.[0]?.finishReason ?? null,
  });
}
summary.stream = { chunks, ended: true };

const names = [];
const pager = await ai.models.list();
for await (const m of pager) {
  names.push(m.name);
}
summary.models = names;

const counted = await ai.models.countTokens({ model, contents: "How many tokens is this?" });
summary.countTokens = counted.totalTokens ?? null;

try {
  await ai.models.generateContent({ model: "gemini-not-served", contents: "hi" });
  summary.unknownModel = { thrown: false };
} catch (err) {
  summary.unknownModel = { thrown: true, status: err.status ?? null, name: err.name, message: String(err.message) };
}

summary.requests = requests;
process.stdout.write(JSON.stringify(summary) + "\n");
