package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

const deviceAdminKey = "device-admin-key-0123456789"

// deviceKeyHeader sends the admin key: with one set, the sign-ins take only
// that key.
var deviceKeyHeader = http.Header{"Authorization": {"Bearer " + deviceAdminKey}}

// newDeviceHarness is a harness with the flows enabled, device polling
// every few milliseconds, and an admin key. Its cleanup stops the pollers
// and waits for them, so none outlives the test.
func newDeviceHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, harnessOptions{
		mutateCfg: func(c *config.Config) { c.Basic.AdminKey = deviceAdminKey },
		serverSetup: func(s *Server) {
			opts := OAuthOptions{InsecureCookie: true, devicePollInterval: 2 * time.Millisecond}
			if err := s.EnableOAuth(context.Background(), newOAuthMemStore(), opts); err != nil {
				t.Fatal(err)
			}
		},
	})
	t.Cleanup(func() {
		h.srv.signin.StopDevices()
		h.waitDevices()
	})
	return h
}

// waitDevices waits until every device sign-in has finished.
func (h *harness) waitDevices() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.srv.signin.WaitDevices(ctx)
}

var refreshRE = regexp.MustCompile(`<meta http-equiv="refresh" content="\d+;url=` + deviceStatusPath + `/([A-Z0-9]+)">`)

// deviceStart opens the device page in the browser and returns the sign-in
// id and the page.
func (h *harness) deviceStart(client *http.Client) (string, string) {
	h.t.Helper()
	resp, body := oauthGet(h.t, client, h.ts.URL+codexDevicePath+"?key="+deviceAdminKey, nil)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("device start: status %d, body %s", resp.StatusCode, body)
	}
	m := refreshRE.FindStringSubmatch(body)
	if m == nil {
		h.t.Fatalf("device page has no refresh to its status page:\n%s", body)
	}
	return m[1], body
}

// deviceStatusJSON reads the JSON status of a sign-in with the Pollux key.
func (h *harness) deviceStatusJSON(id string) deviceStatus {
	h.t.Helper()
	resp, body := oauthGet(h.t, h.ts.Client(), h.ts.URL+codexDevicePath+"/"+id, deviceKeyHeader)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("device status: status %d, body %s", resp.StatusCode, body)
	}
	var st deviceStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// deviceSecrets returns what the device sign-in exchanged with the fake:
// the device_auth_id, and the authorization code and verifier when a code
// was exchanged.
func (h *harness) deviceSecrets() []string {
	h.t.Helper()
	var out []string
	for _, r := range h.cfake.RequestsTo(codexfake.DeviceToken) {
		var body map[string]string
		if err := json.Unmarshal(r.Body, &body); err == nil {
			out = append(out, body["device_auth_id"])
		}
	}
	for _, r := range h.cfake.RequestsTo(codexfake.Token) {
		if form, err := url.ParseQuery(string(r.Body)); err == nil {
			out = append(out, form.Get("code"), form.Get("code_verifier"))
		}
	}
	return out
}

func (h *harness) codexPoolAccounts() []string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := h.sys.Pool(providers.Codex).Snapshot(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, c := range snap.Credentials {
		out = append(out, c.Account)
	}
	return out
}

