package signin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/transport/signin/oauthpages"
)

// The device-code sign-in adds a Codex account without any redirect: Pollux
// asks OpenAI for a user code, the operator types it at OpenAI's device page
// from any browser, and Pollux polls until the sign-in is approved, then
// onboards the credential exactly as a browser sign-in does.
//
//	GET /codex/auth/device[?format=json]   (operator key)
//	    starts one; the page shows the code and the link, sets a cookie for
//	    this sign-in and reloads itself from /oauth/device/{id}; format=json
//	    answers {id, user_code, verification_url, interval, expires_at,
//	    status_url} for scripts
//	GET /codex/auth/device/{id}            (operator key)
//	    {"status":"pending"|"added"|"failed", title, message, verdict, ...}
//	GET /oauth/device/{id}                 (no key; the cookie)
//	    the waiting page while pending, then the result page
//
// The page follows the sign-in with a meta refresh, not a script, so the
// pages keep their script-free Content-Security-Policy and the key never has
// to be in a page. The cookie that lets the page in is the MAC of the
// sign-in's id under the flows' key, scoped to that page's path; the id
// alone (it is in access logs) opens nothing without the key or the cookie.
//
// The Codex pool's onboarding actor polls each sign-in (actors.PollSignIn),
// on the pool's clock, until the code's lifetime (15 minutes) ends, and
// onboards the credential; this package asks it how a sign-in ended when a
// page or the JSON status is loaded. The HTTP server's shutdown ends every
// sign-in still waiting (StopDevices). At most maxDeviceLogins wait at
// once. A finished sign-in's result stays readable for deviceKeep.

// Device sign-in paths and limits.
const (
	codexDevicePath   = codexAuthPath + "/device"
	deviceStatusPath  = "/oauth/device"
	deviceCookieName  = "pollux_oauth_device"
	deviceMACProvider = "device"
	maxDeviceLogins   = 32
	deviceKeep        = 10 * time.Minute
	// devicePageRefresh is how often the waiting page reloads itself.
	devicePageRefresh = 5
	hintDeviceAgain   = "Start a new sign-in with a device code at " + codexDevicePath + " (with your Pollux key)."
)

// Device sign-in states, as the JSON status reports them.
const (
	DevicePending = "pending"
	DeviceAdded   = "added"
	DeviceFailed  = "failed"
)

// defaultDeviceInterval paces the polls when OpenAI names no interval.
const defaultDeviceInterval = 5 * time.Second

// errDeviceStopping refuses new device sign-ins once the server is stopping.
var errDeviceStopping = errors.New("device sign-in: server is stopping")

// deviceFlows keeps what the pages show of the device sign-ins of one
// server; the pool's onboarding actor runs them.
type deviceFlows struct {
	// interval, when > 0, replaces the authorization server's polling
	// interval (tests).
	interval time.Duration

	mu sync.Mutex
	// mu guards the following fields.
	logins  map[string]*deviceLogin
	stopped bool
}

// deviceLogin is one device sign-in.
type deviceLogin struct {
	id              string
	userCode        string
	verificationURL string
	expires         time.Time

	// Guarded by deviceFlows.mu; set once when the sign-in's end is known.
	done      bool
	outcome   signInOutcome
	keepUntil time.Time
}

// newDeviceFlows makes the device sign-in state.
func (a *API) newDeviceFlows(interval time.Duration) *deviceFlows {
	return &deviceFlows{logins: make(map[string]*deviceLogin), interval: interval}
}

// stop refuses new sign-ins.
func (dv *deviceFlows) stop() {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	dv.stopped = true
}

// add registers l, dropping results no longer kept first. A sign-in whose
// code expired no longer counts as waiting.
func (dv *deviceFlows) add(l *deviceLogin, now time.Time) error {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	if dv.stopped {
		return errDeviceStopping
	}
	waiting := 0
	for id, o := range dv.logins {
		switch {
		case o.done && !now.Before(o.keepUntil), !o.done && !now.Before(o.expires.Add(deviceKeep)):
			delete(dv.logins, id)
		case !o.done && now.Before(o.expires):
			waiting++
		}
	}
	if waiting >= maxDeviceLogins {
		return fmt.Errorf("device sign-in: %d already waiting", waiting)
	}
	dv.logins[l.id] = l
	return nil
}

