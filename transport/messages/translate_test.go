package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/providers/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// stubGemini reads Code Assist events with the package's translator and
// keeps no signatures.
type stubGemini struct{}

func (stubGemini) TranslateEvent(ev sse.Event) (geminicli.StreamEvent, error) {
	return geminicli.TranslateEvent(ev)
}
func (stubGemini) RecordSignatures([]byte) {}

// testTranslator is a pool's translator with fixed ids.
func testTranslator(pool string, out sink) translator {
	n := 0
	b := builder{out: out, model: "test-model", id: "msg_fixed"}
	if pool == PoolGemini {
		return &geminiStream{up: stubGemini{}, t: geminiTranslator{b: b, newID: func() string {
			n++
			return fmt.Sprintf("toolu_%02d", n)
		}}}
	}
	return &codexStream{t: codexTranslator{b: b}}
}

// runRecorded feeds a recorded upstream stream through a pool's
// translator into out.
func runRecorded(t *testing.T, pool, file string, out sink) translator {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	tr := testTranslator(pool, out)
	r := sse.NewReader(bytes.NewReader(raw))
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		done, fail, err := tr.event(ev)
		if err != nil || fail != nil {
			t.Fatalf("event: fail %v, err %v", fail, err)
		}
		if done {
			break
		}
	}
	return tr
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

// TestGoldenStreams: recorded upstream streams (thinking with a signature,
// text, parallel tool calls, streamed arguments, cached and reasoning
// usage) become the Anthropic stream in the golden file, and the unary
// message built from the same events.
func TestGoldenStreams(t *testing.T) {
	for _, tc := range []struct{ pool, in, name string }{
		{PoolGemini, "gemini_tools_thinking.sse", "gemini_tools_thinking"},
		{PoolCodex, "codex_tools_reasoning.sse", "codex_tools_reasoning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sseSink
			runRecorded(t, tc.pool, tc.in, &s)
			golden(t, tc.name+".stream.golden", s.buf)

			var col collector
			runRecorded(t, tc.pool, tc.in, &col)
			if !col.done {
				t.Fatal("collector saw no message_stop")
			}
			msg, err := json.MarshalIndent(col.msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".message.golden", append(msg, '\n'))
		})
	}
}

// TestTranslateAnswerEnds: each upstream ending as Anthropic's stop_reason
// and usage.
func TestTranslateAnswerEnds(t *testing.T) {
	for _, tc := range []struct {
		name, pool string
		events     []sse.Event
		stop       string
		usage      usage
	}{
		{"gemini STOP", PoolGemini, []sse.Event{{Data: []byte(`{"response":{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":3,"cachedContentTokenCount":4}}}`)}},
			stopEndTurn, usage{InputTokens: 6, OutputTokens: 3, CacheReadInputTokens: 4}},
		{"gemini MAX_TOKENS", PoolGemini, []sse.Event{{Data: []byte(`{"response":{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"thoughtsTokenCount":2}}}`)}},
			stopMaxTokens, usage{InputTokens: 5, OutputTokens: 9, reasoning: 2}},
		{"gemini SAFETY", PoolGemini, []sse.Event{{Data: []byte(`{"response":{"candidates":[{"finishReason":"SAFETY"}]}}`)}},
			stopRefusal, usage{}},
		{"codex completed", PoolCodex, []sse.Event{{Name: "response.completed", Data: []byte(`{"type":"response.completed","response":{"id":"r","status":"completed","usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":2},"output_tokens":4,"output_tokens_details":{"reasoning_tokens":1}}}}`)}},
			stopEndTurn, usage{InputTokens: 7, OutputTokens: 4, CacheReadInputTokens: 2, reasoning: 1}},
		{"codex incomplete at max_output_tokens", PoolCodex, []sse.Event{{Name: "response.incomplete", Data: []byte(`{"type":"response.incomplete","response":{"id":"r","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":3,"output_tokens":8}}}`)}},
			stopMaxTokens, usage{InputTokens: 3, OutputTokens: 8}},
		{"codex incomplete by the content filter", PoolCodex, []sse.Event{{Name: "response.incomplete", Data: []byte(`{"type":"response.incomplete","response":{"id":"r","status":"incomplete","incomplete_details":{"reason":"content_filter"}}}`)}},
			stopRefusal, usage{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var col collector
			tr := testTranslator(tc.pool, &col)
			for _, ev := range tc.events {
				if _, fail, err := tr.event(ev); err != nil || fail != nil {
					t.Fatalf("fail %v err %v", fail, err)
				}
			}
			if !col.done || col.msg.StopReason == nil {
				t.Fatal("no message_stop")
			}
			if *col.msg.StopReason != tc.stop {
				t.Errorf("stop_reason %s, want %s", *col.msg.StopReason, tc.stop)
			}
			if col.msg.Usage != tc.usage {
				t.Errorf("usage %+v, want %+v", col.msg.Usage, tc.usage)
			}
		})
	}
}
