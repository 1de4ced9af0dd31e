package transport

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// oauthMemStore is an in-memory SettingsStore.
type oauthMemStore struct {
	mu   sync.Mutex
	vals map[string][]byte
}

func newOAuthMemStore() *oauthMemStore { return &oauthMemStore{vals: make(map[string][]byte)} }

func (m *oauthMemStore) Setting(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	return append([]byte(nil), v...), ok, nil
}

func (m *oauthMemStore) PutSetting(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals[key] = append([]byte(nil), value...)
	return nil
}

// oauthClock is a clock the test moves while the server reads it.
type oauthClock struct{ offset atomic.Int64 }

func (c *oauthClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *oauthClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// oauthHarness is a harness with the flows enabled over an in-memory store.
type oauthHarness struct {
	*harness
	clock *oauthClock
	store *oauthMemStore
}

func newOAuthHarness(t *testing.T) *oauthHarness {
	t.Helper()
	oh := &oauthHarness{clock: &oauthClock{}, store: newOAuthMemStore()}
	oh.harness = newHarness(t, harnessOptions{serverSetup: func(s *Server) {
		if err := s.EnableOAuth(context.Background(), oh.store, OAuthOptions{InsecureCookie: true, now: oh.clock.Now}); err != nil {
			t.Fatal(err)
		}
	}})
	return oh
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, like a browser whose next hop the test performs itself.
func (h *harness) oauthBrowser() *http.Client {
	h.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Transport:     h.ts.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// oauthSend does one request with client and returns the status and body.
func oauthSend(t *testing.T, client *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

func oauthGet(t *testing.T, client *http.Client, rawURL string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return oauthSend(t, client, req)
}

// oauthWithCookie sends GET path with exactly one cookie, outside any jar.
func oauthWithCookie(t *testing.T, h *oauthHarness, name, value, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	return oauthSend(t, h.ts.Client(), req)
}

func oauthPaste(t *testing.T, client *http.Client, base string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+oauthPastePath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return oauthSend(t, client, req)
}

var oauthKeyHeader = http.Header{"Authorization": {"Bearer " + harnessKey}}

// startFlow starts a flow at path and returns the authorize URL.
func (h *harness) oauthStart(client *http.Client, path string) *url.URL {
	h.t.Helper()
	return h.oauthStartWith(client, path, oauthKeyHeader)
}

// oauthStartWith is oauthStart sending header (the key) of the caller's
// choice.
func (h *harness) oauthStartWith(client *http.Client, path string, header http.Header) *url.URL {
	h.t.Helper()
	resp, body := oauthGet(h.t, client, h.ts.URL+path, header)
	if resp.StatusCode != http.StatusFound {
		h.t.Fatalf("GET %s: status %d, want 302; body %s", path, resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		h.t.Fatal(err)
	}
	return loc
}

// flowCookie returns the state the browser's flow cookie carries.
func (h *harness) oauthCookie(client *http.Client, provider string) (*http.Cookie, flowState) {
	h.t.Helper()
	u, _ := url.Parse(h.ts.URL)
	for _, ck := range client.Jar.Cookies(u) {
		if ck.Name != cookieName(provider) {
			continue
		}
		payload, _, _ := strings.Cut(ck.Value, ".")
		raw, err := base64.RawURLEncoding.DecodeString(payload)
		if err != nil {
			h.t.Fatal(err)
		}
		var st flowState
		if err := json.Unmarshal(raw, &st); err != nil {
			h.t.Fatal(err)
		}
		return ck, st
	}
	return nil, flowState{}
}

// assertNotLogged fails when any log line contains one of needles.
func (h *harness) oauthNotLogged(needles ...string) {
	h.t.Helper()
	for _, e := range h.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		for _, n := range needles {
			if n != "" && strings.Contains(line, n) {
				h.t.Errorf("log line leaks %q: %s", n, line)
			}
		}
	}
}

// oauthLogged reports whether a log line's message or error says text.
func oauthLogged(h *harness, text string) bool {
	for _, e := range h.logs.All() {
		if strings.Contains(e.Message, text) || strings.Contains(toString(e.ContextMap()["error"]), text) {
			return true
		}
	}
	return false
}

func oauthHas(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q:\n%s", w, body)
		}
	}
}

func oauthLacks(t *testing.T, body string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(body, s) {
			t.Errorf("page contains %q", s)
		}
	}
}

func TestOAuthGeminiFlow(t *testing.T) {
	h := newOAuthHarness(t)
	const refresh, code = "rt-oauth-gemini", "4/0-gemini-auth-code"
	h.gfake.AddAccount(refresh, geminifake.Account{Email: "olivia@example.com", Sub: "sub-olivia", Tier: "standard-tier"})
	h.gfake.AddAuthCode(code, refresh)
	client := h.oauthBrowser()

	loc := h.oauthStart(client, geminiAuthPath+"?project_id=pinned-project")
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, h.gupstream.URL+"/authorize"; got != want {
		t.Errorf("authorize endpoint = %s, want %s", got, want)
	}
	q := loc.Query()
	for k, want := range map[string]string{
		"client_id":             "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
		"code_challenge_method": "S256",
		"access_type":           "offline",
		"prompt":                "consent",
		"response_type":         "code",
		"redirect_uri":          h.ts.URL + "/oauth2callback",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorize %s = %q, want %q", k, got, want)
		}
	}
	_, st := h.oauthCookie(client, providers.GeminiCLI)
	if q.Get("state") == "" || q.Get("state") != st.State {
		t.Errorf("authorize state = %q, cookie state %q", q.Get("state"), st.State)
	}
	if q.Get("code_challenge") == "" || strings.Contains(loc.String(), st.Verifier) {
		t.Errorf("authorize URL must carry a challenge and not the verifier: %s", loc)
	}

	resp, body := oauthGet(t, client, h.ts.URL+"/oauth2callback?"+url.Values{"code": {code}, "state": {q.Get("state")}, "scope": {"email"}}.Encode(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: status %d, want 200; body %s", resp.StatusCode, body)
	}
	oauthHas(t, body, "Account added", "olivia@example.com", "pinned-project", "standard-tier")
	oauthLacks(t, body, refresh, code, "ya29.", st.Verifier)
	if ck, _ := h.oauthCookie(client, providers.GeminiCLI); ck != nil {
		t.Errorf("flow cookie still set after completion")
	}
	if reqs := h.gfake.RequestsTo("/v1internal:loadCodeAssist"); len(reqs) == 0 || !strings.Contains(string(reqs[0].Body), `"pinned-project"`) {
		t.Errorf("loadCodeAssist did not oauthGet the pinned project: %+v", reqs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool := h.sys.Pool(providers.GeminiCLI)
	snap, err := pool.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range snap.Credentials {
		got = append(got, c.Email+"/"+c.Account+"/"+c.Tier)
	}
	if diff := cmp.Diff([]string{"olivia@example.com/pinned-project/standard-tier"}, got); diff != "" {
		t.Errorf("pool credentials (-want +got):\n%s", diff)
	}

	// The new credential serves a request.
	lease, err := pool.Acquire(ctx, "gemini-2.5-pro", actors.AcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	up, err := h.gemini.Send(ctx, lease.Grant, &providers.Call{Model: "gemini-2.5-pro", Method: geminicli.MethodGenerate,
		Body: []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	upBody := readAll(t, up)
	pool.Report(lease, providers.Outcome{Kind: providers.KindOK, Status: up.StatusCode})
	if up.StatusCode != http.StatusOK {
		t.Errorf("generate with the new credential: status %d, body %s", up.StatusCode, upBody)
	}
	h.oauthNotLogged(code, st.Verifier, refresh)
}

func TestOAuthCodexFlow(t *testing.T) {
	tests := []struct {
		name string
		// complete sends the callback address the fake redirected to.
		complete func(t *testing.T, h *harness, client *http.Client, callback *url.URL) (*http.Response, string)
	}{
		{"paste whole address", func(t *testing.T, h *harness, client *http.Client, cb *url.URL) (*http.Response, string) {
			return oauthPaste(t, client, h.ts.URL, url.Values{"callback_url": {cb.String()}})
		}},
		{"paste bare code", func(t *testing.T, h *harness, client *http.Client, cb *url.URL) (*http.Response, string) {
			return oauthPaste(t, client, h.ts.URL, url.Values{"callback_url": {"  " + cb.Query().Get("code") + "\n"}, "provider": {providers.Codex}})
		}},
		{"callback route", func(t *testing.T, h *harness, client *http.Client, cb *url.URL) (*http.Response, string) {
			return oauthGet(t, client, h.ts.URL+codexCallback+"?"+cb.RawQuery, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newOAuthHarness(t)
			h.cfake.SetLoginAccount(codexfake.Account{ID: "acct-casey", Sub: "sub-casey", Email: "casey@example.com", PlanType: "pro"})
			client := h.oauthBrowser()

			loc := h.oauthStart(client, codexAuthPath)
			q := loc.Query()
			if got, want := q.Get("redirect_uri"), "http://localhost:1455/auth/callback"; got != want {
				t.Errorf("redirect_uri = %q, want %q", got, want)
			}
			if got := q.Get("code_challenge_method"); got != "S256" {
				t.Errorf("code_challenge_method = %q, want S256", got)
			}
			_, st := h.oauthCookie(client, providers.Codex)

			// The browser signs in at the fake, which registers the PKCE
			// challenge and sends it to the dead localhost page.
			resp, body := oauthGet(t, client, loc.String(), nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("fake authorize: status %d, body %s", resp.StatusCode, body)
			}
			cb, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if cb.Host != "localhost:1455" || cb.Query().Get("state") != st.State {
				t.Fatalf("fake redirected to %s", cb.Redacted())
			}

			resp, body = tt.complete(t, h.harness, client, cb)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("complete: status %d, want 200; body %s", resp.StatusCode, body)
			}
			oauthHas(t, body, "Account added", "casey@example.com", "acct-casey", "<dd>pro</dd>", "Use a dedicated account")
			live := h.cfake.RefreshToken("acct-casey")
			oauthLacks(t, body, live, cb.Query().Get("code"), st.Verifier, "rt_", "at_")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			snap, err := h.sys.Pool(providers.Codex).Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Credentials) != 1 || snap.Credentials[0].Account != "acct-casey" {
				t.Errorf("codex pool = %+v, want acct-casey", snap.Credentials)
			}
			h.oauthNotLogged(cb.Query().Get("code"), st.Verifier, live)
		})
	}
}

// TestOAuthHeadless drives a flow the way a script would: the JSON start,
// then a paste with the cookie it set.
func TestOAuthHeadless(t *testing.T) {
	h := newOAuthHarness(t)
	h.gfake.AddAccount("rt-headless", geminifake.Account{Email: "h@example.com", Sub: "sub-h", Tier: "standard-tier", Project: "proj-h"})
	h.gfake.AddAuthCode("code-headless", "rt-headless")
	client := h.oauthBrowser()

	resp, body := oauthGet(t, client, h.ts.URL+geminiAuthPath+"?format=json", oauthKeyHeader)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start: status %d, body %s", resp.StatusCode, body)
	}
	var start struct {
		AuthorizeURL string `json:"authorize_url"`
		PasteURL     string `json:"paste_url"`
	}
	if err := json.Unmarshal([]byte(body), &start); err != nil {
		t.Fatal(err)
	}
	if want := h.ts.URL + "/oauth/paste?provider=geminicli"; start.PasteURL != want {
		t.Errorf("paste_url = %q, want %q", start.PasteURL, want)
	}
	au, err := url.Parse(start.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	resp, body = oauthGet(t, client, start.PasteURL, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("paste form: status %d, body %s", resp.StatusCode, body)
	}
	oauthHas(t, body, `name="callback_url"`, `value="geminicli"`, "Gemini CLI")

	pasted := au.Query().Get("redirect_uri") + "?state=" + au.Query().Get("state") + "&code=code-headless"
	resp, body = oauthPaste(t, client, h.ts.URL, url.Values{"callback_url": {pasted}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("paste: status %d, body %s", resp.StatusCode, body)
	}
	oauthHas(t, body, "h@example.com", "proj-h")
}

// TestOAuthStartPage covers the start page variant and the key handling of
// the start routes.
func TestOAuthStartPage(t *testing.T) {
	h := newOAuthHarness(t)
	client := h.oauthBrowser()

	resp, body := oauthGet(t, client, h.ts.URL+codexAuthPath+"?format=html&key="+harnessKey, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start page: status %d, body %s", resp.StatusCode, body)
	}
	oauthHas(t, body, "http://localhost:1455/auth/callback", `href="/oauth/paste?provider=codex"`, "oauth/authorize")
	oauthLacks(t, body, harnessKey)
	for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	resp, _ = oauthGet(t, client, h.ts.URL+geminiAuthPath+"?key="+harnessKey, nil)
	if resp.StatusCode != http.StatusFound || strings.Contains(resp.Header.Get("Location"), harnessKey) {
		t.Errorf("start with ?key=: status %d, Location %q must not carry the key", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := oauthGet(t, h.oauthBrowser(), h.ts.URL+geminiAuthPath, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("start without key: status %d, want 401", resp.StatusCode)
	}
	if resp, _ := oauthGet(t, h.oauthBrowser(), h.ts.URL+geminiAuthPath+"?project_id=bad%20id", oauthKeyHeader); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("start with a bad project_id: status %d, want 400", resp.StatusCode)
	}
}

func TestOAuthFailures(t *testing.T) {
	const lost = "expired or was opened in another browser"
	// noCookie is the page of a callback without a usable flow cookie; over
	// plain HTTP its first cause is a Secure cookie.
	const noCookie = "did not send the cookie of a sign-in in progress. Likely causes, most likely first:</p>\n<ol class=\"causes\">\n<li>This page was opened over plain HTTP"
	tests := []struct {
		name string
		// run starts whatever it needs and returns the final answer.
		run func(t *testing.T, h *oauthHarness, client *http.Client, state string) (*http.Response, string)
		// ineligible makes the signed-in account one Google refuses.
		ineligible bool
		wantStatus int
		wantText   string
		// wantLog, when set, is the reason a log line must give.
		wantLog string
	}{
		{
			name: "state mismatch",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, _ string) (*http.Response, string) {
				return oauthGet(t, c, h.ts.URL+"/oauth2callback?code=code-f&state=not-the-state", nil)
			},
			wantStatus: http.StatusBadRequest, wantText: lost, wantLog: "oauth flow state mismatch",
		},
		{
			name: "missing cookie",
			run: func(t *testing.T, h *oauthHarness, _ *http.Client, state string) (*http.Response, string) {
				return oauthGet(t, h.oauthBrowser(), h.ts.URL+"/oauth2callback?code=code-f&state="+state, nil)
			},
			wantStatus: http.StatusBadRequest, wantText: noCookie,
		},
		{
			name: "signature byte flipped",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, state string) (*http.Response, string) {
				ck, _ := h.oauthCookie(c, providers.GeminiCLI)
				v := []byte(ck.Value)
				i := len(v) - 10 // inside the MAC, clear of its padding bits
				if v[i] == 'A' {
					v[i] = 'B'
				} else {
					v[i] = 'A'
				}
				return oauthWithCookie(t, h, ck.Name, string(v), "/oauth2callback?code=code-f&state="+state)
			},
			wantStatus: http.StatusBadRequest, wantText: lost, wantLog: errFlowInvalid.Error(),
		},
		{
			name: "payload forged",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, state string) (*http.Response, string) {
				ck, st := h.oauthCookie(c, providers.GeminiCLI)
				st.Project = "attacker-project"
				raw, _ := json.Marshal(st)
				_, sig, _ := strings.Cut(ck.Value, ".")
				return oauthWithCookie(t, h, ck.Name, base64.RawURLEncoding.EncodeToString(raw)+"."+sig, "/oauth2callback?code=code-f&state="+state)
			},
			wantStatus: http.StatusBadRequest, wantText: lost, wantLog: errFlowInvalid.Error(),
		},
		{
			name: "expired cookie",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, state string) (*http.Response, string) {
				h.clock.Advance(oauthFlowTTL + time.Second)
				ck, _ := h.oauthCookie(c, providers.GeminiCLI)
				return oauthWithCookie(t, h, ck.Name, ck.Value, "/oauth2callback?code=code-f&state="+state)
			},
			wantStatus: http.StatusBadRequest, wantText: lost, wantLog: errFlowExpired.Error(),
		},
		{
			name: "access denied",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, state string) (*http.Response, string) {
				return oauthGet(t, c, h.ts.URL+"/oauth2callback?error=access_denied&state="+state, nil)
			},
			wantStatus: http.StatusBadRequest, wantText: "cancelled, or access was not granted",
		},
		{
			name: "provider error for another flow",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, _ string) (*http.Response, string) {
				resp, body := oauthGet(t, c, h.ts.URL+"/oauth2callback?error=x&error_description=Call+evil.example&state=forged", nil)
				if strings.Contains(body, "evil.example") {
					t.Errorf("page shows text from a foreign link:\n%s", body)
				}
				return resp, body
			},
			wantStatus: http.StatusBadRequest, wantText: lost,
		},
		{
			name: "code refused by the provider",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, state string) (*http.Response, string) {
				return oauthGet(t, c, h.ts.URL+"/oauth2callback?code=unknown-code&state="+state, nil)
			},
			wantStatus: http.StatusBadRequest, wantText: "invalid_grant",
		},
		{
			name: "token endpoint down",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, state string) (*http.Response, string) {
				h.gfake.ScriptToken(geminifake.Response{Status: http.StatusServiceUnavailable, Body: `{"error":"backend_error"}`})
				return oauthGet(t, c, h.ts.URL+"/oauth2callback?code=code-f&state="+state, nil)
			},
			wantStatus: http.StatusBadGateway, wantText: "could not exchange the sign-in",
		},
		{
			name: "code is single-use",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, state string) (*http.Response, string) {
				ck, _ := h.oauthCookie(c, providers.GeminiCLI)
				first := h.ts.URL + "/oauth2callback?code=code-f&state=" + state
				if resp, body := oauthGet(t, c, first, nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("first callback: status %d, body %s", resp.StatusCode, body)
				}
				if resp, body := oauthGet(t, c, first, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, noCookie) {
					t.Errorf("second callback, cookie cleared: status %d, body %s", resp.StatusCode, body)
				}
				// A replayed copy of the cookie is refused too.
				return oauthWithCookie(t, h, ck.Name, ck.Value, "/oauth2callback?code=code-f&state="+state)
			},
			wantStatus: http.StatusBadRequest, wantText: "already used",
		},
		{
			name: "account not eligible",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, state string) (*http.Response, string) {
				return oauthGet(t, c, h.ts.URL+"/oauth2callback?code=code-f&state="+state, nil)
			},
			ineligible: true,
			wantStatus: http.StatusUnprocessableEntity, wantText: `href="https://example.com/validate?x=1"`,
		},
		{
			name: "paste page without a flow",
			run: func(t *testing.T, h *oauthHarness, _ *http.Client, _ string) (*http.Response, string) {
				return oauthGet(t, h.oauthBrowser(), h.ts.URL+oauthPastePath, nil)
			},
			wantStatus: http.StatusBadRequest, wantText: noCookie,
		},
		{
			name: "paste of something else",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, _ string) (*http.Response, string) {
				return oauthPaste(t, c, h.ts.URL, url.Values{"callback_url": {"http://localhost:8188/oauth2callback"}})
			},
			wantStatus: http.StatusBadRequest, wantText: "does not look like the address",
		},
		{
			name: "paste with another state",
			run: func(t *testing.T, h *oauthHarness, c *http.Client, _ string) (*http.Response, string) {
				return oauthPaste(t, c, h.ts.URL, url.Values{"callback_url": {"http://localhost/oauth2callback?code=code-f&state=other"}})
			},
			wantStatus: http.StatusBadRequest, wantText: lost,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newOAuthHarness(t)
			account := geminifake.Account{Email: "f@example.com", Sub: "sub-f", Tier: "standard-tier", Project: "proj-f"}
			if tt.ineligible {
				account = geminifake.Account{Email: "f@example.com", Sub: "sub-f", Ineligible: &geminifake.Ineligible{
					ReasonCode: "UNSUPPORTED_CLIENT", ReasonMessage: "Personal accounts are not supported.",
					ValidationURL: "https://example.com/validate?x=1"}}
			}
			h.gfake.AddAccount("rt-f", account)
			h.gfake.AddAuthCode("code-f", "rt-f")
			client := h.oauthBrowser()
			loc := h.oauthStart(client, geminiAuthPath)
			resp, body := tt.run(t, h, client, loc.Query().Get("state"))
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if !strings.Contains(body, tt.wantText) {
				t.Errorf("page lacks %q:\n%s", tt.wantText, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want an HTML page", ct)
			}
			oauthLacks(t, body, "code-f", "rt-f", "ya29.")
			if tt.wantLog != "" && !oauthLogged(h.harness, tt.wantLog) {
				t.Errorf("no log line says %q", tt.wantLog)
			}
			h.oauthNotLogged("code-f", "unknown-code", "rt-f")
		})
	}
}

