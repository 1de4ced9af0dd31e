package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/transport/signin/oauthpages"
)

// The browser sign-in flows add credentials to the pools:
//
//	GET  /geminicli/auth[?project_id=P][&format=json|html]   (operator key)
//	GET  /codex/auth[?format=json|html]                      (operator key)
//	     → a signed, HttpOnly flow cookie (provider, state, PKCE verifier,
//	       redirect URI, project, expiry) and a 302 to the provider's consent
//	       page; format=json answers {"authorize_url","paste_url"} instead,
//	       format=html a page with the link and what to do next.
//	GET  /oauth2callback        Google's redirect (Gemini)
//	GET  /auth/callback         OpenAI's redirect (Codex), and its alias
//	GET  /codex/auth/callback   for a Pollux reached through /codex only
//	GET  /oauth/paste           a form for the address of a callback page that
//	POST /oauth/paste           did not load (field callback_url; a bare code
//	                            works when one flow is open)
//
// The device-code sign-in (oauth_device.go) is the way without any redirect.
//
// The callback and paste routes need no key: the flow cookie is their
// protection (the alias under /codex too: it is mounted in the open group). It is
// HMAC-SHA256 signed with a key kept in the settings store (so a restart
// does not break a flow in progress), lives 10 minutes,
// and is SameSite=Lax, so a cross-site form cannot post with it. The state in
// the callback must match the cookie's, and each state completes once.
//
// Redirect URIs. Both OAuth clients are installed-app clients that only
// accept loopback redirects. Codex's is fixed by OpenAI's client
// registration: http://localhost:1455/auth/callback. Gemini's is this
// server's own origin when the operator reached it on a loopback host, and
// http://localhost[:port]/oauth2callback otherwise, because Google would
// refuse any other host. Either way, on a remote server the browser ends on a
// localhost page that does not load, and the operator either changes the
// start of that address to Pollux's own origin (the callback routes then
// take it, the flow cookie being on that origin) or pastes the address into
// the paste page.
//
// The scheme of an origin is https when the request came over TLS or says
// X-Forwarded-Proto: https. Trusting that header is deliberate: only the
// start routes use an origin, they need the Pollux key, and the URLs built
// from it go back to that same requester, so a forged header can only
// misdirect the forger's own browser.

// Flow constants.
const (
	oauthKeySetting  = "oauth_cookie_key"
	oauthKeyLen      = 32
	oauthFlowTTL     = 10 * time.Minute
	oauthCookiePre   = "pollux_oauth_"
	PastePath        = "/oauth/paste"
	geminiAuthPath   = "/geminicli/auth"
	codexAuthPath    = "/codex/auth"
	geminiCallback   = "/oauth2callback"
	codexCallback    = "/auth/callback"
	codexCallbackAlt = codexAuthPath + "/callback"
	maxPastedLen     = 8 << 10
	maxProjectIDLen  = 128
	oauthOnboardWait = 5 * time.Minute
	// oauthMACContext separates flow-cookie MACs from any other use of the key.
	oauthMACContext = "pollux oauth flow v1\n"
)

// Problem texts shared by several failures.
const (
	msgFlowLost  = "This sign-in link expired or was opened in another browser. Start again."
	hintStartNew = "Open the sign-in link again (/geminicli/auth or /codex/auth with your Pollux key) in this browser, and finish within 10 minutes."
)

// Why a flow cookie was not usable; logged, never shown apart.
var (
	errFlowInvalid = errors.New("flow cookie is malformed or its signature does not match")
	errFlowExpired = errors.New("flow cookie expired")
)

// oauthFlows is the state of the browser flows, created by EnableOAuth.
type oauthFlows struct {
	key      []byte
	insecure bool
	trusted  []netip.Prefix
	pages    *oauthpages.Pages
	// now is the clock; tests replace it before serving.
	now func() time.Time
	// device runs the device-code sign-ins.
	device *deviceFlows

	mu sync.Mutex
	// mu guards the following fields.
	used map[string]time.Time // state of each completed flow → its cookie's expiry
}

// flowState is what the flow cookie carries.
type flowState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Verifier string `json:"v"`
	Redirect string `json:"r"`
	Project  string `json:"j,omitempty"`
	Expires  int64  `json:"e"`
}

