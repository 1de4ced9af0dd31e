package geminicli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/egress"
	"github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
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

// nodeUA is the User-Agent of a Code Assist call with the default versions:
// the CLI's own, then google-auth-library's product token.
func nodeUA(model string) string {
	return "GeminiCLI/" + DefaultCLIVersion + "/" + model + " (" + nodePlatform(runtime.GOOS) + "; " +
		nodeArch(runtime.GOARCH) + "; terminal) google-api-nodejs-client/" + DefaultAuthLibraryVersion
}

// codeAssistHeaders is the header set of a v1internal call through the
// CLI's CodeAssistServer (google-auth-library, gaxios, node-fetch).
func codeAssistHeaders(model, accept string) map[string]string {
	return map[string]string{
		"Accept":            accept,
		"Accept-Encoding":   "gzip, deflate, br",
		"Authorization":     "<bearer>",
		"Connection":        "keep-alive",
		"Content-Type":      "application/json",
		"User-Agent":        nodeUA(model),
		"X-Goog-Api-Client": "gl-node/" + DefaultNodeVersion,
	}
}

// headerSet is what the fake saw, Authorization reduced to its scheme and
// Content-Length dropped (Go and Node both derive it from the body).
func headerSet(t *testing.T, h http.Header) map[string]string {
	t.Helper()
	got := map[string]string{}
	for name, vals := range h {
		if len(vals) != 1 {
			t.Errorf("header %s sent %d times", name, len(vals))
		}
		switch name {
		case "Content-Length":
			continue
		case "Authorization":
			if !strings.HasPrefix(vals[0], "Bearer ya29.") {
				t.Errorf("Authorization = %q, want the access token", vals[0])
			}
			got[name] = "<bearer>"
			continue
		}
		got[name] = vals[0]
	}
	return got
}

// assertNoPollux fails on any header name or value that names Pollux.
func assertNoPollux(t *testing.T, call string, h http.Header) {
	t.Helper()
	for name, vals := range h {
		if strings.Contains(strings.ToLower(name+" "+strings.Join(vals, " ")), "pollux") {
			t.Errorf("%s: header %s: %v names Pollux", call, name, vals)
		}
	}
}

// TestUpstreamHeaderSets pins, for every kind of call Pollux makes to
// Google, the exact header set the Gemini CLI's Node stack sends for the
// same call (sources listed in nodeheaders.go), with nothing naming Pollux:
// the token calls (code exchange and refresh), userinfo, the onboarding
// calls and their operation poll, the quota call and the three model calls.
func TestUpstreamHeaderSets(t *testing.T) {
	env := newEnv(t)
	env.fake.OmitIDToken(true) // so the exchange asks userinfo
	env.fake.AddAccount("1//rt-headers", fakeupstream.Account{
		Email: "h@example.com", Sub: "sub-h", ManagedProject: "managed-h", OnboardPolls: 1,
	})
	env.fake.AddAuthCode("4/code-h", "1//rt-headers")
	ctx := context.Background()

	cred, err := env.c.Exchange(ctx, "4/code-h", oauth2.GenerateVerifier(), "http://localhost:8188/oauth2callback")
	if err != nil {
		t.Fatal(err)
	}
	cred.ID = 7
	cred, err = env.c.Onboard(ctx, cred)
	if err != nil {
		t.Fatal(err)
	}
	g := providers.Grant{CredentialID: 7, AccessToken: cred.AccessToken, Account: cred.Account}
	for _, call := range []*providers.Call{
		{Model: "gemini-2.5-pro", Method: MethodGenerate, Body: []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)},
		{Model: "gemini-2.5-flash", Method: MethodGenerate, Stream: true, Body: []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)},
		{Model: "gemini-2.5-pro", Method: MethodCountTokens, Body: []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)},
	} {
		resp, err := env.c.Send(ctx, g, call)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	if _, err := env.c.ReadQuota(ctx, g); err != nil {
		t.Fatal(err)
	}

	token := map[string]string{
		"Accept":            "*/*",
		"Accept-Encoding":   "gzip, deflate, br",
		"Connection":        "keep-alive",
		"Content-Type":      "application/x-www-form-urlencoded;charset=UTF-8",
		"User-Agent":        "google-api-nodejs-client/" + DefaultAuthLibraryVersion,
		"X-Goog-Api-Client": "gl-node/" + DefaultNodeVersion,
	}
	userinfo := map[string]string{
		"Accept":          "*/*",
		"Accept-Encoding": "br, gzip, deflate",
		"Accept-Language": "*",
		"Authorization":   "<bearer>",
		"Connection":      "keep-alive",
		"Sec-Fetch-Mode":  "cors",
		"User-Agent":      "node",
	}
	// Calls about no model (onboarding, quota) name the first configured one.
	onboarding := codeAssistHeaders("gemini-2.5-pro", "application/json")
	want := map[string]map[string]string{
		"POST /token":                            token,
		"GET /userinfo":                          userinfo,
		"POST /v1internal:loadCodeAssist":        onboarding,
		"POST /v1internal:onboardUser":           onboarding,
		"GET /v1internal/operations/":            onboarding,
		"POST /v1internal:retrieveUserQuota":     onboarding,
		"POST /v1internal:countTokens":           codeAssistHeaders("gemini-2.5-pro", "application/json"),
		"POST /v1internal:generateContent":       codeAssistHeaders("gemini-2.5-pro", "application/json"),
		"POST /v1internal:streamGenerateContent": codeAssistHeaders("gemini-2.5-flash", "*/*"),
	}
	seen := map[string]int{}
	for _, r := range env.fake.Requests() {
		kind := r.Method + " " + r.Path
		if strings.HasPrefix(r.Path, "/v1internal/operations/") {
			kind = r.Method + " /v1internal/operations/"
		}
		w, ok := want[kind]
		if !ok {
			t.Errorf("unexpected call %s", kind)
			continue
		}
		seen[kind]++
		if diff := cmp.Diff(w, headerSet(t, r.Header)); diff != "" {
			t.Errorf("%s header set (-want +got):\n%s", kind, diff)
		}
		assertNoPollux(t, kind, r.Header)
	}
	for kind := range want {
		if seen[kind] == 0 {
			t.Errorf("no %s call was made; the test does not cover it", kind)
		}
	}
	if seen["POST /token"] < 2 {
		t.Errorf("token calls = %d, want the exchange and a refresh", seen["POST /token"])
	}
}

