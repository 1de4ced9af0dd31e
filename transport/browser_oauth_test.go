package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pollux-gateway/pollux/providers"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// lanHost is a non-loopback host name the browser resolves to 127.0.0.1,
// as a team's http://pollux.lan:8188 would resolve to the server. Browsers
// treat http://localhost as a secure context and keep Secure cookies set
// there; on any other plain-HTTP host they drop them.
const lanHost = "pollux.lan"

// TestOAuthSignInOverPlainHTTPInBrowser drives the Google and the ChatGPT
// sign-ins and the device-code sign-in in headless Chromium on
// http://pollux.lan:PORT, with the default config (insecure_cookie unset):
// each completes. Then a start that a trusted proxy calls HTTPS makes a
// Secure cookie the browser drops over plain HTTP, and the callback page
// names that as the first likely cause.
func TestOAuthSignInOverPlainHTTPInBrowser(t *testing.T) {
	needChromium(t)
	h := newHarness(t, harnessOptions{serverSetup: func(s *Server) {
		opts := OAuthOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		if err := s.EnableOAuth(context.Background(), newOAuthMemStore(), opts); err != nil {
			t.Fatal(err)
		}
	}})
	h.gfake.AddAccount("rt-lan", geminifake.Account{Email: "lan@example.com", Sub: "sub-lan", Tier: "standard-tier", Project: "proj-lan"})
	h.gfake.AddAuthCode("code-lan", "rt-lan")
	h.cfake.SetLoginAccount(codexfake.Account{ID: "acct-lan", Sub: "sub-clan", Email: "clan@example.com", PlanType: "pro"})

	ts, err := url.Parse(h.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	lan := "http://" + lanHost + ":" + ts.Port()
	ctx := startBrowser(t, chromedp.Flag("host-resolver-rules", "MAP "+lanHost+" 127.0.0.1"))
	key := url.QueryEscape(harnessKey)

	// startJSON starts a flow in the browser (so the browser holds the
	// cookie) and returns the authorize URL from the JSON answer.
	startJSON := func(path string) *url.URL {
		t.Helper()
		run(ctx, t, "start "+path, chromedp.Navigate(lan+path+"?format=json&key="+key))
		waitPage(ctx, t, "the JSON start", `document.body.innerText.includes('authorize_url')`)
		var start struct {
			AuthorizeURL string `json:"authorize_url"`
		}
		if err := json.Unmarshal([]byte(evalPage[string](ctx, t, `document.body.innerText`)), &start); err != nil {
			t.Fatalf("start %s: %v%s", path, err, pageText(ctx))
		}
		u, err := url.Parse(start.AuthorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	// Google: the callback on Pollux's LAN origin finds the cookie.
	auth := startJSON(geminiAuthPath)
	if got := auth.Query().Get("redirect_uri"); got != "http://localhost:"+ts.Port()+geminiCallback {
		t.Errorf("redirect_uri = %q, want the localhost callback", got)
	}
	run(ctx, t, "the Google callback", chromedp.Navigate(lan+geminiCallback+"?"+url.Values{
		"code": {"code-lan"}, "state": {auth.Query().Get("state")}}.Encode()))
	waitPage(ctx, t, "the Gemini account added", `document.body.innerText.includes('Account added')
		&& document.body.innerText.includes('lan@example.com')`)

	// ChatGPT: the fake's consent page answers with the callback address
	// (the browser would show a dead localhost:1455 page); the operator
	// opens it on Pollux's origin.
	auth = startJSON(codexAuthPath)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(auth.String())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("fake authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	run(ctx, t, "the ChatGPT callback", chromedp.Navigate(lan+codexCallback+"?"+cb.RawQuery))
	waitPage(ctx, t, "the Codex account added", `document.body.innerText.includes('Account added')
		&& document.body.innerText.includes('clan@example.com')`)

	// Device code: the page's own status page takes this browser's cookie.
	run(ctx, t, "start a device sign-in", chromedp.Navigate(lan+codexDevicePath+"?key="+key))
	waitPage(ctx, t, "the device page", `!!document.querySelector('meta[http-equiv="refresh"]')`)
	refresh := evalPage[string](ctx, t, `document.querySelector('meta[http-equiv="refresh"]').content`)
	_, statusPath, ok := strings.Cut(refresh, "url=")
	if !ok || !strings.HasPrefix(statusPath, deviceStatusPath+"/") {
		t.Fatalf("device page refresh = %q", refresh)
	}
	run(ctx, t, "the device status page", chromedp.Navigate(lan+statusPath))
	waitPage(ctx, t, "the device sign-in waiting", `document.body.innerText.includes('Waiting for the sign-in to be approved')`)

	// A start a trusted proxy calls HTTPS: the cookie is Secure, the
	// browser on http:// drops it, and the callback explains.
	setHeaders := func(h network.Headers) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
			return err
		})
	}
	run(ctx, t, "say https", setHeaders(network.Headers{"X-Forwarded-Proto": "https"}))
	auth = startJSON(geminiAuthPath)
	run(ctx, t, "stop saying https", setHeaders(network.Headers{}))
	run(ctx, t, "the callback without its cookie", chromedp.Navigate(lan+geminiCallback+"?"+url.Values{
		"code": {"code-lan"}, "state": {auth.Query().Get("state")}}.Encode()))
	waitPage(ctx, t, "the causes, Secure cookie first", `document.querySelector('h1').textContent === 'No sign-in in progress in this browser'
		&& document.querySelectorAll('ol.causes li').length === 3
		&& document.querySelector('ol.causes li').textContent.startsWith('This page was opened over plain HTTP')`)

	if snap, err := h.sys.Pool(providers.GeminiCLI).Snapshot(t.Context()); err != nil || len(snap.Credentials) != 1 {
		t.Errorf("gemini pool: %v credentials, err %v; want only the LAN sign-in", snap, err)
	}
}