// Enable turns on the browser flows; call before serving. It loads the
// cookie signing key from store, creating and saving a random one on first
// use.
func (a *API) Enable(ctx context.Context, store SettingsStore, opts Options) error {
	key, found, err := store.Setting(ctx, oauthKeySetting)
	if err != nil {
		return fmt.Errorf("transport: oauth: load cookie key: %w", err)
	}
	switch {
	case !found:
		key = make([]byte, oauthKeyLen)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("transport: oauth: make cookie key: %w", err)
		}
		if err := store.PutSetting(ctx, oauthKeySetting, key); err != nil {
			return fmt.Errorf("transport: oauth: save cookie key: %w", err)
		}
	case len(key) < oauthKeyLen:
		return fmt.Errorf("transport: oauth: stored %s has %d bytes, want at least %d", oauthKeySetting, len(key), oauthKeyLen)
	}
	pages, err := oauthpages.New()
	if err != nil {
		return fmt.Errorf("transport: oauth: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	a.flows = &oauthFlows{
		key:      key,
		insecure: opts.InsecureCookie,
		trusted:  opts.TrustedProxies,
		pages:    pages,
		now:      now,
		used:     make(map[string]time.Time),
		device:   a.newDeviceFlows(opts.DevicePollInterval),
	}
	return nil
}

// MountOperator mounts the routes that start a sign-in or follow one as
// JSON; the caller guards them with the operator key.
func (a *API) MountOperator(add Add) {
	add(http.MethodGet, geminiAuthPath, a.withOAuth(a.startGeminiFlow))
	add(http.MethodGet, codexAuthPath, a.withOAuth(a.startCodexFlow))
	add(http.MethodGet, codexDevicePath, a.withOAuth(a.startCodexDevice))
	add(http.MethodGet, codexDevicePath+"/:id", a.withOAuth(a.codexDeviceStatus))
}

// MountOpen mounts the routes a browser reaches without the key: the
// providers' redirects, the paste page and the device page. The flow
// cookies guard them.
func (a *API) MountOpen(add Add) {
	add(http.MethodGet, geminiCallback, a.withOAuth(a.callback(providers.GeminiCLI)))
	add(http.MethodGet, codexCallback, a.withOAuth(a.callback(providers.Codex)))
	add(http.MethodGet, codexCallbackAlt, a.withOAuth(a.callback(providers.Codex)))
	add(http.MethodGet, PastePath, a.withOAuth(a.pasteForm))
	add(http.MethodPost, PastePath, a.withOAuth(a.pasteSubmit))
	add(http.MethodGet, deviceStatusPath+"/:id", a.withOAuth(a.devicePage))
}

// withOAuth answers 503 until Enable ran.
func (a *API) withOAuth(h func(echo.Context, *oauthFlows) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		f := a.flows
		if f == nil {
			return failure(http.StatusServiceUnavailable, "OAuth flows are not enabled")
		}
		return h(c, f)
	}
}

// oauthProvider is what a flow needs of one provider.
type oauthProvider struct {
	id           string // providers.GeminiCLI or providers.Codex
	name         string // display name
	accountLabel string
	tierLabel    string
	pool         Ingester
	// exchange is nil when the provider is not configured.
	exchange func(ctx context.Context, code, verifier, redirectURI string) (providers.Credential, error)
}

func (a *API) oauthProvider(id string) oauthProvider {
	switch id {
	case providers.GeminiCLI:
		p := oauthProvider{id: id, name: "Gemini CLI", accountLabel: "Project", tierLabel: "Tier", pool: a.d.Pool(id)}
		if a.d.Gemini != nil {
			p.exchange = a.d.Gemini.Exchange
		}
		return p
	case providers.Codex:
		p := oauthProvider{id: id, name: "Codex (ChatGPT)", accountLabel: "Account", tierLabel: "Plan", pool: a.d.Pool(id)}
		if a.d.Codex != nil {
			p.exchange = a.d.Codex.Exchange
		}
		return p
	}
	return oauthProvider{id: id, name: id}
}

// ---- start ----

