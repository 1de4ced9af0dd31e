package transport

import (
	"io"
	"net/http"
	rtmetrics "runtime/metrics"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkProxy measures one proxied request end to end over loopback
// (client → Pollux → fake upstream), next to the same request sent straight
// to the fake upstream in the same run: the difference is Pollux's cost.
// Compare ns/op and allocs/op between each "direct" and "pollux" pair.
func BenchmarkProxy(b *testing.B) {
	h := newBenchHarness(b)
	gemBody := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	at := h.geminiAccessToken(b)
	direct := `{"model":"gemini-2.5-pro","project":"proj-bench-g","user_prompt_id":"x","request":` + gemBody + `}`
	cases := []struct {
		name, url, body string
		hdr             map[string]string
	}{
		{"gemini-stream/direct", h.gupstream.URL + "/v1internal:streamGenerateContent?alt=sse", direct, map[string]string{"Authorization": "Bearer " + at}},
		{"gemini-stream/pollux", h.ts.URL + "/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", gemBody, map[string]string{"Authorization": "Bearer " + harnessKey}},
		{"gemini-generate/direct", h.gupstream.URL + "/v1internal:generateContent", direct, map[string]string{"Authorization": "Bearer " + at}},
		{"gemini-generate/pollux", h.ts.URL + "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", gemBody, map[string]string{"Authorization": "Bearer " + harnessKey}},
		{"codex-stream/pollux", h.ts.URL + "/codex/v1/responses", `{"model":"gpt-5.2-codex","input":"hi","stream":true}`, map[string]string{"Authorization": "Bearer " + harnessKey}},
		// The Anthropic Messages surface over each pool: compare with the
		// native pollux case of the same pool.
		{"gemini-messages-stream/pollux", h.ts.URL + "/geminicli/v1/messages", `{"model":"gemini-2.5-pro","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, anthropicBenchHeaders},
		{"gemini-messages/pollux", h.ts.URL + "/geminicli/v1/messages", `{"model":"gemini-2.5-pro","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, anthropicBenchHeaders},
		{"codex-messages-stream/pollux", h.ts.URL + "/codex/v1/messages", `{"model":"gpt-5.2-codex","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, anthropicBenchHeaders},
		// The Chat Completions surface over each pool, to compare with the
		// native surface's case above (same upstream answer).
		{"gemini-stream/chat", h.ts.URL + "/geminicli/v1beta/openai/chat/completions", chatBody("gemini-2.5-pro", true), map[string]string{"Authorization": "Bearer " + harnessKey}},
		{"gemini-generate/chat", h.ts.URL + "/geminicli/v1beta/openai/chat/completions", chatBody("gemini-2.5-pro", false), map[string]string{"Authorization": "Bearer " + harnessKey}},
		{"codex-stream/chat", h.ts.URL + "/codex/v1/chat/completions", chatBody("gpt-5.2-codex", true), map[string]string{"Authorization": "Bearer " + harnessKey}},
		{"codex-unary/pollux", h.ts.URL + "/codex/v1/responses", `{"model":"gpt-5.2-codex","input":"hi"}`, map[string]string{"Authorization": "Bearer " + harnessKey}},
		{"codex-unary/chat", h.ts.URL + "/codex/v1/chat/completions", chatBody("gpt-5.2-codex", false), map[string]string{"Authorization": "Bearer " + harnessKey}},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0, g0 := processCPU(b), goroutinesCreated()
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader(c.body))
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
			// CPU of the whole process (client, Pollux and fake upstream)
			// per request: what a surface's translation adds shows as the
			// difference between two cases in one run.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			// Goroutines started per request in the whole process.
			b.ReportMetric(float64(goroutinesCreated()-g0)/float64(b.N), "goroutines/op")
		})
	}
}

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []rtmetrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// anthropicBenchHeaders are an Anthropic SDK's key and version headers.
var anthropicBenchHeaders = map[string]string{"x-api-key": harnessKey, "anthropic-version": "2023-06-01"}

// chatBody is a one-message Chat Completions body.
func chatBody(model string, stream bool) string {
	s := "false"
	if stream {
		s = "true"
	}
	return `{"model":"` + model + `","stream":` + s + `,"messages":[{"role":"user","content":"hi"}]}`
}

// benchHarness is a harness with quiet logs and no request recording.
type benchHarness struct{ *harness }

func newBenchHarness(b *testing.B) benchHarness {
	b.Helper()
	h := newHarnessTB(b, harnessOptions{logger: zap.NewNop()})
	h.gfake.SetRecord(false)
	h.cfake.SetRecord(false)
	h.addGemini("bench-g")
	h.addCodex("bench-c")
	return benchHarness{h}
}

func (h benchHarness) geminiAccessToken(b *testing.B) string {
	b.Helper()
	resp, err := h.gupstream.Client().PostForm(h.gupstream.URL+"/token", map[string][]string{
		"grant_type": {"refresh_token"}, "refresh_token": {"bench-g"}, "client_id": {"x"}})
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	_, rest, _ := strings.Cut(string(body), `"access_token":"`)
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}