// TestOAuthCodexDevice signs a ChatGPT account in with a device code, from
// the page that shows the code to the account in the pool.
func TestOAuthCodexDevice(t *testing.T) {
	h := newDeviceHarness(t)
	client := h.oauthBrowser()
	id, page := h.deviceStart(client)

	logins := h.cfake.DeviceLogins()
	if len(logins) != 1 {
		t.Fatalf("device sign-ins at the fake = %d, want 1", len(logins))
	}
	code := logins[0].UserCode
	oauthHas(t, page, "<code>"+code+"</code>", `href="`+h.cupstream.URL+`/codex/device"`,
		h.ts.URL+codexDevicePath+"/"+id, "Waiting for the sign-in")
	oauthLacks(t, page, harnessKey)

	if st := h.deviceStatusJSON(id); st.Status != devicePending || st.UserCode != code || st.VerificationURL != h.cupstream.URL+"/codex/device" {
		t.Errorf("status before approval = %+v, want pending with the code and link", st)
	}
	resp, body := oauthGet(t, client, h.ts.URL+deviceStatusPath+"/"+id, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, code) || !refreshRE.MatchString(body) {
		t.Errorf("waiting page: status %d, want 200 with the code and a refresh:\n%s", resp.StatusCode, body)
	}

	account := codexfake.Account{ID: "acct-dana", Sub: "sub-dana", Email: "dana@example.com", PlanType: "team"}
	if !h.cfake.ApproveDevice(code, account) {
		t.Fatal("the fake has no pending sign-in with the page's code")
	}
	h.waitDevices()

	st := h.deviceStatusJSON(id)
	if st.Status != deviceAdded || st.Verdict == nil || st.Verdict.Result != actors.VerdictAdded ||
		st.Verdict.Account != "acct-dana" || st.Verdict.Email != "dana@example.com" || st.UserCode != "" {
		t.Errorf("status after approval = %+v (verdict %+v), want added for acct-dana without the code", st, st.Verdict)
	}
	resp, body = oauthGet(t, client, h.ts.URL+deviceStatusPath+"/"+id, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("result page: status %d, body %s", resp.StatusCode, body)
	}
	oauthHas(t, body, "Account added", "dana@example.com", "acct-dana", "Use a dedicated account")
	if refreshRE.MatchString(body) {
		t.Error("the result page still reloads itself")
	}
	if diff := cmp.Diff([]string{"acct-dana"}, h.codexPoolAccounts()); diff != "" {
		t.Errorf("codex pool accounts (-want +got):\n%s", diff)
	}

	live := h.cfake.RefreshToken("acct-dana")
	secrets := append(h.deviceSecrets(), live, harnessKey)
	if len(secrets) < 4 {
		t.Fatalf("expected the device id, code and verifier to be recorded, got %d values", len(secrets))
	}
	oauthLacks(t, page+body+h.deviceStatusJSONRaw(id), append(secrets, "rt_", "at_")...)
	h.oauthNotLogged(secrets...)
}

func (h *harness) deviceStatusJSONRaw(id string) string {
	h.t.Helper()
	_, body := oauthGet(h.t, h.ts.Client(), h.ts.URL+codexDevicePath+"/"+id, deviceKeyHeader)
	return body
}