func (a *API) startGeminiFlow(c echo.Context, f *oauthFlows) error {
	if a.d.Gemini == nil {
		return a.startFailed(c, f, http.StatusServiceUnavailable, "The Gemini CLI provider is not configured on this server.")
	}
	project := c.QueryParam("project_id")
	if project != "" && !validProjectID(project) {
		return a.startFailed(c, f, http.StatusBadRequest, "project_id is not a Google Cloud project id.")
	}
	redirect := geminiRedirectURI(c.Request())
	return a.startFlow(c, f, flowState{Provider: providers.GeminiCLI, Redirect: redirect, Project: project},
		func(state, verifier string) string { return a.d.Gemini.AuthCodeURL(state, verifier, redirect) })
}

func (a *API) startCodexFlow(c echo.Context, f *oauthFlows) error {
	if a.d.Codex == nil {
		return a.startFailed(c, f, http.StatusServiceUnavailable, "The Codex provider is not configured on this server.")
	}
	return a.startFlow(c, f, flowState{Provider: providers.Codex, Redirect: codex.DefaultRedirectURI},
		func(state, verifier string) string {
			return a.d.Codex.AuthCodeURL(state, verifier, codex.DefaultRedirectURI)
		})
}

// startFlow mints the flow (state, PKCE verifier, cookie) and sends the
// browser, or the headless caller, to the provider.
func (a *API) startFlow(c echo.Context, f *oauthFlows, st flowState, authorize func(state, verifier string) string) error {
	st.State = rand.Text()
	st.Verifier = oauth2.GenerateVerifier()
	expires := f.now().Add(oauthFlowTTL)
	st.Expires = expires.Unix()
	value, err := f.seal(st)
	if err != nil {
		return err
	}
	w := c.Response()
	http.SetCookie(w, f.cookie(st.Provider, value, expires, f.cookieSecure(c.Request())))
	f.pages.SetHeaders(w.Header())
	authURL := authorize(st.State, st.Verifier)
	paste := PastePath + "?provider=" + st.Provider
	format := c.QueryParam("format")
	a.log.Info("oauth flow started",
		zap.String(keyRequestID, a.d.RequestID(c)),
		zap.String("provider", st.Provider),
		zap.String("format", format))
	switch format {
	case "json":
		return c.JSON(http.StatusOK, struct {
			AuthorizeURL string `json:"authorize_url"`
			PasteURL     string `json:"paste_url"`
		}{authURL, requestOrigin(c.Request()) + paste})
	case "html":
		page := oauthpages.Start{
			Provider:     a.oauthProvider(st.Provider).name,
			AuthorizeURL: authURL,
			PasteURL:     paste,
			CallbackHint: st.Redirect,
		}
		// Where the redirect's origin is not Pollux's, say how to fix the
		// address by hand: the callback routes take it on Pollux's origin.
		if cb, err := url.Parse(st.Redirect); err == nil {
			if origin := requestOrigin(c.Request()); cb.Scheme+"://"+cb.Host != origin {
				page.CallbackOrigin, page.PolluxOrigin = cb.Scheme+"://"+cb.Host, origin
			}
		}
		if st.Provider == providers.Codex {
			page.DevicePath = codexDevicePath
		}
		return f.pages.Render(w, http.StatusOK, page)
	}
	return c.Redirect(http.StatusFound, authURL)
}

// startFailed answers a start route that cannot begin a flow: in the API
// envelope for format=json, as a page otherwise.
func (a *API) startFailed(c echo.Context, f *oauthFlows, status int, msg string) error {
	if c.QueryParam("format") == "json" {
		if status != http.StatusServiceUnavailable {
			status = http.StatusBadRequest
		}
		return failure(status, msg)
	}
	return f.pages.Render(c.Response(), status, oauthpages.Problem{Title: "Cannot start the sign-in", Message: msg})
}

// ---- completion ----

// callbackParams is what a provider's redirect carries.
type callbackParams struct {
	code, state string
	// err and errDesc are the provider's error, e.g. access_denied.
	err, errDesc string
}

