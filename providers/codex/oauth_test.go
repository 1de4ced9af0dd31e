package codex

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

func TestAuthCodeURL(t *testing.T) {
	h := newHarness(t)
	verifier := oauth2.GenerateVerifier()
	raw := h.client.AuthCodeURL("state-xyz", verifier, "")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Path, string(fakeupstream.Authorize); got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	want := map[string]string{
		"response_type":              "code",
		"client_id":                  ClientID,
		"redirect_uri":               DefaultRedirectURI,
		"scope":                      "openid profile email offline_access",
		"state":                      "state-xyz",
		"code_challenge":             oauth2.S256ChallengeFromVerifier(verifier),
		"code_challenge_method":      "S256",
		"id_token_add_organizations": "true",
		"codex_cli_simplified_flow":  "true",
	}
	got := map[string]string{}
	for k, v := range u.Query() {
		got[k] = strings.Join(v, ",")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	if u.Query().Has("code_verifier") {
		t.Error("the verifier leaked into the authorize URL")
	}
}

// TestBrowserSignIn runs the whole PKCE flow against the fake: authorize
// redirects with a code, and Exchange proves the verifier.
func TestBrowserSignIn(t *testing.T) {
	h := newHarness(t)
	h.fake.SetLoginAccount(testAccount)
	verifier := oauth2.GenerateVerifier()
	redirect := "http://localhost:1455/auth/callback"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(h.client.AuthCodeURL("st", verifier, redirect))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize status = %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Query().Get("state"); got != "st" {
		t.Errorf("state = %q, want st", got)
	}
	if _, err := h.client.Exchange(t.Context(), loc.Query().Get("code"), "wrong-verifier-wrong-verifier-wrong-verifier", redirect); err == nil {
		t.Fatal("Exchange with a wrong verifier succeeded")
	}

	// The failed attempt burnt that code; sign in again.
	resp, err = noFollow.Get(h.client.AuthCodeURL("st", verifier, redirect))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	loc, _ = url.Parse(resp.Header.Get("Location"))
	cred, err := h.client.Exchange(t.Context(), loc.Query().Get("code"), verifier, redirect)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if cred.Account != testAccount.ID {
		t.Errorf("Account = %q, want %q", cred.Account, testAccount.ID)
	}
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name      string
		account   fakeupstream.Account
		want      providers.Credential
		wantExtra Extra
		wantErr   error
	}{
		{
			name:      "claims",
			account:   testAccount,
			want:      providers.Credential{Provider: providers.Codex, Sub: testAccount.Sub, Email: testAccount.Email, Account: testAccount.ID, Tier: "plus"},
			wantExtra: Extra{PlanType: "plus", UserID: "user-" + testAccount.Sub},
		},
		{
			name:      "no account id",
			account:   fakeupstream.Account{Sub: "s", Email: "e@example.com", PlanType: "free"},
			want:      providers.Credential{Provider: providers.Codex, Sub: "s", Email: "e@example.com", Tier: "free"},
			wantExtra: Extra{PlanType: "free", UserID: "user-s"},
			wantErr:   providers.ErrIneligible,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.AddCode("code-1", tt.account)
			cred, err := h.client.Exchange(t.Context(), "code-1", "verifier", "")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				var ve *providers.VerdictError
				if !errors.As(err, &ve) || ve.Reason != reasonNoAccount {
					t.Errorf("err = %#v, want a VerdictError with reason %q", err, reasonNoAccount)
				}
			}
			if cred.AccessToken.IsZero() || cred.RefreshToken.IsZero() {
				t.Fatal("credential lacks its tokens")
			}
			if want := testNow.Add(time.Hour); !cred.Expiry.Equal(want) {
				t.Errorf("Expiry = %v, want %v", cred.Expiry, want)
			}
			extra, err := DecodeExtra(cred.Extra)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantExtra, extra); diff != "" {
				t.Errorf("extra (-want +got):\n%s", diff)
			}
			got := cred
			got.AccessToken, got.RefreshToken, got.Expiry, got.Extra = "", "", time.Time{}, nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("credential (-want +got):\n%s", diff)
			}
			reqs := h.fake.RequestsTo(fakeupstream.Token)
			if len(reqs) != 1 {
				t.Fatalf("token requests = %d, want 1", len(reqs))
			}
			form, _ := url.ParseQuery(string(reqs[0].Body))
			if form.Get("client_id") != ClientID || form.Get("grant_type") != "authorization_code" || form.Get("code_verifier") != "verifier" {
				t.Errorf("token form = %v", form)
			}
			if reqs[0].Header.Get("Authorization") != "" {
				t.Error("public client sent an Authorization header to the token endpoint")
			}
		})
	}
}

