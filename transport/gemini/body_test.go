package gemini

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers/geminicli"
)

// TestGeminiSessionAffinity checks the affinity key taken from a body.
func TestGeminiSessionAffinity(t *testing.T) {
	long := strings.Repeat("s", maxAffinityLen+1)
	cases := []struct {
		name string
		body string
		want string
	}{
		{"none", `{"contents":[]}`, ""},
		{"top level", `{"contents":[],"session_id":"sess-42"}`, "sess-42"},
		{"nested only", `{"tools":[{"parametersJsonSchema":{"properties":{"session_id":{"type":"string"}}}}]}`, ""},
		{"in text only", `{"contents":[{"parts":[{"text":"the \"session_id\" field"}]}]}`, ""},
		{"not a string", `{"session_id":42}`, ""},
		{"empty", `{"session_id":""}`, ""},
		{"long is hashed", `{"session_id":"` + long + `"}`, "sha256:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := sessionAffinity([]byte(tc.body))
			if tc.want == "sha256:" {
				if !strings.HasPrefix(got, "sha256:") || len(got) != len("sha256:")+64 {
					t.Errorf("affinity = %q, want a sha256 digest", got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("affinity = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestGeminiReplyUsage checks the usage read of generateContent replies,
// including replies where the fast path must fall back.
func TestGeminiReplyUsage(t *testing.T) {
	cases := []struct {
		name  string
		reply string
		want  *geminicli.Usage
	}{
		{"usage last", `{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}],` +
			`"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":3,"totalTokenCount":7},"modelVersion":"m"}`,
			&geminicli.Usage{Prompt: 4, Candidates: 3, Total: 7}},
		{"thoughts", `{"candidates":[],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":20,"totalTokenCount":35}}`,
			&geminicli.Usage{Prompt: 10, Candidates: 5, Thoughts: 20, Total: 35}},
		{"no usage", `{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}`, nil},
		{"model text mentions the key", `{"candidates":[{"content":{"parts":[{"text":"see \"usageMetadata\""}]}}]}`, nil},
		{"key nested after the real one", `{"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1},` +
			`"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"usageMetadata":{"promptTokenCount":99}}}}]}}]}`,
			&geminicli.Usage{Prompt: 2, Candidates: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, replyUsage([]byte(tc.reply))); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}