// callback serves a provider's redirect to this server.
func (a *API) callback(provider string) func(echo.Context, *oauthFlows) error {
	return func(c echo.Context, f *oauthFlows) error {
		q := c.Request().URL.Query()
		return a.completeFlow(c, f, []string{provider}, callbackParams{
			code: q.Get("code"), state: q.Get("state"), err: q.Get("error"), errDesc: q.Get("error_description"),
		}, false)
	}
}

// pasteForm shows the paste form to a browser with a flow in progress.
func (a *API) pasteForm(c echo.Context, f *oauthFlows) error {
	cands := flowCandidates(c.QueryParam("provider"))
	flows := a.openFlows(c, f, cands)
	if len(flows) == 0 {
		return a.noFlowCookie(c, f, cands)
	}
	return f.pages.Render(c.Response(), http.StatusOK, a.pastePage(flows, ""))
}

// pasteSubmit completes a flow from a pasted callback address or code.
// The body is capped at PasteBodyLimit (bodyLimitOf), and a browser's POST
// must come from Pollux's own origin: the route needs no key, so only the
// flow cookie and this check stand between a page elsewhere on the same
// host and an operator's open sign-in.
func (a *API) pasteSubmit(c echo.Context, f *oauthFlows) error {
	if !sameOrigin(c.Request()) {
		return failure(http.StatusForbidden, "cross-origin sign-in form refused: submit it from Pollux's own paste page")
	}
	if err := c.Request().ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return failure(http.StatusBadRequest, "the sign-in form could not be read")
	}
	cands := flowCandidates(c.FormValue("provider"))
	p, ok := parsePasted(c.FormValue("callback_url"))
	if !ok {
		flows := a.openFlows(c, f, cands)
		if len(flows) == 0 {
			return a.noFlowCookie(c, f, cands)
		}
		return f.pages.Render(c.Response(), http.StatusBadRequest,
			a.pastePage(flows, "That does not look like the address of the callback page. Copy the whole address from the address bar and try again."))
	}
	return a.completeFlow(c, f, cands, p, true)
}

func (a *API) pastePage(flows []flowState, msg string) oauthpages.Paste {
	page := oauthpages.Paste{Action: PastePath, CallbackHint: "http://localhost", Message: msg}
	if len(flows) == 1 {
		page.Provider = a.oauthProvider(flows[0].Provider).name
		page.ProviderID = flows[0].Provider
		page.CallbackHint = flows[0].Redirect
	}
	return page
}

// completeFlow matches the callback to a flow cookie, exchanges the code and
// onboards the credential, then renders the verdict.
func (a *API) completeFlow(c echo.Context, f *oauthFlows, cands []string, p callbackParams, pasted bool) error {
	flows := a.openFlows(c, f, cands)
	var st *flowState
	for i := range flows {
		// Compare every candidate in constant time; a state match picks it.
		if p.state != "" && subtle.ConstantTimeCompare([]byte(flows[i].State), []byte(p.state)) == 1 {
			st = &flows[i]
		}
	}
	if p.state == "" && pasted && p.err == "" {
		switch len(flows) {
		case 1:
			st = &flows[0]
		case 0:
		default:
			return f.pages.Render(c.Response(), http.StatusBadRequest, a.pastePage(flows,
				"Several sign-ins are in progress in this browser: paste the whole address, not only the code."))
		}
	}
	// The provider's error is shown only for a flow of this browser, so a
	// crafted link cannot put its own text on a Pollux page.
	if p.err != "" && st != nil {
		f.clearCookie(c, st.Provider)
		a.log.Info("oauth flow refused at the provider",
			zap.String(keyRequestID, a.d.RequestID(c)), zap.String("error", shortText(p.err, 64)))
		msg := "The provider reported an error: " + shortText(p.err, 64)
		if d := shortText(p.errDesc, 200); d != "" {
			msg += " (" + d + ")"
		}
		if p.err == "access_denied" {
			msg = "The sign-in was cancelled, or access was not granted, at the provider. No account was added."
		}
		return a.flowProblem(c, f, http.StatusBadRequest, "Sign-in not completed", msg)
	}
	if st == nil {
		if len(flows) == 0 {
			return a.noFlowCookie(c, f, cands)
		}
		a.log.Info("oauth flow state mismatch", zap.String(keyRequestID, a.d.RequestID(c)))
		return a.flowProblem(c, f, http.StatusBadRequest, "Sign-in expired", msgFlowLost)
	}
	if p.code == "" {
		if pasted {
			return f.pages.Render(c.Response(), http.StatusBadRequest, a.pastePage(flows,
				"The pasted address has no authorization code. Copy the whole address of the page that did not load."))
		}
		return a.flowProblem(c, f, http.StatusBadRequest, "Sign-in not completed", "The provider sent no authorization code.")
	}
	if !f.consume(st.State, time.Unix(st.Expires, 0)) {
		return a.flowProblem(c, f, http.StatusBadRequest, "Sign-in already completed",
			"This sign-in was already used. Start again to add another account.")
	}
	f.clearCookie(c, st.Provider)
	return a.addSignedIn(c, f, *st, p.code)
}

