package signin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/providers"
)

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
