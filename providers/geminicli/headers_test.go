package geminicli

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
)

// TestUserAgentUsesNodeNames: the Gemini CLI is a Node program; its
// User-Agent names the platform and architecture as Node does (x64, not
// amd64; win32, not windows) (issue 11).
func TestUserAgentUsesNodeNames(t *testing.T) {
	tests := []struct {
		goos, goarch string
		want         string
	}{
		{"linux", "amd64", "GeminiCLI/0.61.0/gemini-2.5-pro (linux; x64; terminal)"},
		{"linux", "arm64", "GeminiCLI/0.61.0/gemini-2.5-pro (linux; arm64; terminal)"},
		{"darwin", "arm64", "GeminiCLI/0.61.0/gemini-2.5-pro (darwin; arm64; terminal)"},
		{"darwin", "amd64", "GeminiCLI/0.61.0/gemini-2.5-pro (darwin; x64; terminal)"},
		{"windows", "amd64", "GeminiCLI/0.61.0/gemini-2.5-pro (win32; x64; terminal)"},
		{"windows", "386", "GeminiCLI/0.61.0/gemini-2.5-pro (win32; ia32; terminal)"},
		{"freebsd", "amd64", "GeminiCLI/0.61.0/gemini-2.5-pro (freebsd; x64; terminal)"},
	}
	for _, tc := range tests {
		t.Run(tc.goos+"/"+tc.goarch, func(t *testing.T) {
			if got := userAgentFor("0.61.0", "gemini-2.5-pro", tc.goos, tc.goarch); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestUpstreamHeaderSet pins every header a v1internal call carries, in
// order of values, with and without the configured trace header; nothing
// names Pollux.
func TestUpstreamHeaderSet(t *testing.T) {
	ua := "GeminiCLI/" + DefaultCLIVersion + "/gemini-2.5-pro (" + nodePlatform(runtime.GOOS) + "; " + nodeArch(runtime.GOARCH) + "; terminal)"
	tests := []struct {
		name   string
		trace  string
		stream bool
		want   map[string]string // beyond Authorization and Content-Length
	}{
		{"generateContent", "", false, map[string]string{
			"Accept": "application/json", "Accept-Encoding": "gzip", "Content-Type": "application/json", "User-Agent": ua}},
		{"streamGenerateContent", "", true, map[string]string{
			"Accept": "text/event-stream", "Accept-Encoding": "gzip", "Content-Type": "application/json", "User-Agent": ua}},
		{"with trace header", "X-Trace", false, map[string]string{
			"Accept": "application/json", "Accept-Encoding": "gzip", "Content-Type": "application/json", "User-Agent": ua,
			"X-Trace": "geminicli:a@example.com:42"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			env.c.traceHeader = tc.trace
			g := env.grant(t, "1//rt-headers", "proj-h")
			g.Email, g.LeaseID = "a@example.com", 42
			resp, err := env.c.Send(context.Background(), g, &providers.Call{
				Model: "gemini-2.5-pro", Method: MethodGenerate, Stream: tc.stream,
				Body: []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`),
			})
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			reqs := env.fake.Requests()
			r := reqs[len(reqs)-1]
			got := map[string]string{}
			for name, vals := range r.Header {
				if len(vals) != 1 {
					t.Errorf("header %s sent %d times", name, len(vals))
				}
				if name == "Authorization" || name == "Content-Length" {
					continue
				}
				got[name] = vals[0]
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("header set (-want +got):\n%s", diff)
			}
			if r.Header.Get("Authorization") != "Bearer "+g.AccessToken.Reveal() {
				t.Error("Authorization is not the lease's bearer token")
			}
			names := make([]string, 0, len(r.Header))
			for name, vals := range r.Header {
				names = append(names, name)
				if strings.Contains(strings.ToLower(name+strings.Join(vals, "")), "pollux") {
					t.Errorf("header %s: %v names Pollux", name, vals)
				}
			}
			slices.Sort(names)
			t.Logf("headers sent: %v", names)
		})
	}
}