// remove forgets a sign-in that never started.
func (dv *deviceFlows) remove(id string) {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	delete(dv.logins, id)
}

// lookup returns a copy of the sign-in with id, if it is still kept.
func (dv *deviceFlows) lookup(id string, now time.Time) (deviceLogin, bool) {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	l, ok := dv.logins[id]
	if !ok || (l.done && !now.Before(l.keepUntil)) {
		return deviceLogin{}, false
	}
	return *l, true
}

// finish records how the sign-in id ended (the first answer wins) and
// returns it as kept.
func (dv *deviceFlows) finish(id string, out signInOutcome, now time.Time) (deviceLogin, bool) {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	l, ok := dv.logins[id]
	if !ok {
		return deviceLogin{}, false
	}
	if !l.done {
		l.done, l.outcome, l.keepUntil = true, out, now.Add(deviceKeep)
	}
	return *l, true
}

// waiting returns the ids of the sign-ins whose end is not known yet.
func (dv *deviceFlows) waiting() []string {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	var ids []string
	for id, l := range dv.logins {
		if !l.done {
			ids = append(ids, id)
		}
	}
	return ids
}

// ---- handlers ----

// startCodexDevice starts a device sign-in and shows its code.
func (a *API) startCodexDevice(c echo.Context, f *oauthFlows) error {
	asJSON := c.QueryParam("format") == "json"
	poller := a.d.Devices()
	if a.d.Codex == nil || poller == nil {
		return a.deviceStartFailed(c, f, asJSON, http.StatusServiceUnavailable, "The Codex provider is not configured on this server.")
	}
	log := a.log.With(zap.String(keyRequestID, a.d.RequestID(c)), zap.String("provider", providers.Codex))
	d, err := a.d.Codex.StartDevice(c.Request().Context())
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		log.Warn("oauth device: start failed", zap.Error(err))
		msg := "Pollux could not get a device code from OpenAI. Try again in a moment, or use the browser sign-in at " + codexAuthPath + "."
		if errors.Is(err, codex.ErrDeviceDisabled) {
			msg = "OpenAI's authorization server does not offer device code sign-in here. Use the browser sign-in at " + codexAuthPath + "."
		}
		return a.deviceStartFailed(c, f, asJSON, http.StatusBadGateway, msg)
	}
	dv := f.device
	l := &deviceLogin{id: rand.Text(), userCode: d.UserCode, verificationURL: d.VerificationURL, expires: d.Expires}
	if err := dv.add(l, f.now()); err != nil {
		log.Warn("oauth device: not started", zap.Error(err))
		return a.deviceStartFailed(c, f, asJSON, http.StatusServiceUnavailable,
			"Too many device sign-ins are waiting, or the server is stopping. Finish or let the others expire, then try again.")
	}
	interval := d.Interval
	if dv.interval > 0 {
		interval = dv.interval
	}
	if interval <= 0 {
		interval = defaultDeviceInterval
	}
	codexAuth := a.d.Codex
	step := func(ctx context.Context) (providers.Credential, error) {
		cred, err := codexAuth.PollDeviceOnce(ctx, d)
		if errors.Is(err, codex.ErrDevicePending) {
			err = actors.ErrSignInPending
		}
		return cred, err
	}
	if err := poller.PollSignIn(c.Request().Context(), l.id, step, interval, l.expires); err != nil {
		dv.remove(l.id)
		if errors.Is(err, context.Canceled) {
			return err
		}
		log.Warn("oauth device: not started", zap.Error(err))
		return a.deviceStartFailed(c, f, asJSON, http.StatusServiceUnavailable,
			"Too many device sign-ins are waiting, or the server is stopping. Finish or let the others expire, then try again.")
	}
	log.Info("oauth device sign-in started", zap.String("device_login", l.id), zap.Time("expires", l.expires))

	w := c.Response()
	f.pages.SetHeaders(w.Header())
	statusURL := requestOrigin(c.Request()) + codexDevicePath + "/" + l.id
	if asJSON {
		return c.JSON(http.StatusOK, struct {
			ID              string    `json:"id"`
			UserCode        string    `json:"user_code"`
			VerificationURL string    `json:"verification_url"`
			Interval        int       `json:"interval"`
			ExpiresAt       time.Time `json:"expires_at"`
			StatusURL       string    `json:"status_url"`
		}{l.id, l.userCode, l.verificationURL, devicePageRefresh, l.expires.UTC(), statusURL})
	}
	http.SetCookie(w, f.deviceCookie(l.id, l.expires.Add(deviceKeep), f.cookieSecure(c.Request())))
	return f.pages.Render(w, http.StatusOK, devicePage(*l, statusURL))
}

