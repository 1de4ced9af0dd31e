package codex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// issuerURL is the fake's base URL, as the client derives it.
func (h *harness) issuerURL(t *testing.T) string {
	t.Helper()
	iss, err := h.client.issuer()
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func TestStartDevice(t *testing.T) {
	tests := []struct {
		name     string
		reply    *fakeupstream.Reply
		script   fakeupstream.DeviceScript
		interval time.Duration
		expires  time.Duration
		code     string // user code, when the reply fixes it
		wantErr  error
		wantAny  bool // any error
	}{
		{name: "default", interval: 5 * time.Second, expires: DeviceLifetime},
		{name: "scripted interval", script: fakeupstream.DeviceScript{Interval: 7}, interval: 7 * time.Second, expires: DeviceLifetime},
		{
			name:     "numeric interval, old user code spelling, expires_in",
			reply:    &fakeupstream.Reply{Body: `{"device_auth_id":"da-1","usercode":"WXYZ-98765","interval":3,"expires_in":60}`},
			interval: 3 * time.Second, expires: time.Minute, code: "WXYZ-98765",
		},
		{
			name:     "no interval",
			reply:    &fakeupstream.Reply{Body: `{"device_auth_id":"da-1","user_code":"WXYZ-98765"}`},
			interval: defaultDeviceInterval, expires: DeviceLifetime, code: "WXYZ-98765",
		},
		{
			name:     "huge interval is capped",
			reply:    &fakeupstream.Reply{Body: `{"device_auth_id":"da-1","user_code":"WXYZ-98765","interval":"86400"}`},
			interval: maxDeviceInterval, expires: DeviceLifetime, code: "WXYZ-98765",
		},
		{name: "disabled", script: fakeupstream.DeviceScript{Disabled: true}, wantErr: ErrDeviceDisabled},
		{name: "server error", reply: &fakeupstream.Reply{Status: http.StatusBadGateway, Body: `{}`}, wantAny: true},
		{name: "answer without ids", reply: &fakeupstream.Reply{Body: `{"interval":"5"}`}, wantAny: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.SetDeviceScript(tt.script)
			if tt.reply != nil {
				h.fake.Push(fakeupstream.DeviceUserCode, *tt.reply)
			}
			d, err := h.client.StartDevice(t.Context())
			if tt.wantErr != nil || tt.wantAny {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("StartDevice: %v", err)
			}
			if got, want := d.VerificationURL, h.issuerURL(t)+"/codex/device"; got != want {
				t.Errorf("VerificationURL = %q, want %q", got, want)
			}
			if d.Interval != tt.interval {
				t.Errorf("Interval = %v, want %v", d.Interval, tt.interval)
			}
			if want := testNow.Add(tt.expires); !d.Expires.Equal(want) {
				t.Errorf("Expires = %v, want %v", d.Expires, want)
			}
			wantCode := tt.code
			if wantCode == "" {
				wantCode = h.fake.DeviceLogins()[0].UserCode
			}
			if d.UserCode != wantCode || d.AuthID.IsZero() {
				t.Errorf("UserCode = %q (want %q), AuthID set = %v", d.UserCode, wantCode, !d.AuthID.IsZero())
			}
			if s := fmt.Sprintf("%v %+v", d, d); strings.Contains(s, d.AuthID.Reveal()) {
				t.Errorf("printing a Device shows its device_auth_id: %s", s)
			}

			reqs := h.fake.RequestsTo(fakeupstream.DeviceUserCode)
			if len(reqs) != 1 {
				t.Fatalf("usercode requests = %d, want 1", len(reqs))
			}
			if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var body map[string]string
			if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"client_id": ClientID}, body); diff != "" {
				t.Errorf("usercode body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPollDevice(t *testing.T) {
	tests := []struct {
		name string
		// setup scripts the fake before the sign-in starts.
		setup func(h *harness)
		// act runs between start and poll, with the user code.
		act func(t *testing.T, h *harness, userCode string)
		// expireNow sets the sign-in's own deadline to the fake clock's now.
		expireNow bool
		cancel    bool
		wantErr   error
		wantPolls int
	}{
		{
			name: "approved after two pending polls",
			setup: func(h *harness) {
				h.fake.SetDeviceScript(fakeupstream.DeviceScript{Outcome: fakeupstream.DeviceApprove, PendingPolls: 2, Account: testAccount})
			},
			wantPolls: 3,
		},
		{
			name: "approved at once",
			setup: func(h *harness) {
				h.fake.SetDeviceScript(fakeupstream.DeviceScript{Outcome: fakeupstream.DeviceApprove, Account: testAccount})
			},
			wantPolls: 1,
		},
		{
			name: "approved after a transient failure",
			setup: func(h *harness) {
				h.fake.Push(fakeupstream.DeviceToken, fakeupstream.Reply{Status: http.StatusServiceUnavailable, Body: `{"error":{"code":"server_error"}}`})
				h.fake.SetDeviceScript(fakeupstream.DeviceScript{Outcome: fakeupstream.DeviceApprove, Account: testAccount})
			},
			wantPolls: 1, // the scripted 503 is not counted by the fake
		},
		{
			name: "approved by the person",
			act: func(t *testing.T, h *harness, code string) {
				if !h.fake.ApproveDevice(code, testAccount) {
					t.Fatalf("no pending device sign-in %s", code)
				}
			},
			wantPolls: 1,
		},
		{
			name: "denied",
			setup: func(h *harness) {
				h.fake.SetDeviceScript(fakeupstream.DeviceScript{Outcome: fakeupstream.DeviceDeny, PendingPolls: 1})
			},
			wantErr:   ErrDeviceDenied,
			wantPolls: 2,
		},
		{
			name: "expired upstream",
			setup: func(h *harness) {
				h.fake.SetDeviceScript(fakeupstream.DeviceScript{Outcome: fakeupstream.DeviceExpire, PendingPolls: 1})
			},
			wantErr:   ErrDeviceExpired,
			wantPolls: 2,
		},
		{
			name:      "own deadline passes",
			expireNow: true,
			wantErr:   ErrDeviceExpired,
			wantPolls: 1,
		},
		{
			name: "account without chatgpt_account_id",
			setup: func(h *harness) {
				h.fake.SetDeviceScript(fakeupstream.DeviceScript{Outcome: fakeupstream.DeviceApprove, Account: fakeupstream.Account{Sub: "s", Email: "e@example.com"}})
			},
			wantErr:   providers.ErrIneligible,
			wantPolls: 1,
		},
		{
			name:      "caller gives up",
			cancel:    true,
			wantErr:   context.Canceled,
			wantPolls: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			d, err := h.client.StartDevice(t.Context())
			if err != nil {
				t.Fatalf("StartDevice: %v", err)
			}
			d.Interval = time.Millisecond
			if tt.expireNow {
				d.Expires = testNow
			}
			if tt.act != nil {
				tt.act(t, h, d.UserCode)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			cred, err := h.client.PollDevice(ctx, d)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PollDevice err = %v, want %v", err, tt.wantErr)
			}
			if got := h.fake.DeviceLogins()[0].Polls; got != tt.wantPolls {
				t.Errorf("polls = %d, want %d", got, tt.wantPolls)
			}
			for _, r := range h.fake.RequestsTo(fakeupstream.DeviceToken) {
				var body map[string]string
				if err := json.Unmarshal(r.Body, &body); err != nil || body["device_auth_id"] != d.AuthID.Reveal() || body["user_code"] != d.UserCode {
					t.Errorf("token poll body = %s, want device_auth_id and user_code", r.Body)
				}
			}
			if tt.wantErr != nil && !errors.Is(tt.wantErr, providers.ErrIneligible) {
				if n := len(h.fake.RequestsTo(fakeupstream.Token)); n != 0 {
					t.Errorf("token endpoint called %d times after a failed device sign-in", n)
				}
				return
			}
			if tt.wantErr == nil && cred.Account != testAccount.ID {
				t.Errorf("Account = %q, want %q", cred.Account, testAccount.ID)
			}
			toks := h.fake.RequestsTo(fakeupstream.Token)
			if len(toks) != 1 {
				t.Fatalf("token requests = %d, want 1", len(toks))
			}
			form, err := url.ParseQuery(string(toks[0].Body))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := form.Get("redirect_uri"), h.issuerURL(t)+"/deviceauth/callback"; got != want {
				t.Errorf("redirect_uri = %q, want %q", got, want)
			}
			if form.Get("grant_type") != "authorization_code" || form.Get("code_verifier") == "" {
				t.Errorf("token form = %v, want the authorization_code grant with a verifier", form)
			}
			assertNoSecrets(t, h.logs, d.AuthID.Reveal(), form.Get("code"), form.Get("code_verifier"),
				cred.AccessToken.Reveal(), cred.RefreshToken.Reveal())
		})
	}
}

func TestDeviceIssuer(t *testing.T) {
	tests := []struct {
		name, tokenURL, want string
		wantErr              bool
	}{
		{name: "default", tokenURL: "", want: "https://auth.openai.com"},
		{name: "path prefix kept", tokenURL: "https://proxy.example/openai/oauth/token/", want: "https://proxy.example/openai"},
		{name: "other path gives the origin", tokenURL: "http://127.0.0.1:8080/token", want: "http://127.0.0.1:8080"},
		{name: "relative", tokenURL: "/oauth/token", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(config.Provider{OAuthTokenURL: tt.tokenURL}, &http.Client{}, zap.NewNop())
			got, err := c.issuer()
			if (err != nil) != tt.wantErr {
				t.Fatalf("issuer() err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("issuer() = %q, want %q", got, tt.want)
			}
		})
	}
}
