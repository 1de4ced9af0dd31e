package transport

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkRoot compares each root route with the same request on the
// pool's own prefix, in one run: the difference is what the one base URL
// adds (reading the body before the surface, peekModel, the routing
// lookup). Compare cpu-ns/op (the whole process: client, Pollux, fake
// upstream), ns/op and allocs/op within each pair. The "large" pair sends
// a Claude Code-sized body (~30 KB) with the model last.
func BenchmarkRoot(b *testing.B) {
	h := newBenchHarness(b)
	bearer := map[string]string{"Authorization": "Bearer " + harnessKey}
	gemBody := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	turn := `{"role":"user","content":[{"type":"text","text":"` + strings.Repeat("lorem ipsum dolor sit amet ", 40) + `"}]},{"role":"assistant","content":"ok"},`
	large := `{"max_tokens":64,"stream":true,"messages":[` + strings.Repeat(turn, 26) + `{"role":"user","content":"hi"}],"model":"gemini-2.5-pro"}`
	msgStream := `{"model":"gpt-5.2-codex","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name, path, body string
		hdr              map[string]string
	}{
		{"codex-responses-stream/pool", "/codex/v1/responses", `{"model":"gpt-5.2-codex","input":"hi","stream":true}`, bearer},
		{"codex-responses-stream/root", "/v1/responses", `{"model":"gpt-5.2-codex","input":"hi","stream":true}`, bearer},
		{"gemini-chat-stream/pool", "/geminicli/v1beta/openai/chat/completions", chatBody("gemini-2.5-pro", true), bearer},
		{"gemini-chat-stream/root", "/v1/chat/completions", chatBody("gemini-2.5-pro", true), bearer},
		{"codex-messages-stream/pool", "/codex/v1/messages", msgStream, anthropicBenchHeaders},
		{"codex-messages-stream/root", "/v1/messages", msgStream, anthropicBenchHeaders},
		{"gemini-messages-large/pool", "/geminicli/v1/messages", large, anthropicBenchHeaders},
		{"gemini-messages-large/root", "/v1/messages", large, anthropicBenchHeaders},
		{"gemini-stream/pool", "/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", gemBody, bearer},
		{"gemini-stream/root", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", gemBody, bearer},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest(http.MethodPost, h.ts.URL+c.path, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				for k, v := range c.hdr {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK {
					body, _ := io.ReadAll(resp.Body)
					b.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				_ = resp.Body.Close()
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