func TestRefreshRotates(t *testing.T) {
	h := newHarness(t)
	cred := h.onboarded(t) // one refresh: rt-initial is dead now
	first := cred.RefreshToken
	if first.Reveal() == "rt-initial" {
		t.Fatal("onboarding kept the rotated-out refresh token")
	}
	if got := h.fake.RefreshToken(testAccount.ID); got != first.Reveal() {
		t.Fatal("onboarded credential does not hold the live refresh token")
	}

	next, err := h.client.Refresh(t.Context(), cred)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if next.RefreshToken == first || next.AccessToken == cred.AccessToken {
		t.Error("Refresh did not return new tokens")
	}
	if next.Account != cred.Account || next.Email != cred.Email || next.Tier != cred.Tier {
		t.Errorf("identity changed: %+v → %+v", cred, next)
	}
	if got := h.fake.Refreshes(testAccount.ID); got != 2 {
		t.Errorf("refreshes = %d, want 2", got)
	}

	// The old refresh token is dead for good.
	_, err = h.client.Refresh(t.Context(), cred)
	var ve *providers.VerdictError
	if !errors.Is(err, providers.ErrReauth) || !errors.As(err, &ve) || ve.Reason != "refresh_token_reused" {
		t.Fatalf("reusing the old token: err = %v, want ErrReauth with reason refresh_token_reused", err)
	}
	if strings.Contains(err.Error(), first.Reveal()) {
		t.Error("error message contains the refresh token")
	}
}

// TestRefreshKeepsTokenWhenOmitted: a refresh answer without refresh_token
// leaves the credential's refresh token as it was.
func TestRefreshKeepsTokenWhenOmitted(t *testing.T) {
	h := newHarness(t)
	h.fake.Push(fakeupstream.Token, fakeupstream.Reply{Body: `{"access_token":"at-new","token_type":"Bearer","expires_in":60}`})
	in := providers.Credential{ID: 7, RefreshToken: "rt-keep", Account: "acct-1", Email: "old@example.com", Tier: "pro"}
	got, err := h.client.Refresh(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken.Reveal() != "rt-keep" || got.AccessToken.Reveal() != "at-new" {
		t.Errorf("tokens = %q/%q, want at-new/rt-keep", got.AccessToken.Reveal(), got.RefreshToken.Reveal())
	}
	if got.Email != "old@example.com" || got.Tier != "pro" || got.Account != "acct-1" {
		t.Errorf("identity changed without an id_token: %+v", got)
	}
	if want := testNow.Add(time.Minute); !got.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want %v", got.Expiry, want)
	}
}

