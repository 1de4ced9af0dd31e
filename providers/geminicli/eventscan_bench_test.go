package geminicli

import (
	"strings"
	"testing"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// benchEvents are Code Assist stream events as the upstream writes them:
// a text delta, a delta that repeats the running usage (as Gemini does on
// every chunk of some models), and the final chunk.
var benchEvents = []struct{ name, data string }{
	{"delta", `{"response": {"candidates": [{"content": {"role": "model","parts": [{"text": "` + strings.Repeat("The quick brown fox jumps over the lazy dog. ", 4) + `\n"}]}}],"modelVersion": "gemini-2.5-pro","createTime": "2026-12-06T12:00:00.123456Z","responseId": "aBcDeFgHiJkLmNoP"},"traceId": "0123456789abcdef"}`},
	{"delta_with_usage", `{"response": {"candidates": [{"content": {"role": "model","parts": [{"text": "` + strings.Repeat("The quick brown fox jumps over the lazy dog. ", 4) + `"}]}}],"usageMetadata": {"promptTokenCount": 1234,"candidatesTokenCount": 56,"totalTokenCount": 1390,"thoughtsTokenCount": 100,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 1234}]},"modelVersion": "gemini-2.5-pro","createTime": "2026-12-06T12:00:00.123456Z","responseId": "aBcDeFgHiJkLmNoP"},"traceId": "0123456789abcdef"}`},
	{"final", `{"response": {"candidates": [{"content": {"role": "model","parts": [{"text": ""}]},"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 1234,"candidatesTokenCount": 200,"totalTokenCount": 1634,"thoughtsTokenCount": 200,"cachedContentTokenCount": 1024,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 1234}]},"modelVersion": "gemini-2.5-pro","createTime": "2026-12-06T12:00:00.123456Z","responseId": "aBcDeFgHiJkLmNoP"},"traceId": "0123456789abcdef"}`},
}

// BenchmarkTranslateEvent measures the unwrap and summary of one stream
// event: "scan" is the one pass translateEvent does now, "encoding_json"
// the decode it falls back to (the code before issue 15, kept whole).
func BenchmarkTranslateEvent(b *testing.B) {
	for _, ev := range benchEvents {
		data := []byte(ev.data)
		b.Run(ev.name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := decodeEvent(fuzzNow, data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(ev.name+"/scan", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := translateEvent(fuzzNow, sse.Event{Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnwrapResponse measures a unary reply's unwrap: "scan" is
// UnwrapResponse now, "encoding_json" its former decode.
func BenchmarkUnwrapResponse(b *testing.B) {
	body := []byte(benchEvents[2].data)
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeResponse(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := UnwrapResponse(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
