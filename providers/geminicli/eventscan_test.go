package geminicli

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// TestScanEvent covers what the one-pass reading of an event finds, and
// which events it leaves to encoding/json (ok false).
func TestScanEvent(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		ok       bool
		resp     string // "" with ok: no response
		finished bool
		usage    *Usage
	}{
		{name: "text delta", ok: true,
			data: `{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi \"there\" \\ \u00e9\n"}]}}]},"traceId":"t1"}`,
			resp: `{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi \"there\" \\ \u00e9\n"}]}}]}`},
		{name: "finish reason and usage, whitespace around", ok: true,
			data:     " { \"response\" : { \"candidates\" : [ { \"finishReason\" : \"STOP\" } ] , \"usageMetadata\" : { \"promptTokenCount\" : 3 , \"totalTokenCount\" : 9 , \"cachedContentTokenCount\" : 1 , \"promptTokensDetails\" : [ { \"modality\" : \"TEXT\" } ] } } } ",
			resp:     "{ \"candidates\" : [ { \"finishReason\" : \"STOP\" } ] , \"usageMetadata\" : { \"promptTokenCount\" : 3 , \"totalTokenCount\" : 9 , \"cachedContentTokenCount\" : 1 , \"promptTokensDetails\" : [ { \"modality\" : \"TEXT\" } ] } }",
			finished: true, usage: &Usage{Prompt: 3, Total: 9, Cached: 1}},
		{name: "finish reason on the second candidate", ok: true,
			data: `{"response":{"candidates":[{"index":0},{"index":1,"finishReason":"MAX_TOKENS"}]}}`,
			resp: `{"candidates":[{"index":0},{"index":1,"finishReason":"MAX_TOKENS"}]}`, finished: true},
		{name: "empty finish reason is not a finish", ok: true,
			data: `{"response":{"candidates":[{"finishReason":""}]}}`, resp: `{"candidates":[{"finishReason":""}]}`},
		{name: "escaped finish reason", ok: true,
			data: `{"response":{"candidates":[{"finishReason":"\u0053TOP"}]}}`, resp: `{"candidates":[{"finishReason":"\u0053TOP"}]}`, finished: true},
		{name: "the keys deep inside a function call's args are not the summary", ok: true,
			data: `{"response":{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"finishReason":"x","usageMetadata":{"promptTokenCount":5}}}}]}}]}}`,
			resp: `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"finishReason":"x","usageMetadata":{"promptTokenCount":5}}}}]}}]}`},
		{name: "usage before candidates, negative and zero counts", ok: true,
			data:  `{"response":{"usageMetadata":{"thoughtsTokenCount":-1,"candidatesTokenCount":0},"candidates":[]}}`,
			resp:  `{"usageMetadata":{"thoughtsTokenCount":-1,"candidatesTokenCount":0},"candidates":[]}`,
			usage: &Usage{Thoughts: -1}},
		{name: "metadata only", ok: true, data: `{"traceId":"t","metadata":{"x":[1,2]}}`},
		{name: "null response", ok: true, data: `{"response":null}`},
		{name: "empty response object", ok: true, data: `{"response":{}}`, resp: `{}`},

		{name: "error object", data: `{"error":{"code":429}}`},
		{name: "null error still goes to encoding/json", data: `{"error":null,"response":{}}`},
		{name: "truncated", data: `{"response":{"candidates":[`},
		{name: "truncated string", data: `{"response":{"candidates":[{"content":"ab`},
		{name: "trailing garbage", data: `{"response":{}} x`},
		{name: "not an object", data: `[{"response":{}}]`},
		{name: "response is a string", data: `{"response":"hi"}`},
		{name: "duplicate response", data: `{"response":{},"response":{"a":1}}`},
		{name: "escaped key", data: `{"respons\u0065":{}}`},
		{name: "key in another case", data: `{"Response":{}}`},
		{name: "candidates not an array", data: `{"response":{"candidates":{}}}`},
		{name: "null candidate", data: `{"response":{"candidates":[null]}}`},
		{name: "finish reason not a string", data: `{"response":{"candidates":[{"finishReason":1}]}}`},
		{name: "duplicate finish reason", data: `{"response":{"candidates":[{"finishReason":"STOP","finishReason":""}]}}`},
		{name: "usage count is a fraction", data: `{"response":{"usageMetadata":{"promptTokenCount":1.5}}}`},
		{name: "usage count out of range", data: `{"response":{"usageMetadata":{"promptTokenCount":9223372036854775808}}}`},
		{name: "usage count is a string", data: `{"response":{"usageMetadata":{"promptTokenCount":"3"}}}`},
		{name: "duplicate usage", data: `{"response":{"usageMetadata":{},"usageMetadata":{}}}`},
		{name: "usage key in another case", data: `{"response":{"usageMetadata":{"PromptTokenCount":1}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, sum, ok := scanEvent([]byte(tc.data))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if string(resp) != tc.resp || (resp == nil) != (tc.resp == "") {
				t.Errorf("response = %q, want %q", resp, tc.resp)
			}
			if sum.finished != tc.finished {
				t.Errorf("finished = %v, want %v", sum.finished, tc.finished)
			}
			var usage *Usage
			if sum.hasUsage {
				usage = &sum.usage
			}
			if diff := cmp.Diff(tc.usage, usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			// Whatever the scan finds, encoding/json finds too.
			checkScanAgrees(t, []byte(tc.data))
		})
	}
}

var fuzzNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// checkScanAgrees holds translateEvent (the scan, with its fallback),
// UnwrapResponse and UsageOf to their encoding/json versions.
func checkScanAgrees(t *testing.T, data []byte) {
	t.Helper()
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 {
		got, gotErr := translateEvent(fuzzNow, sse.Event{Data: data})
		want, wantErr := decodeEvent(fuzzNow, trimmed)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("event %q: error %v, encoding/json: %v", data, gotErr, wantErr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("event %q (-encoding/json +scan):\n%s", data, diff)
		}
	}
	got, gotErr := UnwrapResponse(data)
	want, wantErr := decodeResponse(data)
	if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("UnwrapResponse(%q) = %q, %v; encoding/json: %q, %v", data, got, gotErr, want, wantErr)
	}
	if diff := cmp.Diff(decodeUsageOf(data), UsageOf(data)); diff != "" {
		t.Fatalf("UsageOf(%q) (-encoding/json +scan):\n%s", data, diff)
	}
}

// FuzzScanEvent holds the one-pass reading of Code Assist events to
// encoding/json: the same response bytes, finish, usage, failure and error
// for any input, well-formed or not.
func FuzzScanEvent(f *testing.F) {
	for _, seed := range []string{
		`{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]}}]},"traceId":"t1"}`,
		`{"response":{"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"c2ln"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":27,"thoughtsTokenCount":12,"cachedContentTokenCount":2},"modelVersion":"gemini-2.5-pro"}}`,
		`{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`,
		`{"response":null}`, `{"traceId":"t"}`, `{"response":{"candidates":[null]}}`,
		`{"response":{"candidates":[{"finishReason":"STOP"}],"candidates":[{}]}}`,
		`{"response":{"usageMetadata":{"promptTokenCount":5},"usageMetadata":{"totalTokenCount":3}}}`,
		`{"Response":{"CANDIDATES":[{"finishreason":"x"}]}}`, `{"response":{"usageMetadata":{"promptTokenCount":1e2}}}`,
		`{"response":`, `{"response":"x"}`, `[]`, `null`, " {\"response\" : {} } ",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanAgrees(t, data)
	})
}
