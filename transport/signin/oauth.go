package signin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/pollux-gateway/pollux/actors"
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

// signInOutcome is what became of a sign-in, for a page or a JSON status.
type signInOutcome struct {
	status int
	// page is an oauthpages.Result or an oauthpages.Problem.
	page oauthpages.Page
	// verdict is set when the account itself was judged.
	verdict *actors.Verdict
}

func problemOutcome(status int, title, msg string) signInOutcome {
	return signInOutcome{status: status, page: oauthpages.Problem{Title: title, Message: msg}}
}

// renderOutcome renders out; a 400 problem without a hint gets hint.
func (f *oauthFlows) renderOutcome(c echo.Context, out signInOutcome, hint string) error {
	page := out.page
	if p, ok := page.(oauthpages.Problem); ok && out.status == http.StatusBadRequest && p.Hint == "" {
		p.Hint = hint
		page = p
	}
	return f.pages.Render(c.Response(), out.status, page)
}

// onboardSignedIn hands a signed-in credential to the provider's pool and
// waits (up to oauthOnboardWait) for the verdict on it.
func onboardSignedIn(ctx context.Context, log *zap.Logger, prov oauthProvider, cred providers.Credential) signInOutcome {
	started, err := prov.pool.Ingest(ctx, []providers.Credential{cred})
	if err != nil {
		log.Warn("oauth: ingest failed", zap.Error(err))
		return problemOutcome(http.StatusServiceUnavailable, "Could not add the account",
			"Pollux could not start checking the account. Try again in a moment.")
	}
	wctx, cancel := context.WithTimeout(ctx, oauthOnboardWait)
	defer cancel()
	job, err := prov.pool.Job(wctx, started.JobID, true)
	return jobOutcome(log, prov, started.JobID, job, err)
}

// jobOutcome judges the onboarding job of a signed-in credential: its one
// verdict once finished.
func jobOutcome(log *zap.Logger, prov oauthProvider, jobID string, job *actors.JobStatus, err error) signInOutcome {
	if err != nil || !job.Finished || len(job.Verdicts) == 0 {
		log.Warn("oauth: onboarding not finished", zap.String("job", jobID), zap.Error(err))
		return problemOutcome(http.StatusGatewayTimeout, "Still checking the account",
			"The sign-in worked, but Pollux has not finished checking the account (job "+jobID+"). It joins the pool once the check succeeds.")
	}
	v := job.Verdicts[0]
	log.Info("oauth sign-in finished",
		zap.String("job", jobID),
		zap.String("result", string(v.Result)),
		zap.Int64("credential_id", v.CredentialID),
		zap.String("reason", v.Reason))
	status, page := verdictPage(prov, v)
	page.SharedLoginWarning = page.OK && prov.id == providers.Codex
	return signInOutcome{status: status, page: page, verdict: &v}
}

// exchangeOutcome judges a failed code exchange: a refusal of the account
// as a verdict, a refused code as 400, anything else as 502.
func exchangeOutcome(log *zap.Logger, prov oauthProvider, err error) signInOutcome {
	log.Warn("oauth: code exchange failed", zap.Error(err))
	var ve *providers.VerdictError
	if errors.As(err, &ve) {
		var v actors.Verdict
		switch {
		case errors.Is(err, providers.ErrIneligible):
			v = actors.Verdict{Result: actors.VerdictIneligible, Reason: ve.Reason, URL: ve.URL}
		case errors.Is(err, providers.ErrBanned):
			v = actors.Verdict{Result: actors.VerdictBanned, Reason: ve.Reason, URL: ve.URL}
		default:
			return problemOutcome(http.StatusBadRequest, "The provider refused the sign-in",
				"Reason: "+shortText(ve.Reason, 200)+". An authorization code works once and only for a few minutes; start again.")
		}
		status, page := verdictPage(prov, v)
		return signInOutcome{status: status, page: page, verdict: &v}
	}
	reason := "the token endpoint could not be reached or gave an unusable answer"
	var ue *providers.UpstreamError
	if errors.As(err, &ue) {
		reason = "the token endpoint answered " + shortText(ue.Outcome.Reason, 100)
	}
	return problemOutcome(http.StatusBadGateway, "Could not finish the sign-in",
		"Pollux could not exchange the sign-in with "+prov.name+": "+reason+". Start again in a moment.")
}