// TestUpstreamHeaderSetTraceHeader: the configured trace header is the one
// addition to a model call's set.
func TestUpstreamHeaderSetTraceHeader(t *testing.T) {
	env := newEnv(t)
	env.c.traceHeader = "X-Trace"
	g := env.grant(t, "1//rt-trace", "proj-t")
	g.Email, g.LeaseID = "a@example.com", 42
	resp, err := env.c.Send(context.Background(), g, &providers.Call{
		Model: "gemini-2.5-pro", Method: MethodGenerate,
		Body: []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	reqs := env.fake.RequestsTo("/v1internal:generateContent")
	if len(reqs) != 1 {
		t.Fatalf("generate calls = %d, want 1", len(reqs))
	}
	want := codeAssistHeaders("gemini-2.5-pro", "application/json")
	want["X-Trace"] = "geminicli:a@example.com:42"
	if diff := cmp.Diff(want, headerSet(t, reqs[0].Header)); diff != "" {
		t.Errorf("header set (-want +got):\n%s", diff)
	}
	assertNoPollux(t, "generateContent", reqs[0].Header)
}

// TestConfiguredStackVersions: node_version and auth_library_version reach
// the headers.
func TestConfiguredStackVersions(t *testing.T) {
	env := newEnv(t)
	env.c.nodeVersion, env.c.authLibVersion = "24.11.1", "10.5.0"
	g := env.grant(t, "1//rt-versions", "proj-v")
	tok := env.fake.RequestsTo("/token")[0].Header
	if got := tok.Get("User-Agent"); got != "google-api-nodejs-client/10.5.0" {
		t.Errorf("token User-Agent = %q", got)
	}
	if got := tok.Get("X-Goog-Api-Client"); got != "gl-node/24.11.1" {
		t.Errorf("token x-goog-api-client = %q", got)
	}
	if _, err := env.c.ReadQuota(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	q := env.fake.RequestsTo("/v1internal:retrieveUserQuota")[0].Header
	if got := q.Get("User-Agent"); !strings.HasSuffix(got, "; terminal) google-api-nodejs-client/10.5.0") {
		t.Errorf("quota User-Agent = %q", got)
	}
}

// TestTokenCallsUseTheEgressProxy: the token call headers are set on the
// configured egress client, so refreshes still go through the proxy, and
// arrive there with the Node stack's headers.
func TestTokenCallsUseTheEgressProxy(t *testing.T) {
	fake := fakeupstream.New()
	fake.AddAccount("1//rt-proxy", fakeupstream.Account{Email: "p@example.com", Sub: "sub-p", Tier: "standard-tier", Project: "proj-p"})
	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.Method+" "+r.URL.Host+r.URL.Path+" "+r.Header.Get("User-Agent"))
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	hc, err := egress.NewClient(egress.Options{Proxy: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	const upstream = "http://google.invalid" // reachable only through the proxy
	c := New(config.Provider{
		ModelList: []string{"gemini-2.5-pro"}, CustomAPIURL: upstream,
		OAuthAuthURL: upstream + "/auth", OAuthTokenURL: upstream + "/token", OAuthUserInfoURL: upstream + "/userinfo",
	}, hc, zap.NewNop())
	if _, err := c.Refresh(context.Background(), providers.Credential{ID: 1, RefreshToken: "1//rt-proxy"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"POST google.invalid/token google-api-nodejs-client/" + DefaultAuthLibraryVersion}
	if diff := cmp.Diff(want, proxied); diff != "" {
		t.Errorf("calls through the proxy (-want +got):\n%s", diff)
	}
}