func TestRefreshErrors(t *testing.T) {
	tests := []struct {
		name       string
		reply      fakeupstream.Reply
		wantReauth bool
		wantReason string
		wantKind   providers.Kind
	}{
		{"nested reused", fakeupstream.Reply{Status: 401, Body: `{"error":{"message":"Your refresh token has already been used","type":"invalid_request_error","param":null,"code":"refresh_token_reused"}}`}, true, "refresh_token_reused", 0},
		{"nested expired", fakeupstream.Reply{Status: 401, Body: `{"error":{"message":"expired","code":"refresh_token_expired"}}`}, true, "refresh_token_expired", 0},
		{"nested invalidated on 400", fakeupstream.Reply{Status: 400, Body: `{"error":{"message":"revoked","code":"refresh_token_invalidated"}}`}, true, "refresh_token_invalidated", 0},
		{"flat invalid_grant", fakeupstream.Reply{Status: 400, Body: `{"error":"invalid_grant","error_description":"Invalid refresh token"}`}, true, "invalid_grant", 0},
		{"bare 401", fakeupstream.Reply{Status: 401, Body: `{}`}, true, "unauthorized", 0},
		{"503", fakeupstream.Reply{Status: 503, Body: `upstream connect error`}, false, "", providers.KindTransient},
		{"500 with a code", fakeupstream.Reply{Status: 500, Body: `{"error":{"code":"internal_error"}}`}, false, "", providers.KindTransient},
		{"429", fakeupstream.Reply{Status: 429, Body: `{"error":{"code":"rate_limit_exceeded"}}`}, false, "", providers.KindRateLimited},
		{"unknown 400", fakeupstream.Reply{Status: 400, Body: `{"error":{"code":"invalid_request"}}`}, false, "", providers.KindTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.Push(fakeupstream.Token, tt.reply)
			in := providers.Credential{RefreshToken: "rt-secret-value", Account: "acct-1"}
			got, err := h.client.Refresh(t.Context(), in)
			if err == nil {
				t.Fatal("Refresh succeeded")
			}
			if got.RefreshToken != in.RefreshToken {
				t.Error("a failed refresh changed the refresh token")
			}
			if strings.Contains(err.Error(), "rt-secret-value") {
				t.Errorf("error %q contains the refresh token", err)
			}
			var ve *providers.VerdictError
			if tt.wantReauth {
				if !errors.Is(err, providers.ErrReauth) || !errors.As(err, &ve) || ve.Reason != tt.wantReason {
					t.Fatalf("err = %v, want ErrReauth with reason %q", err, tt.wantReason)
				}
				return
			}
			if errors.As(err, &ve) {
				t.Fatalf("err = %v, want a transient error, not a verdict", err)
			}
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) || ue.Outcome.Kind != tt.wantKind || ue.Status != tt.reply.Status {
				t.Fatalf("err = %v, want an UpstreamError of kind %v and status %d", err, tt.wantKind, tt.reply.Status)
			}
		})
	}
}

func TestRefreshNetworkErrorIsTransient(t *testing.T) {
	h := newHarness(t)
	h.client.tokenURL = "http://127.0.0.1:1/oauth/token" // nothing listens on port 1
	_, err := h.client.Refresh(t.Context(), providers.Credential{RefreshToken: "rt"})
	if err == nil {
		t.Fatal("Refresh succeeded")
	}
	var ve *providers.VerdictError
	if errors.As(err, &ve) {
		t.Fatalf("network error became a verdict: %v", err)
	}
}

func TestRefreshWithoutToken(t *testing.T) {
	h := newHarness(t)
	_, err := h.client.Refresh(t.Context(), providers.Credential{Account: "a"})
	if !errors.Is(err, providers.ErrReauth) {
		t.Fatalf("err = %v, want ErrReauth", err)
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests sent without a refresh token", n)
	}
}