// addSignedIn exchanges the code for a credential and onboards it.
func (a *API) addSignedIn(c echo.Context, f *oauthFlows, st flowState, code string) error {
	prov := a.oauthProvider(st.Provider)
	log := a.log.With(zap.String(keyRequestID, a.d.RequestID(c)), zap.String("provider", st.Provider))
	if prov.exchange == nil || prov.pool == nil {
		return a.flowProblem(c, f, http.StatusServiceUnavailable, "Provider not configured",
			"The "+prov.name+" provider is not configured on this server.")
	}
	ctx := c.Request().Context()
	cred, err := prov.exchange(ctx, code, st.Verifier, st.Redirect)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return f.renderOutcome(c, exchangeOutcome(log, prov, err), hintStartNew)
	}
	if st.Project != "" {
		cred.Account = st.Project
	}
	return f.renderOutcome(c, onboardSignedIn(ctx, log, prov, cred), hintStartNew)
}

// flowProblem renders a failure of the flow.
func (a *API) flowProblem(c echo.Context, f *oauthFlows, status int, title, msg string) error {
	p := oauthpages.Problem{Title: title, Message: msg}
	if status == http.StatusBadRequest {
		p.Hint = hintStartNew
	}
	return f.pages.Render(c.Response(), status, p)
}

// noFlowCookie answers a callback or paste that came without a usable flow
// cookie of the candidate providers. A cookie that came but was refused
// (expired, or not signed by this Pollux) is "expired". With none at all,
// the page lists the likely causes in order; a Secure cookie is the first
// suspect only when this request came over plain HTTP: over HTTPS the
// browser would have sent it.
func (a *API) noFlowCookie(c echo.Context, f *oauthFlows, cands []string) error {
	r := c.Request()
	for _, provider := range cands {
		if _, err := r.Cookie(cookieName(provider)); err == nil {
			return a.flowProblem(c, f, http.StatusBadRequest, "Sign-in expired", msgFlowLost)
		}
	}
	var causes []string
	if !overHTTPS(r, f.trusted) {
		causes = append(causes, "This page was opened over plain HTTP, and the sign-in started over HTTPS "+
			"(or through a proxy that said X-Forwarded-Proto: https): its cookie is then marked Secure, and the "+
			"browser does not send it to an http:// page. Start and finish the sign-in on the same address, "+
			"both https:// or both http://. If a proxy in front of Pollux says https while browsers use http, "+
			"fix the proxy, or set [basic] insecure_cookie = true.")
	}
	causes = append(causes,
		"The sign-in was started in another browser, browser profile or private window, or on another "+
			"address of Pollux: the cookie belongs to one host name (http://pollux.lan:8188 and "+
			"http://localhost:8188 are different). If this page's address is not the one you started on, "+
			"copy this whole address into "+PastePath+" on the address you started on.",
		"More than 10 minutes passed since the sign-in started, and its cookie expired.",
	)
	a.log.Info("oauth callback without a flow cookie", zap.String(keyRequestID, a.d.RequestID(c)), zap.Bool("https", overHTTPS(r, f.trusted)))
	return f.pages.Render(c.Response(), http.StatusBadRequest, oauthpages.Problem{
		Title:   "No sign-in in progress in this browser",
		Message: "This browser did not send the cookie of a sign-in in progress. Likely causes, most likely first:",
		Causes:  causes,
		Hint:    hintStartNew,
	})
}