func TestOAuthNotEnabled(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, path := range []string{"/oauth2callback?code=x&state=y", codexCallback, oauthPastePath, geminiAuthPath, codexAuthPath} {
		resp, body := oauthGet(t, h.oauthBrowser(), h.ts.URL+path, oauthKeyHeader)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "OAuth flows are not enabled") {
			t.Errorf("GET %s: status %d, body %s; want 503 not enabled", path, resp.StatusCode, body)
		}
	}
}

// TestOAuthKeySurvivesRestart checks that the signing key is persisted: a
// second server over the same store accepts a flow the first one started,
// and a server with another key does not.
func TestOAuthKeySurvivesRestart(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.gfake.AddAccount("rt-restart", geminifake.Account{Email: "r@example.com", Sub: "sub-r", Tier: "standard-tier", Project: "proj-r"})
	h.gfake.AddAuthCode("code-restart", "rt-restart")
	ctx := context.Background()

	serve := func(store SettingsStore) string {
		t.Helper()
		srv := New(Deps{Config: h.cfg, GeminiPool: h.sys.Pool(providers.GeminiCLI), Gemini: h.gemini,
			CodexPool: h.sys.Pool(providers.Codex), Codex: h.codex})
		if err := srv.EnableOAuth(ctx, store, OAuthOptions{InsecureCookie: true}); err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		t.Cleanup(ts.Close)
		return ts.URL
	}
	// The real store: the actor system's settings in SQLite.
	first, second, stranger := serve(h.sys), serve(h.sys), serve(newOAuthMemStore())
	key, found, err := h.sys.Setting(ctx, oauthKeySetting)
	if err != nil || !found || len(key) != oauthKeyLen {
		t.Fatalf("stored key: %d bytes, found %v, err %v", len(key), found, err)
	}

	client := h.oauthBrowser()
	resp, body := oauthGet(t, client, first+geminiAuthPath+"?format=json", oauthKeyHeader)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start: status %d, body %s", resp.StatusCode, body)
	}
	var start struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	if err := json.Unmarshal([]byte(body), &start); err != nil {
		t.Fatal(err)
	}
	au, _ := url.Parse(start.AuthorizeURL)
	callback := "/oauth2callback?code=code-restart&state=" + au.Query().Get("state")

	// All three servers share the host 127.0.0.1, so the jar sends the
	// cookie to each.
	if resp, body := oauthGet(t, client, stranger+callback, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("server with another key: status %d, want 400; body %s", resp.StatusCode, body)
	}
	if resp, body := oauthGet(t, client, second+callback, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "r@example.com") {
		t.Errorf("restarted server: status %d, want 200; body %s", resp.StatusCode, body)
	}
}

