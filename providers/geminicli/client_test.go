package geminicli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// readAll reads and closes a response body.
func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestModels(t *testing.T) {
	env := newEnv(t)
	m := env.c.Models()
	m[0] = "mutated"
	if diff := cmp.Diff([]string{"gemini-2.5-pro", "gemini-2.5-flash"}, env.c.Models()); diff != "" {
		t.Errorf("Models is not a copy (-want +got):\n%s", diff)
	}
}

func TestSend(t *testing.T) {
	cliBody := readTestdata(t, "envelope/cli_request.json")
	countBody := []byte(`{"contents":[{"role":"user","parts":[{"text":"count me"}]}]}`)
	ua := "GeminiCLI/9.9.9/gemini-2.5-pro (" + nodePlatform(runtime.GOOS) + "; " + nodeArch(runtime.GOARCH) + "; terminal) google-api-nodejs-client/" + DefaultAuthLibraryVersion
	tests := []struct {
		name       string
		call       providers.Call
		wantPath   string
		wantQuery  string
		wantAccept string
		// check inspects the upstream request body and the reply.
		check func(t *testing.T, upstream, reply []byte)
	}{
		{
			name:       "generateContent",
			call:       providers.Call{Model: "gemini-2.5-pro", Method: MethodGenerate, Body: cliBody},
			wantPath:   "/v1internal:generateContent",
			wantAccept: "application/json",
			check: func(t *testing.T, upstream, reply []byte) {
				checkGenerateEnvelope(t, upstream, cliBody)
				inner, err := UnwrapResponse(reply)
				if err != nil {
					t.Fatal(err)
				}
				var r struct {
					Candidates []struct {
						Content struct {
							Parts []struct{ Text string }
						}
					}
				}
				if err := json.Unmarshal(inner, &r); err != nil || len(r.Candidates) != 1 || r.Candidates[0].Content.Parts[0].Text != "echo: gemini-2.5-pro" {
					t.Errorf("unwrapped reply = %s, want the echo candidate", inner)
				}
				if got, want := UsageOf(inner), (&Usage{Prompt: 4, Candidates: 3, Total: 7}); !cmp.Equal(got, want) {
					t.Errorf("usage = %+v, want %+v", got, want)
				}
			},
		},
		{
			name:       "streamGenerateContent by method",
			call:       providers.Call{Model: "gemini-2.5-pro", Method: MethodStream, Stream: true, Body: cliBody},
			wantPath:   "/v1internal:streamGenerateContent",
			wantQuery:  "alt=sse",
			wantAccept: "*/*", // gaxios sets none for a stream: node-fetch's default
			check: func(t *testing.T, upstream, reply []byte) {
				checkGenerateEnvelope(t, upstream, cliBody)
				if !bytes.HasPrefix(reply, []byte("data: ")) {
					t.Errorf("reply is not SSE: %.80s", reply)
				}
			},
		},
		{
			name:       "generateContent with Stream set streams",
			call:       providers.Call{Model: "models/gemini-2.5-pro", Method: MethodGenerate, Stream: true, Body: cliBody},
			wantPath:   "/v1internal:streamGenerateContent",
			wantQuery:  "alt=sse",
			wantAccept: "*/*", // gaxios sets none for a stream: node-fetch's default
			check: func(t *testing.T, upstream, _ []byte) {
				checkGenerateEnvelope(t, upstream, cliBody)
			},
		},
		{
			name:       "countTokens",
			call:       providers.Call{Model: "gemini-2.5-pro", Method: MethodCountTokens, Body: countBody},
			wantPath:   "/v1internal:countTokens",
			wantAccept: "application/json",
			check: func(t *testing.T, upstream, reply []byte) {
				want := `{"request":{"model":"models/gemini-2.5-pro","contents":[{"role":"user","parts":[{"text":"count me"}]}]}}`
				if string(upstream) != want {
					t.Errorf("upstream body = %s, want %s", upstream, want)
				}
				out, err := UnwrapCountTokens(reply)
				if err != nil {
					t.Fatal(err)
				}
				var r struct{ TotalTokens int }
				if err := json.Unmarshal(out, &r); err != nil || r.TotalTokens == 0 {
					t.Errorf("countTokens reply = %s, want totalTokens", out)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, WithCLIVersion("9.9.9"))
			g := env.grant(t, "1//rt-send", "proj-send")
			resp, err := env.c.Send(context.Background(), g, &tt.call)
			if err != nil {
				t.Fatal(err)
			}
			reply := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, body %s", resp.StatusCode, reply)
			}
			reqs := env.fake.RequestsTo(tt.wantPath)
			if len(reqs) != 1 {
				t.Fatalf("requests to %s = %d, want 1", tt.wantPath, len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Query != tt.wantQuery {
				t.Errorf("request = %s ?%s, want POST ?%s", r.Method, r.Query, tt.wantQuery)
			}
			for k, v := range map[string]string{
				"Authorization": "Bearer " + g.AccessToken.Reveal(),
				"Content-Type":  "application/json",
				"User-Agent":    ua,
				"Accept":        tt.wantAccept,
			} {
				if got := r.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			tt.check(t, r.Body, reply)
			if got := env.fake.GenerateCalls(g.AccessToken.Reveal()); tt.call.Method != MethodCountTokens && got != 1 {
				t.Errorf("generate calls = %d, want 1", got)
			}
		})
	}
}

// checkGenerateEnvelope asserts the envelope shape and that the client body
// sits inside it byte for byte.
func checkGenerateEnvelope(t *testing.T, upstream, clientBody []byte) {
	t.Helper()
	var env struct {
		Model        string          `json:"model"`
		Project      string          `json:"project"`
		UserPromptID string          `json:"user_prompt_id"`
		Request      json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(upstream, &env); err != nil {
		t.Fatalf("envelope: %v", err)
	}
	if env.Model != "gemini-2.5-pro" || env.Project != "proj-send" || env.UserPromptID == "" {
		t.Errorf("envelope model %q project %q prompt id %q", env.Model, env.Project, env.UserPromptID)
	}
	if !bytes.Equal(env.Request, bytes.TrimSpace(clientBody)) {
		t.Errorf("request is not the client body byte for byte:\n got: %s\nwant: %s", env.Request, clientBody)
	}
	for _, keep := range []string{`"parametersJsonSchema"`, `"thoughtSignature":"skip_thought_signature_validator"`, `"id":"call_7f3a"`, `"x_future_field"`, `"temperature":1.0`} {
		if !bytes.Contains(env.Request, []byte(keep)) {
			t.Errorf("request lost %s", keep)
		}
	}
}

func TestSendRejects(t *testing.T) {
	env := newEnv(t)
	g := providers.Grant{AccessToken: "ya29.unused", Account: "p"}
	tests := []struct {
		name    string
		call    providers.Call
		wantErr error
	}{
		{"body not an object", providers.Call{Model: "m", Method: MethodGenerate, Body: []byte(`[1]`)}, ErrInvalidBody},
		{"unknown method", providers.Call{Model: "m", Method: "embedContent", Body: []byte(`{}`)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.c.Send(context.Background(), g, &tt.call)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if n := len(env.fake.Requests()); n != 0 {
		t.Errorf("upstream saw %d requests, want none", n)
	}
}

func TestSendUpstreamErrors(t *testing.T) {
	rateLimited := readTestdata(t, "errors/429_rate_limit_retryinfo.json")
	tests := []struct {
		name     string
		setup    func(e *testEnv)
		token    config.Secret // empty: a valid token
		project  string
		wantKind providers.Kind
		wantAt   time.Time
	}{
		{
			name:     "unknown access token is 401",
			token:    "ya29.never-issued",
			project:  "p",
			wantKind: providers.KindAuthExpired,
		},
		{
			name:     "expired access tokens are 401",
			setup:    func(e *testEnv) { e.fake.ExpireAccessTokens() },
			project:  "p",
			wantKind: providers.KindAuthExpired,
		},
		{
			name:     "scripted 429",
			setup:    func(e *testEnv) { e.fake.ScriptGenerate(fakeupstream.Response{Status: 429, Body: string(rateLimited)}) },
			project:  "p",
			wantKind: providers.KindRateLimited,
			wantAt:   testNow.Add(54 * time.Second),
		},
		{
			name:     "envelope without project is 400",
			project:  "",
			wantKind: providers.KindBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			g := env.grant(t, "1//rt-e", tt.project)
			if tt.token != "" {
				g.AccessToken = tt.token
			}
			if tt.setup != nil {
				tt.setup(env)
			}
			resp, err := env.c.Send(context.Background(), g, &providers.Call{Model: "gemini-2.5-pro", Method: MethodGenerate, Body: []byte(`{"contents":[]}`)})
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			got := env.c.Classify(resp.StatusCode, resp.Header, body)
			if got.Kind != tt.wantKind || !got.RetryAt.Equal(tt.wantAt) {
				t.Errorf("outcome = %s RetryAt %v (status %d), want %s RetryAt %v", got.Kind, got.RetryAt, resp.StatusCode, tt.wantKind, tt.wantAt)
			}
		})
	}
}

// TestSendContextCancelsUpstream holds a stream open on a gate that never
// opens; cancelling the context must end the read.
func TestSendContextCancelsUpstream(t *testing.T) {
	env := newEnv(t)
	g := env.grant(t, "1//rt-c", "p")
	never := make(chan struct{})
	env.fake.ScriptStream(fakeupstream.Stream{Events: []fakeupstream.Event{{Data: `{"response":{}}`, Gate: never}}})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := env.c.Send(ctx, g, &providers.Call{Model: "gemini-2.5-pro", Method: MethodStream, Stream: true, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: err = %v, want context.Canceled", err)
	}
}