func (a *API) deviceStartFailed(c echo.Context, f *oauthFlows, asJSON bool, status int, msg string) error {
	if asJSON {
		if status != http.StatusBadGateway {
			status = http.StatusServiceUnavailable
		}
		return failure(status, msg)
	}
	return f.pages.Render(c.Response(), status, oauthpages.Problem{Title: "Cannot start the sign-in", Message: msg})
}

func devicePage(l deviceLogin, statusURL string) oauthpages.Device {
	return oauthpages.Device{
		Provider:        "Codex (ChatGPT)",
		UserCode:        l.userCode,
		VerificationURL: l.verificationURL,
		Expires:         l.expires.UTC().Format("15:04 UTC"),
		RefreshURL:      deviceStatusPath + "/" + l.id,
		RefreshSecs:     devicePageRefresh,
		StatusURL:       statusURL,
	}
}

// codexDeviceStatus answers the JSON status of a device sign-in.
func (a *API) codexDeviceStatus(c echo.Context, f *oauthFlows) error {
	f.pages.SetHeaders(c.Response().Header())
	l, ok := a.deviceLookup(c.Request().Context(), f, c.Param("id"), false)
	if !ok {
		return failure(http.StatusNotFound, "no such device sign-in (a finished one is kept for 10 minutes)")
	}
	return c.JSON(http.StatusOK, deviceStatusOf(l))
}

// DeviceStatus is the JSON status of a device sign-in.
type DeviceStatus struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// While pending.
	UserCode        string    `json:"user_code,omitempty"`
	VerificationURL string    `json:"verification_url,omitempty"`
	ExpiresAt       time.Time `json:"expires_at"`
	// Once finished.
	Title   string          `json:"title,omitempty"`
	Message string          `json:"message,omitempty"`
	Verdict *actors.Verdict `json:"verdict,omitempty"`
}

func deviceStatusOf(l deviceLogin) DeviceStatus {
	st := DeviceStatus{ID: l.id, Status: DevicePending, ExpiresAt: l.expires.UTC()}
	if !l.done {
		st.UserCode, st.VerificationURL = l.userCode, l.verificationURL
		return st
	}
	st.Status, st.Verdict = DeviceFailed, l.outcome.verdict
	switch p := l.outcome.page.(type) {
	case oauthpages.Result:
		if p.OK {
			st.Status = DeviceAdded
		}
		st.Title, st.Message = p.Title, p.Summary
	case oauthpages.Problem:
		st.Title, st.Message = p.Title, p.Message
	}
	return st
}

// devicePage serves the browser's view of a device sign-in: the waiting
// page, then the result.
func (a *API) devicePage(c echo.Context, f *oauthFlows) error {
	id := c.Param("id")
	l, ok := a.deviceLookup(c.Request().Context(), f, id, false)
	ck, err := c.Request().Cookie(deviceCookieName)
	if !ok || err != nil || !f.deviceCookieValid(id, ck.Value) {
		return f.pages.Render(c.Response(), http.StatusNotFound, oauthpages.Problem{
			Title:   "No such sign-in here",
			Message: "This device sign-in is not known in this browser, or it finished more than 10 minutes ago.",
			Hint:    hintDeviceAgain,
		})
	}
	if !l.done {
		return f.pages.Render(c.Response(), http.StatusOK, devicePage(l, requestOrigin(c.Request())+codexDevicePath+"/"+l.id))
	}
	return f.renderOutcome(c, l.outcome, hintDeviceAgain)
}

