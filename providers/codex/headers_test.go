package codex

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// testPlatform fixes the machine description so header sets can be pinned.
var testPlatform = platform{osType: "Ubuntu", osVersion: "24.04", arch: "x86_64"}

// TestUpstreamHeaderSet pins every header a Codex backend call carries, as
// the Codex CLI sends them: its originator, its User-Agent form
// "<originator>/<version> (<os> <os version>; <arch>) <terminal>", the
// version header, and nothing that names Pollux (issue 11).
func TestUpstreamHeaderSet(t *testing.T) {
	const ours = "codex_cli_rs/9.9.9 (Ubuntu 24.04; x86_64) unknown"
	tests := []struct {
		name  string
		in    http.Header
		trace string
		want  map[string]string // beyond Authorization and Content-Length
	}{
		{
			name: "sdk client",
			in:   http.Header{"User-Agent": {"OpenAI/Python 1.99.0"}},
			want: map[string]string{
				"Accept": "text/event-stream", "Accept-Encoding": "gzip", "Content-Type": "application/json",
				"Chatgpt-Account-Id": testAccount.ID, "Originator": "codex_cli_rs", "Version": "9.9.9", "User-Agent": ours,
			},
		},
		{
			name: "codex cli keeps its own identity",
			in: http.Header{
				"User-Agent": {"codex_cli_rs/0.170.0 (Mac OS 15.1.0; arm64) iTerm.app/3.5.0"},
				"Originator": {"codex_cli_rs"},
				"Session-Id": {"s-1"},
			},
			want: map[string]string{
				"Accept": "text/event-stream", "Accept-Encoding": "gzip", "Content-Type": "application/json",
				"Chatgpt-Account-Id": testAccount.ID, "Originator": "codex_cli_rs", "Version": "0.170.0",
				"User-Agent": "codex_cli_rs/0.170.0 (Mac OS 15.1.0; arm64) iTerm.app/3.5.0", "Session_id": "s-1",
			},
		},
		{
			name: "originator without a matching user agent gets ours",
			in:   http.Header{"Originator": {"codex_exec"}, "User-Agent": {"curl/8.0"}},
			want: map[string]string{
				"Accept": "text/event-stream", "Accept-Encoding": "gzip", "Content-Type": "application/json",
				"Chatgpt-Account-Id": testAccount.ID, "Originator": "codex_cli_rs", "Version": "9.9.9", "User-Agent": ours,
			},
		},
		{
			name:  "trace header",
			trace: "X-Trace",
			want: map[string]string{
				"Accept": "text/event-stream", "Accept-Encoding": "gzip", "Content-Type": "application/json",
				"Chatgpt-Account-Id": testAccount.ID, "Originator": "codex_cli_rs", "Version": "9.9.9", "User-Agent": ours,
				"X-Trace": "codex:dev@example.com:7",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.client.platform = testPlatform
			h.client.traceHeader = tc.trace
			g := grantOf(h.onboarded(t))
			g.Email, g.LeaseID = "dev@example.com", 7
			resp, err := h.client.Send(t.Context(), g, &providers.Call{Model: "gpt-5-codex", Method: MethodResponses,
				Body: []byte(`{"model":"gpt-5-codex","input":"hi","stream":true}`), Header: tc.in})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			reqs := h.fake.RequestsTo(fakeupstream.Responses)
			r := reqs[len(reqs)-1]
			got := map[string]string{}
			for name, vals := range r.Header {
				if len(vals) != 1 {
					t.Errorf("header %s sent %d times", name, len(vals))
				}
				if strings.Contains(strings.ToLower(name+strings.Join(vals, "")), "pollux") {
					t.Errorf("header %s: %v names Pollux", name, vals)
				}
				if name != "Authorization" && name != "Content-Length" {
					got[name] = vals[0]
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("header set (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOSRelease(t *testing.T) {
	tests := []struct {
		file, wantType, wantVersion string
	}{
		{"NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n", "Debian", "12"},
		{"NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\n", "Ubuntu", "24.04"},
		{"ID=alpine\nVERSION_ID=3.20.1\n", "Alpine Linux", "3.20.1"},
		{"ID=someos\n", "Linux", "Unknown"},
	}
	for _, tc := range tests {
		typ, ver := osRelease(bufio.NewScanner(strings.NewReader(tc.file)))
		if typ != tc.wantType || ver != tc.wantVersion {
			t.Errorf("%q: got %q %q, want %q %q", tc.file, typ, ver, tc.wantType, tc.wantVersion)
		}
	}
}

func TestUnameArch(t *testing.T) {
	for _, tc := range []struct{ goos, goarch, want string }{
		{"linux", "amd64", "x86_64"}, {"linux", "arm64", "aarch64"}, {"darwin", "arm64", "arm64"}, {"darwin", "amd64", "x86_64"},
	} {
		if got := unameArch(tc.goos, tc.goarch); got != tc.want {
			t.Errorf("%s/%s: %q, want %q", tc.goos, tc.goarch, got, tc.want)
		}
	}
}

// TestTokenCallsCarryIdentity: token endpoint calls carry the Codex CLI's
// originator and User-Agent too, not Go's default.
func TestTokenCallsCarryIdentity(t *testing.T) {
	h := newHarness(t)
	h.client.platform = testPlatform
	h.onboarded(t)
	reqs := h.fake.RequestsTo(fakeupstream.Token)
	if len(reqs) == 0 {
		t.Fatal("no token request recorded")
	}
	for _, r := range reqs {
		if r.Header.Get("originator") != "codex_cli_rs" || r.Header.Get("User-Agent") != "codex_cli_rs/9.9.9 (Ubuntu 24.04; x86_64) unknown" {
			t.Errorf("token call headers: originator %q, User-Agent %q", r.Header.Get("originator"), r.Header.Get("User-Agent"))
		}
	}
}

// TestUpstreamHeaderNames: the header map holds every name in the form
// Header.Set would store it (session_id, spelled for the backend, aside),
// and the client headers that pass through are found under theirs.
func TestUpstreamHeaderNames(t *testing.T) {
	c := &Client{platform: testPlatform}
	in := http.Header{}
	for _, name := range []string{"thread-id", "x-client-request-id", "x-codex-turn-metadata", "x-codex-window-id", "x-codex-beta-features", "session_id"} {
		in.Set(name, "v-"+name)
	}
	h := c.upstreamHeader(providers.Grant{Account: "acct-1"}, in, "text/event-stream")
	for name, vals := range h {
		if name != "session_id" && http.CanonicalHeaderKey(name) != name {
			t.Errorf("header %q is not in its canonical form", name)
		}
		if len(vals) != 1 {
			t.Errorf("header %q has %d values", name, len(vals))
		}
	}
	for _, name := range []string{"thread-id", "x-client-request-id", "x-codex-turn-metadata", "x-codex-window-id", "x-codex-beta-features"} {
		if got := h.Get(name); got != "v-"+name {
			t.Errorf("%s = %q, want it passed through", name, got)
		}
	}
	var sid []string
	for name, vals := range h {
		if name == "session_id" { // the backend's spelling, not canonical
			sid = vals
		}
	}
	if len(sid) != 1 || sid[0] != "v-session_id" {
		t.Errorf("session_id = %q", sid)
	}
}
