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