// verdictPage renders an onboarding verdict.
func verdictPage(prov oauthProvider, v actors.Verdict) (int, oauthpages.Result) {
	page := oauthpages.Result{
		Email: v.Email, Account: v.Account, Tier: v.Tier, Reason: v.Reason, URL: v.URL,
		AccountLabel: prov.accountLabel, TierLabel: prov.tierLabel,
	}
	status := http.StatusOK
	switch v.Result {
	case actors.VerdictAdded:
		page.OK, page.Title = true, "Account added"
		page.Summary = "The " + prov.name + " account is now in the pool."
	case actors.VerdictUpdated:
		page.OK, page.Title = true, "Account renewed"
		page.Summary = "This " + prov.name + " account was already in the pool; it now uses the new sign-in."
	case actors.VerdictDuplicate:
		page.OK, page.Title = true, "Already in the pool"
		page.Summary = "This sign-in is already in the pool."
	case actors.VerdictIneligible:
		status, page.Title = http.StatusUnprocessableEntity, "Account not eligible"
		page.Summary = "The provider does not let this account be used here (for example, no licence or plan)."
	case actors.VerdictBanned:
		status, page.Title = http.StatusUnprocessableEntity, "Account suspended"
		page.Summary = "The provider reports this account as suspended or deactivated."
	case actors.VerdictInvalid:
		status, page.Title = http.StatusUnprocessableEntity, "Sign-in not usable"
		page.Summary = "The provider rejected the new sign-in when Pollux tried to use it. Start again."
	default:
		status, page.Title = http.StatusBadGateway, "Could not add the account"
		page.Summary = "Pollux could not finish checking the account. Try again in a moment."
	}
	return status, page
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

// ---- flow cookie ----

func cookieName(provider string) string { return oauthCookiePre + provider }

// flowCandidates lists the providers whose flow a request may complete.
func flowCandidates(provider string) []string {
	switch provider {
	case providers.GeminiCLI, providers.Codex:
		return []string{provider}
	}
	return []string{providers.GeminiCLI, providers.Codex}
}

// openFlows returns the valid flows among the request's cookies.
func (a *API) openFlows(c echo.Context, f *oauthFlows, cands []string) []flowState {
	var out []flowState
	for _, provider := range cands {
		ck, err := c.Request().Cookie(cookieName(provider))
		if err != nil {
			continue
		}
		st, err := f.open(provider, ck.Value)
		if err != nil {
			a.log.Info("oauth flow cookie refused",
				zap.String(keyRequestID, a.d.RequestID(c)), zap.String("provider", provider), zap.Error(err))
			continue
		}
		out = append(out, st)
	}
	return out
}

func (f *oauthFlows) mac(provider, payload string) []byte {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte(oauthMACContext + provider + "\n" + payload))
	return m.Sum(nil)
}