// ---- cookie ----

func (f *oauthFlows) deviceCookieValue(id string) string {
	return base64.RawURLEncoding.EncodeToString(f.mac(deviceMACProvider, id))
}

func (f *oauthFlows) deviceCookieValid(id, value string) bool {
	got, err := base64.RawURLEncoding.DecodeString(value)
	return err == nil && hmac.Equal(got, f.mac(deviceMACProvider, id))
}

// deviceCookie lets this browser see the sign-in's page until expires.
func (f *oauthFlows) deviceCookie(id string, expires time.Time, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     deviceCookieName,
		Value:    f.deviceCookieValue(id),
		Path:     deviceStatusPath + "/" + id,
		Expires:  expires,
		MaxAge:   int(time.Until(expires) / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// ---- the pool's answer ----

// deviceLookup returns the sign-in with id, its end settled from the
// pool's onboarding actor when it has ended (with wait, once it has).
func (a *API) deviceLookup(ctx context.Context, f *oauthFlows, id string, wait bool) (deviceLogin, bool) {
	dv := f.device
	l, ok := dv.lookup(id, f.now())
	if !ok || l.done {
		return l, ok
	}
	poller := a.d.Devices()
	if poller == nil {
		return l, true
	}
	log := a.log.With(zap.String("provider", providers.Codex), zap.String("device_login", id))
	st, err := poller.SignIn(ctx, id, wait)
	switch {
	case err != nil:
		log.Warn("oauth device: status not read", zap.Error(err))
		return l, true
	case !st.Found:
		// The pool forgot it (it ended long ago, or the pool restarted).
		return dv.finish(id, problemOutcome(http.StatusServiceUnavailable, "Sign-in stopped",
			"Pollux stopped before the sign-in was approved. No account was added."), f.now())
	case !st.Done:
		return l, true
	}
	return dv.finish(id, a.signInOutcomeOf(log, st), f.now())
}

// signInOutcomeOf judges how the pool says a device sign-in ended.
func (a *API) signInOutcomeOf(log *zap.Logger, st *actors.SignInStatus) signInOutcome {
	prov := a.oauthProvider(providers.Codex)
	switch {
	case st.Job != nil:
		return jobOutcome(log, prov, st.Job.ID, st.Job, nil)
	case errors.Is(st.Err, actors.ErrSignInNotOnboarded):
		log.Warn("oauth: ingest failed", zap.Error(st.Err))
		return problemOutcome(http.StatusServiceUnavailable, "Could not add the account",
			"Pollux could not start checking the account. Try again in a moment.")
	}
	return deviceOutcome(log, prov, st.Err)
}

// deviceOutcome judges a device sign-in that ended without a credential.
func deviceOutcome(log *zap.Logger, prov oauthProvider, err error) signInOutcome {
	switch {
	case errors.Is(err, actors.ErrSignInStopped):
		log.Info("oauth device: stopped with the server")
		return problemOutcome(http.StatusServiceUnavailable, "Sign-in stopped",
			"Pollux stopped before the sign-in was approved. No account was added.")
	case errors.Is(err, codex.ErrDeviceExpired), errors.Is(err, actors.ErrSignInExpired):
		log.Info("oauth device: expired", zap.Error(err))
		return problemOutcome(http.StatusBadRequest, "Code expired",
			"Nobody approved this sign-in before its code expired. No account was added.")
	case errors.Is(err, codex.ErrDeviceDenied):
		log.Info("oauth device: refused", zap.Error(err))
		return problemOutcome(http.StatusBadRequest, "Sign-in refused",
			"OpenAI refused this sign-in. If the account does not allow device code sign-in, turn it on in ChatGPT's security settings, or use the browser sign-in at "+codexAuthPath+".")
	}
	return exchangeOutcome(log, prov, err)
}