// TestOAuthCodexDeviceFailures covers the sign-ins that end without an
// account.
func TestOAuthCodexDeviceFailures(t *testing.T) {
	tests := []struct {
		name string
		act  func(h *harness, code string) bool
		// wantTitle is the result's title; wantVerdict the verdict, if any.
		wantTitle   string
		wantMsg     string
		wantVerdict actors.VerdictKind
		wantStatus  int // of the result page
	}{
		{
			name:       "denied",
			act:        func(h *harness, code string) bool { return h.cfake.DenyDevice(code) },
			wantTitle:  "Sign-in refused",
			wantMsg:    "security settings",
			wantStatus: http.StatusBadRequest,
		},
		{
			name:       "expired",
			act:        func(h *harness, code string) bool { return h.cfake.ExpireDevice(code) },
			wantTitle:  "Code expired",
			wantMsg:    "No account was added",
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "account without chatgpt_account_id",
			act: func(h *harness, code string) bool {
				return h.cfake.ApproveDevice(code, codexfake.Account{Sub: "sub-x", Email: "x@example.com", PlanType: "free"})
			},
			wantTitle:   "Account not eligible",
			wantVerdict: actors.VerdictIneligible,
			wantStatus:  http.StatusUnprocessableEntity,
		},
		{
			name: "server stops",
			act: func(h *harness, _ string) bool {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return h.srv.Shutdown(ctx) == nil
			},
			wantTitle:  "Sign-in stopped",
			wantMsg:    "Pollux stopped",
			wantStatus: http.StatusServiceUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newDeviceHarness(t)
			client := h.oauthBrowser()
			id, _ := h.deviceStart(client)
			if !tt.act(h, h.cfake.DeviceLogins()[0].UserCode) {
				t.Fatal("acting on the sign-in failed")
			}
			h.waitDevices()

			st := h.deviceStatusJSON(id)
			if st.Status != deviceFailed || st.Title != tt.wantTitle || !strings.Contains(st.Message, tt.wantMsg) {
				t.Errorf("status = %+v, want failed %q mentioning %q", st, tt.wantTitle, tt.wantMsg)
			}
			if got := verdictKind(st.Verdict); got != tt.wantVerdict {
				t.Errorf("verdict = %q, want %q", got, tt.wantVerdict)
			}
			resp, body := oauthGet(t, client, h.ts.URL+deviceStatusPath+"/"+id, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("result page status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			oauthHas(t, body, tt.wantTitle)
			if tt.wantStatus == http.StatusBadRequest {
				oauthHas(t, body, hintDeviceAgain)
			}
			if got := h.codexPoolAccounts(); len(got) != 0 {
				t.Errorf("codex pool = %v, want empty", got)
			}
			secrets := h.deviceSecrets()
			oauthLacks(t, body, secrets...)
			h.oauthNotLogged(secrets...)
		})
	}
}

func verdictKind(v *actors.Verdict) actors.VerdictKind {
	if v == nil {
		return ""
	}
	return v.Result
}

// TestOAuthCodexDeviceHeadless drives a sign-in the way a script would.
func TestOAuthCodexDeviceHeadless(t *testing.T) {
	h := newDeviceHarness(t)
	h.cfake.SetDeviceScript(codexfake.DeviceScript{Outcome: codexfake.DeviceApprove, PendingPolls: 2,
		Account: codexfake.Account{ID: "acct-eli", Sub: "sub-eli", Email: "eli@example.com", PlanType: "plus"}})

	resp, body := oauthGet(t, h.ts.Client(), h.ts.URL+codexDevicePath+"?format=json", deviceKeyHeader)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start: status %d, body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("a JSON start set cookies: %v", resp.Cookies())
	}
	var start struct {
		ID              string    `json:"id"`
		UserCode        string    `json:"user_code"`
		VerificationURL string    `json:"verification_url"`
		Interval        int       `json:"interval"`
		ExpiresAt       time.Time `json:"expires_at"`
		StatusURL       string    `json:"status_url"`
	}
	if err := json.Unmarshal([]byte(body), &start); err != nil {
		t.Fatal(err)
	}
	if start.UserCode != h.cfake.DeviceLogins()[0].UserCode || start.VerificationURL != h.cupstream.URL+"/codex/device" ||
		start.StatusURL != h.ts.URL+codexDevicePath+"/"+start.ID || start.Interval <= 0 {
		t.Errorf("start = %+v", start)
	}
	if left := time.Until(start.ExpiresAt); left < 14*time.Minute || left > 15*time.Minute {
		t.Errorf("expires_at is %v away, want about 15 minutes", left)
	}
	h.waitDevices()

	// The admin key reads the status (operator route); the Pollux key,
	// with an admin key set, does not.
	resp, body = oauthGet(t, h.ts.Client(), start.StatusURL, deviceKeyHeader)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"status":"added"`) || !strings.Contains(body, `"account":"acct-eli"`) {
		t.Errorf("status with the admin key: %d %s", resp.StatusCode, body)
	}
	if resp, body := oauthGet(t, h.ts.Client(), start.StatusURL, oauthKeyHeader); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status with the Pollux key while an admin key is set: %d %s, want 401", resp.StatusCode, body)
	}
	if got := h.cfake.DeviceLogins()[0].Polls; got != 3 {
		t.Errorf("polls at the fake = %d, want 3", got)
	}
}

// TestOAuthCodexDeviceAccess: the start and the JSON status need the key,
// the page needs the cookie of the browser that started the sign-in.
func TestOAuthCodexDeviceAccess(t *testing.T) {
	h := newDeviceHarness(t)
	client := h.oauthBrowser()
	id, _ := h.deviceStart(client)

	tests := []struct {
		name       string
		client     *http.Client
		path       string
		header     http.Header
		wantStatus int
	}{
		{"start without key", h.oauthBrowser(), codexDevicePath, nil, http.StatusUnauthorized},
		{"start with a wrong key", h.oauthBrowser(), codexDevicePath, http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"start with the Pollux key while an admin key is set", h.oauthBrowser(), codexDevicePath, oauthKeyHeader, http.StatusUnauthorized},
		{"status without key", h.ts.Client(), codexDevicePath + "/" + id, nil, http.StatusUnauthorized},
		{"status of an unknown sign-in", h.ts.Client(), codexDevicePath + "/NOSUCHID", deviceKeyHeader, http.StatusNotFound},
		{"page in another browser", h.oauthBrowser(), deviceStatusPath + "/" + id, nil, http.StatusNotFound},
		{"page with the key but no cookie", h.oauthBrowser(), deviceStatusPath + "/" + id, deviceKeyHeader, http.StatusNotFound},
		{"page of the starting browser", client, deviceStatusPath + "/" + id, nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := oauthGet(t, tt.client, h.ts.URL+tt.path, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("GET %s: status %d, want %d; body %s", tt.path, resp.StatusCode, tt.wantStatus, body)
			}
		})
	}
	if n := len(h.cfake.DeviceLogins()); n != 1 {
		t.Errorf("device sign-ins at the fake = %d, want 1 (refused starts must not reach it)", n)
	}

	// A forged cookie for this id does not open the page either.
	resp, _ := oauthWithCookie(t, &oauthHarness{harness: h}, deviceCookieName, "AAAA", deviceStatusPath+"/"+id)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("forged cookie: status %d, want 404", resp.StatusCode)
	}
}

// TestOAuthCodexDeviceStartFailures: the authorization server has no device
// sign-in, or the server is stopping.
func TestOAuthCodexDeviceStartFailures(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(h *harness)
		format     string
		wantStatus int
		want       string
	}{
		{"disabled upstream, page", func(h *harness) { h.cfake.SetDeviceScript(codexfake.DeviceScript{Disabled: true}) }, "", http.StatusBadGateway, "does not offer device code sign-in"},
		{"disabled upstream, json", func(h *harness) { h.cfake.SetDeviceScript(codexfake.DeviceScript{Disabled: true}) }, "json", http.StatusBadGateway, `"error"`},
		{"stopping", func(h *harness) { h.srv.signin.StopDevices() }, "json", http.StatusServiceUnavailable, "stopping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newDeviceHarness(t)
			tt.setup(h)
			path := codexDevicePath
			if tt.format != "" {
				path += "?format=" + tt.format
			}
			resp, body := oauthGet(t, h.oauthBrowser(), h.ts.URL+path, deviceKeyHeader)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.want) {
				t.Errorf("status %d, want %d with %q; body %s", resp.StatusCode, tt.wantStatus, tt.want, body)
			}
		})
	}
}

// TestOAuthCodexCallbackAlias: /codex/auth/callback completes a browser
// sign-in like /auth/callback, without the key (the browser comes from the
// provider's redirect), and the start page explains the port change.
func TestOAuthCodexCallbackAlias(t *testing.T) {
	h := newDeviceHarness(t)
	h.cfake.SetLoginAccount(codexfake.Account{ID: "acct-fay", Sub: "sub-fay", Email: "fay@example.com", PlanType: "pro"})
	client := h.oauthBrowser()

	resp, page := oauthGet(t, client, h.ts.URL+codexAuthPath+"?format=html", deviceKeyHeader)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start page: status %d", resp.StatusCode)
	}
	oauthHas(t, page, "<code>http://localhost:1455</code>", "<code>"+h.ts.URL+"</code>", `href="/oauth/paste?provider=codex"`,
		`href="`+codexDevicePath+`"`)

	loc := h.oauthStartWith(client, codexAuthPath, deviceKeyHeader)
	_, st := h.oauthCookie(client, providers.Codex)
	resp, body := oauthGet(t, client, loc.String(), nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("fake authorize: status %d, body %s", resp.StatusCode, body)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	// The operator changes http://localhost:1455/auth/callback into
	// Pollux's own address, here under /codex.
	resp, body = oauthGet(t, client, h.ts.URL+codexCallbackAlt+"?"+cb.RawQuery, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alias callback: status %d, body %s", resp.StatusCode, body)
	}
	oauthHas(t, body, "Account added", "fay@example.com", "acct-fay")
	oauthLacks(t, body, cb.Query().Get("code"), st.Verifier)
	if diff := cmp.Diff([]string{"acct-fay"}, h.codexPoolAccounts()); diff != "" {
		t.Errorf("codex pool accounts (-want +got):\n%s", diff)
	}
	h.oauthNotLogged(cb.Query().Get("code"), st.Verifier)

	// A replay through the alias is refused like one through /auth/callback.
	resp, _ = oauthGet(t, client, h.ts.URL+codexCallbackAlt+"?"+cb.RawQuery, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed callback: status %d, want 400", resp.StatusCode)
	}
}