// seal encodes st as a signed cookie value: payload.mac, both base64url.
func (f *oauthFlows) seal(st flowState) (string, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("transport: oauth: encode flow: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return payload + "." + base64.RawURLEncoding.EncodeToString(f.mac(st.Provider, payload)), nil
}

// open verifies and decodes a cookie value of provider's flow.
func (f *oauthFlows) open(provider, value string) (flowState, error) {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok {
		return flowState{}, errFlowInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, f.mac(provider, payload)) {
		return flowState{}, errFlowInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return flowState{}, errFlowInvalid
	}
	var st flowState
	if err := json.Unmarshal(raw, &st); err != nil || st.Provider != provider || st.State == "" {
		return flowState{}, errFlowInvalid
	}
	if !f.now().Before(time.Unix(st.Expires, 0)) {
		return flowState{}, errFlowExpired
	}
	return st, nil
}

func (f *oauthFlows) cookie(provider, value string, expires time.Time, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     cookieName(provider),
		Value:    value,
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(oauthFlowTTL / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// cookieSecure reports whether a flow cookie set in answer to r is marked
// Secure: when r came over HTTPS, directly or per the X-Forwarded-Proto of a
// trusted proxy, and insecure_cookie is off. A browser drops a Secure cookie
// set over plain HTTP from any host but localhost, so marking it Secure
// there would break every sign-in on http://HOST:8188; over HTTPS it keeps
// the cookie off plain-HTTP requests.
func (f *oauthFlows) cookieSecure(r *http.Request) bool {
	return !f.insecure && overHTTPS(r, f.trusted)
}

// overHTTPS reports whether r reached Pollux over HTTPS: its own TLS, or a
// peer in trusted that says so in the first X-Forwarded-Proto value.
func overHTTPS(r *http.Request, trusted []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	if len(trusted) == 0 {
		return false
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := peer.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
			return strings.EqualFold(strings.TrimSpace(proto), "https")
		}
	}
	return false
}

func (f *oauthFlows) clearCookie(c echo.Context, provider string) {
	ck := f.cookie(provider, "", time.Unix(0, 0), f.cookieSecure(c.Request()))
	ck.MaxAge = -1
	http.SetCookie(c.Response(), ck)
}

// consume marks a flow completed; it reports false when it already was.
// A replayed cookie therefore cannot complete a second exchange.
func (f *oauthFlows) consume(state string, expires time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	for s, exp := range f.used {
		if !now.Before(exp) {
			delete(f.used, s)
		}
	}
	if _, done := f.used[state]; done {
		return false
	}
	f.used[state] = expires
	return true
}

// ---- parsing and URLs ----

// parsePasted reads the code and state from a pasted callback address, its
// query string alone, or a bare code. It reports false for input that is
// none of these.
func parsePasted(raw string) (callbackParams, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxPastedLen {
		return callbackParams{}, false
	}
	raw, _, _ = strings.Cut(raw, "#")
	query, hasQuery := "", false
	if _, q, ok := strings.Cut(raw, "?"); ok {
		query, hasQuery = q, true
	} else if strings.Contains(raw, "code=") || strings.Contains(raw, "error=") {
		query, hasQuery = raw, true
	}
	if !hasQuery {
		if strings.Contains(raw, "://") || strings.ContainsAny(raw, " \t\r\n") {
			return callbackParams{}, false
		}
		code, err := url.QueryUnescape(raw)
		if err != nil || code == "" {
			return callbackParams{}, false
		}
		return callbackParams{code: code}, true
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return callbackParams{}, false
	}
	p := callbackParams{code: q.Get("code"), state: q.Get("state"), err: q.Get("error"), errDesc: q.Get("error_description")}
	if p.code == "" && p.state == "" && p.err == "" {
		return callbackParams{}, false
	}
	return p, true
}

// requestOrigin is scheme://host as the client addressed this server (see
// the trust note at the top of this file).
func requestOrigin(r *http.Request) string {
	scheme := "http"
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if r.TLS != nil || strings.EqualFold(strings.TrimSpace(proto), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// PasteBodyLimit caps the body of POST /oauth/paste: one callback address
// (at most 8 KiB) and a provider name, form-encoded.
const PasteBodyLimit = 16 << 10

// sameOrigin reports whether r, a keyless state-changing request, may come
// from the page that sent it: its Origin is Pollux's own, or it has none
// and no Sec-Fetch-Site says another site sent it (a command-line client
// sends neither; browsers send Origin on every POST).
func sameOrigin(r *http.Request) bool {
	if origin := r.Header.Get("Origin"); origin != "" {
		return origin == requestOrigin(r)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// geminiRedirectURI is the redirect URI of a Gemini flow started by r.
func geminiRedirectURI(r *http.Request) string {
	u := url.URL{Host: r.Host}
	if host := u.Hostname(); host == "localhost" || isLoopbackIP(host) {
		return requestOrigin(r) + geminiCallback
	}
	// Google accepts only loopback redirects for this client: send the
	// browser to the same port on the operator's own machine, from where
	// the address is pasted back.
	if port := u.Port(); port != "" {
		return "http://localhost:" + port + geminiCallback
	}
	return "http://localhost" + geminiCallback
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validProjectID reports whether id looks like a Cloud project id (including
// domain-scoped ones such as example.com:project).
func validProjectID(id string) bool {
	if len(id) > maxProjectIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			ch == '-', ch == '.', ch == ':', ch == '_':
		default:
			return false
		}
	}
	return true
}

// shortText bounds provider-supplied text shown on a page or logged.
func shortText(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
