package codex

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers/sse"
)

func TestScanTerminal(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		ok    bool
		resp  string
		usage *Usage
	}{
		{name: "completed with usage", ok: true,
			data:  `{"type":"response.completed","sequence_number":9,"response":{"id":"r","output":[{"type":"message","content":[{"type":"output_text","text":"a \"b\" \\ \u00e9"}]}],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":17}}}`,
			resp:  `{"id":"r","output":[{"type":"message","content":[{"type":"output_text","text":"a \"b\" \\ \u00e9"}]}],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":17}}`,
			usage: &Usage{InputTokens: 10, OutputTokens: 7, TotalTokens: 17, CachedTokens: 4, ReasoningTokens: 2}},
		{name: "no usage", ok: true, data: ` { "response" : { "id" : "r" } } `, resp: `{ "id" : "r" }`},
		{name: "usage deep in the output is not the usage", ok: true,
			data: `{"response":{"output":[{"usage":{"input_tokens":99}}]}}`, resp: `{"output":[{"usage":{"input_tokens":99}}]}`},
		{name: "no response member", ok: true, data: `{"type":"response.completed"}`},
		{name: "null response", data: `{"response":null}`},
		{name: "response not an object", data: `{"response":[]}`},
		{name: "duplicate response", data: `{"response":{},"response":{}}`},
		{name: "null usage", data: `{"response":{"usage":null}}`},
		{name: "usage count a fraction", data: `{"response":{"usage":{"input_tokens":1.0}}}`},
		{name: "details not an object", data: `{"response":{"usage":{"input_tokens_details":[]}}}`},
		{name: "duplicate count", data: `{"response":{"usage":{"total_tokens":1,"total_tokens":2}}}`},
		{name: "usage in another case", data: `{"response":{"Usage":{}}}`},
		{name: "escaped key", data: `{"respons\u0065":{}}`},
		{name: "truncated", data: `{"response":{"usage":{"input_tokens":1`},
		{name: "trailing garbage", data: `{"response":{}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, usage, ok := scanTerminal([]byte(tc.data))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if string(resp) != tc.resp {
				t.Errorf("response = %q, want %q", resp, tc.resp)
			}
			if diff := cmp.Diff(tc.usage, usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			checkCodexScanAgrees(t, []byte(tc.data))
		})
	}
}

func TestScanTypeAndItem(t *testing.T) {
	if typ, ok := scanType([]byte(` {"sequence_number":1, "type" : "response.completed"}`)); !ok || typ != EventCompleted {
		t.Errorf("scanType = %q, %v", typ, ok)
	}
	for _, odd := range []string{`{"type":"a","type":"b"}`, `{"type":"\u0061"}`, `{"Type":"a"}`, `{"type":1}`, `{"type":`} {
		if _, ok := scanType([]byte(odd)); ok {
			t.Errorf("scanType(%s) ok; want it left to encoding/json", odd)
		}
	}
	it, ok := scanOutputItem([]byte(`{"type":"response.output_item.done","item":{"id":"x","content":[]},"output_index":3}`))
	if !ok || it.Index != 3 || string(it.Item) != `{"id":"x","content":[]}` {
		t.Errorf("scanOutputItem = %+v, %v", it, ok)
	}
	for _, odd := range []string{`{"output_index":1.5,"item":{}}`, `{"item":{},"item":{}}`, `{"Item":{}}`, `{"output_index":"1"}`} {
		if _, ok := scanOutputItem([]byte(odd)); ok {
			t.Errorf("scanOutputItem(%s) ok; want it left to encoding/json", odd)
		}
	}
}

func TestCompleteSplice(t *testing.T) {
	items := []outputItem{{Index: 1, Item: []byte(`{"id":"b"}`)}, {Index: 0, Item: []byte(` {"id":"a"} `)}}
	tests := []struct {
		name, data, want string
	}{
		{"empty output", `{"type":"response.completed","response":{"id":"r","output":[],"usage":{"total_tokens":3}}}`,
			`{"type":"response.completed","response":{"id":"r","output":[{"id":"a"},{"id":"b"}],"usage":{"total_tokens":3}}}`},
		{"empty output with space", `{"response":{"output":[ ] ,"id":"r"}}`, `{"response":{"output":[{"id":"a"},{"id":"b"}] ,"id":"r"}}`},
		{"null output", `{"response":{"id":"r","output":null}}`, `{"response":{"id":"r","output":[{"id":"a"},{"id":"b"}]}}`},
		{"missing output", `{"response":{"id":"r"} }`, `{"response":{"id":"r","output":[{"id":"a"},{"id":"b"}]} }`},
		{"empty response", `{"response":{ }}`, `{"response":{ "output":[{"id":"a"},{"id":"b"}]}}`},
		{"filled output unchanged", `{"response":{"output":[{"id":"x"}]}}`, `{"response":{"output":[{"id":"x"}]}}`},
		{"output not an array unchanged", `{"response":{"output":"x"}}`, `{"response":{"output":"x"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := OutputBackfill{items: slices.Clone(items)}
			if got := b.Complete([]byte(tc.data)); string(got) != tc.want {
				t.Fatalf("Complete = %s\nwant       %s", got, tc.want)
			}
		})
	}
	for _, odd := range []string{`{"response":{"output":[1]},"response":{}}`, `{"type":"x"}`, `{"response":{"output":[],"output":[]}}`, `{"response":{"Output":[]}}`, `{"response":[]}`} {
		if _, ok := findOutput([]byte(odd)); ok {
			t.Errorf("findOutput(%s) ok; want it left to encoding/json", odd)
		}
	}
}

// checkCodexScanAgrees holds every one-pass reading of a Codex event to
// its encoding/json version.
func checkCodexScanAgrees(t *testing.T, data []byte) {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, typ := range []string{EventCompleted, EventIncomplete} {
		gotInfo, gotResp := inspect(sse.Event{Name: typ, Data: data}, now)
		wantInfo, wantResp := decodeTerminal(EventInfo{Type: typ, Terminal: true, Completed: typ == EventCompleted}, data)
		if diff := cmp.Diff(wantInfo, gotInfo); diff != "" {
			t.Fatalf("%s %q (-encoding/json +scan):\n%s", typ, data, diff)
		}
		if !bytes.Equal(gotResp, wantResp) {
			t.Fatalf("%s %q: response %q, encoding/json %q", typ, data, gotResp, wantResp)
		}
	}
	if typ, ok := scanType(data); ok && typ != decodeType(data) {
		t.Fatalf("type of %q = %q, encoding/json %q", data, typ, decodeType(data))
	}
	gotItem, gotOK := readOutputItem(data)
	wantItem, wantOK := decodeOutputItem(data)
	if gotOK != wantOK || gotItem.Index != wantItem.Index || !bytes.Equal(gotItem.Item, wantItem.Item) {
		t.Fatalf("output item of %q = %+v %v, encoding/json %+v %v", data, gotItem, gotOK, wantItem, wantOK)
	}
	// The splice keeps the upstream's member order where the decode sorted
	// the members: the two must mean the same JSON, and be the same bytes
	// whenever the data is left alone.
	b := OutputBackfill{items: []outputItem{{Index: 1, Item: []byte(`{"id":"j"}`)}, {Index: 0, Item: []byte(`{"id":"i"}`)}}}
	got, want := b.Complete(data), b.completeDecoded(data)
	if bytes.Equal(want, data) != bytes.Equal(got, data) {
		t.Fatalf("Complete(%q) = %q, encoding/json %q", data, got, want)
	}
	if !bytes.Equal(got, want) {
		var g, w any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !cmp.Equal(g, w) {
			t.Fatalf("Complete(%q) = %q, encoding/json %q", data, got, want)
		}
	}
}

// FuzzScanCodexEvent holds the one-pass reading of Codex events (terminal
// usage and response, type, output items, the backfill check) to
// encoding/json on any input.
func FuzzScanCodexEvent(f *testing.F) {
	for _, seed := range []string{
		`{"type":"response.completed","response":{"id":"r","output":[],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":17}}}`,
		`{"type":"response.output_item.done","output_index":1,"item":{"id":"x","type":"message"}}`,
		`{"type":"response.output_text.delta","delta":"hi","item_id":"x"}`,
		`{"response":{"output":[{"id":"a"}]}}`, `{"response":{"usage":{"input_tokens_details":{"cached_tokens":1},"input_tokens_details":{}}}}`,
		`{"response":null}`, `{"item":null}`, `{"output_index":-1}`, `{"Response":{"Usage":{"Input_Tokens":1}}}`,
		`{"response":`, `[]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCodexScanAgrees(t, data)
	})
}

// TestCompleteNullResponse: a terminal event whose "response" is null,
// after observed items, made backfillOutput assign into the nil map
// "null" decodes to and panic (found by FuzzScanCodexEvent, issue 15). The
// data now comes back unchanged.
func TestCompleteNullResponse(t *testing.T) {
	var b OutputBackfill
	b.Observe(sse.Event{Data: []byte(`{"type":"response.output_item.done","output_index":0,"item":{"id":"a"}}`)}, EventInfo{Type: eventOutputItemDone})
	data := []byte(`{"type":"response.completed","response":null}`)
	if got := b.Complete(data); !bytes.Equal(got, data) {
		t.Fatalf("Complete = %q, want the data unchanged", got)
	}
}
