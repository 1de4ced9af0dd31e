package codex

import (
	"strings"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// Codex events as the backend writes them for a short answer (store=false:
// the final output is empty, the items come in output_item.done).
var (
	benchText      = strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8)
	benchItemData  = []byte(`{"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":{"id":"msg_0123456789abcdef","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"` + benchText + `","annotations":[]}]}}`)
	benchCompleted = []byte(`{"type":"response.completed","sequence_number":9,"response":{"id":"resp_0123456789abcdef","object":"response","created_at":1700000000,"status":"completed","model":"gpt-5.2-codex","instructions":"` + strings.Repeat("You are a coding agent. ", 40) + `","tools":[],"reasoning":{"effort":"medium","summary":"auto"},"store":false,"output":[],"usage":{"input_tokens":1234,"input_tokens_details":{"cached_tokens":1024},"output_tokens":56,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":1290}}}`)
)

// BenchmarkCodexEvent measures reading the events Pollux inspects: "scan"
// is the one pass the code does now, "encoding_json" the decode it falls
// back to (the code before issue 15, kept whole).
func BenchmarkCodexEvent(b *testing.B) {
	now := time.Unix(1700000000, 0)
	completed := sse.Event{Name: EventCompleted, Data: benchCompleted}
	item := sse.Event{Name: eventOutputItemDone, Data: benchItemData}
	b.Run("completed/encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if info, _ := decodeTerminal(EventInfo{Type: EventCompleted, Terminal: true, Completed: true}, benchCompleted); info.Usage == nil {
				b.Fatal("no usage")
			}
		}
	})
	b.Run("completed/scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if info, _ := inspect(completed, now); info.Usage == nil {
				b.Fatal("no usage")
			}
		}
	})
	b.Run("output_item/encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeOutputItem(benchItemData); !ok {
				b.Fatal("no item")
			}
		}
	})
	b.Run("output_item/scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := readOutputItem(benchItemData); !ok {
				b.Fatal("no item")
			}
		}
	})
	var backfill OutputBackfill
	backfill.Observe(item, InspectEvent(item))
	b.Run("backfill/encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			backfill.completeDecoded(benchCompleted)
		}
	})
	b.Run("backfill/scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			backfill.Complete(benchCompleted)
		}
	})
	delta := sse.Event{Name: "response.output_text.delta", Data: []byte(`{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_0123456789abcdef","output_index":0,"content_index":0,"delta":"The quick"}`)}
	b.Run("delta", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			InspectEvent(delta)
		}
	})
}