// TestOAuthCookieAttributes: the flow and device cookies are Secure exactly
// when the request came over HTTPS (here: per a trusted proxy's
// X-Forwarded-Proto), and never with insecure_cookie.
func TestOAuthCookieAttributes(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name       string
		insecure   bool
		trusted    []netip.Prefix
		forwarded  string
		wantSecure bool
	}{
		{"plain HTTP", false, nil, "", false},
		{"X-Forwarded-Proto from an untrusted peer", false, nil, "https", false},
		{"X-Forwarded-Proto from a peer outside trusted_proxies", false, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "https", false},
		{"HTTPS per a trusted proxy", false, loopback, "https", true},
		{"HTTPS per a trusted proxy, first value wins", false, loopback, "HTTPS, http", true},
		{"plain HTTP per a trusted proxy", false, loopback, "http", false},
		{"insecure_cookie overrides HTTPS", true, loopback, "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{serverSetup: func(s *Server) {
				if err := s.EnableOAuth(context.Background(), newOAuthMemStore(), OAuthOptions{InsecureCookie: tt.insecure, TrustedProxies: tt.trusted}); err != nil {
					t.Fatal(err)
				}
			}})
			header := oauthKeyHeader.Clone()
			if tt.forwarded != "" {
				header.Set("X-Forwarded-Proto", tt.forwarded)
			}
			resp, _ := oauthGet(t, h.oauthBrowser(), h.ts.URL+codexAuthPath, header)
			cookies := resp.Cookies()
			if len(cookies) != 1 {
				t.Fatalf("Set-Cookie: %q", resp.Header.Values("Set-Cookie"))
			}
			ck := cookies[0]
			got := []any{ck.Name, ck.Path, ck.MaxAge, ck.HttpOnly, ck.SameSite, ck.Secure}
			want := []any{"pollux_oauth_codex", "/", 600, true, http.SameSiteLaxMode, tt.wantSecure}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("cookie (-want +got):\n%s", diff)
			}

			resp, body := oauthGet(t, h.oauthBrowser(), h.ts.URL+codexDevicePath, header)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("device start: status %d: %s", resp.StatusCode, body)
			}
			var device *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == deviceCookieName {
					device = c
				}
			}
			if device == nil || device.Secure != tt.wantSecure {
				t.Errorf("device cookie = %+v, want Secure=%v", device, tt.wantSecure)
			}
		})
	}
}