func TestOnboard(t *testing.T) {
	tests := []struct {
		name        string
		account     fakeupstream.Account
		pinned      string
		wantAccount string
		wantTier    string
		wantErr     error
	}{
		{"plus", testAccount, "", testAccount.ID, "plus", nil},
		{"free plan is not rejected here", fakeupstream.Account{ID: "acct-free", Sub: "s2", Email: "f@example.com", PlanType: "free"}, "", "acct-free", "free", nil},
		{"pinned account kept", testAccount, "acct-pinned", "acct-pinned", "plus", nil},
		{"no account id", fakeupstream.Account{Sub: "s3", Email: "n@example.com", PlanType: "plus"}, "", "", "plus", providers.ErrIneligible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.AddAccount("rt-onboard", tt.account)
			got, err := h.client.Onboard(t.Context(), providers.Credential{ID: 3, RefreshToken: "rt-onboard", Account: tt.pinned})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			// Rotation happened either way: the new token must come back.
			if got.RefreshToken.IsZero() || got.RefreshToken.Reveal() == "rt-onboard" {
				t.Error("Onboard did not return the rotated refresh token")
			}
			if got.ID != 3 || got.Provider != providers.Codex || got.Account != tt.wantAccount || got.Tier != tt.wantTier ||
				got.Email != tt.account.Email || got.Sub != tt.account.Sub {
				t.Errorf("credential = %+v, want account %q tier %q email %q", got, tt.wantAccount, tt.wantTier, tt.account.Email)
			}
		})
	}
}

// TestNoSecretsInLogs drives every logging path and checks that no token
// reaches the log.
func TestNoSecretsInLogs(t *testing.T) {
	h := newHarness(t, "gpt-5-codex")
	cred := h.onboarded(t)
	next, err := h.client.Refresh(t.Context(), cred)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = h.client.Refresh(t.Context(), cred) // reused: a verdict
	resp, err := h.client.Send(t.Context(), grantOf(next), &providers.Call{Model: "gpt-5-codex", Method: MethodResponses, Body: []byte(`{"model":"gpt-5-codex"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Collect(resp.Body); err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if h.logs.Len() == 0 {
		t.Fatal("nothing was logged; the test proves nothing")
	}
	var secrets []string
	for _, c := range []providers.Credential{cred, next} {
		secrets = append(secrets, c.AccessToken.Reveal(), c.RefreshToken.Reveal())
	}
	secrets = append(secrets, "rt-initial")
	for _, r := range h.fake.RequestsTo(fakeupstream.Token) {
		form, _ := url.ParseQuery(string(r.Body))
		secrets = append(secrets, form.Get("refresh_token"))
	}
	assertNoSecrets(t, h.logs, secrets...)
}

// TestRefreshUnreadableIDToken: the refresh token has rotated by the time the
// id_token is read, so a broken id_token must not fail the refresh.
func TestRefreshUnreadableIDToken(t *testing.T) {
	h := newHarness(t)
	h.fake.Push(fakeupstream.Token, fakeupstream.Reply{Body: `{"access_token":"at-2","refresh_token":"rt-2","id_token":"not-a-jwt","expires_in":60}`})
	in := providers.Credential{RefreshToken: "rt-1", Account: "acct-1", Email: "old@example.com"}
	got, err := h.client.Refresh(t.Context(), in)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got.RefreshToken.Reveal() != "rt-2" || got.Email != "old@example.com" || got.Account != "acct-1" {
		t.Errorf("credential = %+v, want the new tokens and the old identity", got)
	}
	if n := h.logs.FilterMessageSnippet("unusable id_token").Len(); n != 1 {
		t.Errorf("warnings = %d, want 1", n)
	}
	assertNoSecrets(t, h.logs, "at-2", "rt-2", "rt-1", "not-a-jwt")
}

func TestExchangeUnreadableIDToken(t *testing.T) {
	h := newHarness(t)
	h.fake.Push(fakeupstream.Token, fakeupstream.Reply{Body: `{"access_token":"at-2","refresh_token":"rt-2","id_token":"a.!!!.c","expires_in":60}`})
	_, err := h.client.Exchange(t.Context(), "code", "verifier", "")
	if err == nil || errors.Is(err, providers.ErrIneligible) {
		t.Fatalf("err = %v, want a plain id_token error", err)
	}
	if strings.Contains(err.Error(), "a.!!!.c") {
		t.Errorf("error %q contains the id_token", err)
	}
}
