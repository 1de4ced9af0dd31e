package geminicli

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/egress"
	"github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

func TestAuthCodeURL(t *testing.T) {
	env := newEnv(t)
	verifier := oauth2.GenerateVerifier()
	raw := env.c.AuthCodeURL("state-xyz", verifier, "http://localhost:8188/oauth2callback")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Scheme+"://"+u.Host+u.Path, env.url+"/auth"; got != want {
		t.Errorf("endpoint = %s, want %s", got, want)
	}
	q := u.Query()
	want := map[string]string{
		"client_id":             oauthClientID,
		"redirect_uri":          "http://localhost:8188/oauth2callback",
		"response_type":         "code",
		"state":                 "state-xyz",
		"access_type":           "offline",
		"prompt":                "consent",
		"code_challenge_method": "S256",
		"code_challenge":        oauth2.S256ChallengeFromVerifier(verifier),
		"scope":                 "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if q.Has("client_secret") || q.Has("code_verifier") {
		t.Errorf("authorize URL leaks client_secret or code_verifier: %s", raw)
	}
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name         string
		omitIDToken  bool
		wantUserinfo int
	}{
		{"identity from id_token", false, 0},
		{"identity from userinfo", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			env.fake.AddAccount("1//rt-exchange", fakeupstream.Account{Email: "dev@example.com", Sub: "1098765"})
			env.fake.AddAuthCode("4/code-1", "1//rt-exchange")
			env.fake.OmitIDToken(tt.omitIDToken)
			verifier := oauth2.GenerateVerifier()

			cred, err := env.c.Exchange(context.Background(), "4/code-1", verifier, "http://localhost:8188/oauth2callback")
			if err != nil {
				t.Fatal(err)
			}
			if cred.Provider != providers.GeminiCLI || cred.Sub != "1098765" || cred.Email != "dev@example.com" {
				t.Errorf("identity = %q %q %q, want geminicli 1098765 dev@example.com", cred.Provider, cred.Sub, cred.Email)
			}
			if cred.RefreshToken.Reveal() != "1//rt-exchange" || !strings.HasPrefix(cred.AccessToken.Reveal(), "ya29.fake-") {
				t.Errorf("tokens not taken from the reply")
			}
			if want := testNow.Add(3599 * time.Second); !cred.Expiry.Equal(want) {
				t.Errorf("expiry = %v, want %v", cred.Expiry, want)
			}
			reqs := env.fake.RequestsTo("/token")
			if len(reqs) != 1 {
				t.Fatalf("token requests = %d, want 1", len(reqs))
			}
			form, err := url.ParseQuery(string(reqs[0].Body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]string{
				"grant_type":    "authorization_code",
				"code":          "4/code-1",
				"code_verifier": verifier,
				"redirect_uri":  "http://localhost:8188/oauth2callback",
				"client_id":     oauthClientID,
				"client_secret": oauthClientSecret,
			} {
				if got := form.Get(k); got != v {
					t.Errorf("token form %s = %q, want %q", k, got, v)
				}
			}
			if got := len(env.fake.RequestsTo("/userinfo")); got != tt.wantUserinfo {
				t.Errorf("userinfo calls = %d, want %d", got, tt.wantUserinfo)
			}
		})
	}
}

func TestExchangeBadCode(t *testing.T) {
	env := newEnv(t)
	_, err := env.c.Exchange(context.Background(), "4/unknown", oauth2.GenerateVerifier(), "http://localhost/cb")
	if !errors.Is(err, providers.ErrReauth) {
		t.Fatalf("err = %v, want ErrReauth (invalid_grant)", err)
	}
}

func TestRefresh(t *testing.T) {
	tests := []struct {
		name       string
		account    fakeupstream.Account
		script     []fakeupstream.Response
		wantReauth bool
		wantReason string // VerdictError reason, for wantReauth
		wantStatus int    // UpstreamError status, for transient errors
	}{
		{name: "ok", account: fakeupstream.Account{Email: "a@example.com", Sub: "s1"}},
		{
			name: "invalid_grant", account: fakeupstream.Account{InvalidGrant: true},
			wantReauth: true, wantReason: "invalid_grant: Token has been expired or revoked.",
		},
		{
			name: "invalid_grant in a text/plain body", account: fakeupstream.Account{},
			script: []fakeupstream.Response{{
				Status: http.StatusBadRequest,
				Header: http.Header{"Content-Type": {"text/plain"}},
				Body:   `{"error":"invalid_grant","error_description":"Bad Request"}`,
			}},
			wantReauth: true, wantReason: "invalid_grant: Bad Request",
		},
		{
			name: "invalid_client", account: fakeupstream.Account{},
			script: []fakeupstream.Response{{
				Status: http.StatusUnauthorized,
				Body:   `{"error":"invalid_client","error_description":"The OAuth client was not found."}`,
			}},
			wantReauth: true, wantReason: "invalid_client: The OAuth client was not found.",
		},
		{
			name: "503 is transient", account: fakeupstream.Account{},
			script:     []fakeupstream.Response{{Status: http.StatusServiceUnavailable, Body: `{"error":"backend_error"}`}},
			wantStatus: http.StatusServiceUnavailable,
		},
		{
			name: "429 is transient even with a permanent-looking code", account: fakeupstream.Account{},
			script:     []fakeupstream.Response{{Status: http.StatusTooManyRequests, Body: `{"error":"invalid_grant"}`}},
			wantStatus: http.StatusTooManyRequests,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			env.fake.AddAccount("1//rt-r", tt.account)
			env.fake.ScriptToken(tt.script...)
			in := providers.Credential{ID: 7, RefreshToken: "1//rt-r", AccessToken: "ya29.old"}

			cred, err := env.c.Refresh(context.Background(), in)
			if err != nil && strings.Contains(err.Error(), "1//rt-r") {
				t.Errorf("error text holds the refresh token: %v", err)
			}
			switch {
			case tt.wantReauth:
				var v *providers.VerdictError
				if !errors.Is(err, providers.ErrReauth) || !errors.As(err, &v) {
					t.Fatalf("err = %v, want a VerdictError wrapping ErrReauth", err)
				}
				if v.Reason != tt.wantReason {
					t.Errorf("reason = %q, want %q", v.Reason, tt.wantReason)
				}
			case tt.wantStatus != 0:
				var v *providers.VerdictError
				if err == nil || errors.Is(err, providers.ErrReauth) || errors.As(err, &v) {
					t.Fatalf("err = %v, want a transient error", err)
				}
				var up *providers.UpstreamError
				if !errors.As(err, &up) || up.Status != tt.wantStatus || up.Outcome.Kind != providers.KindTransient {
					t.Errorf("err = %v, want a transient UpstreamError with status %d", err, tt.wantStatus)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if cred.RefreshToken != "1//rt-r" {
					t.Errorf("refresh token changed; Google does not rotate")
				}
				if cred.AccessToken == "ya29.old" || !strings.HasPrefix(cred.AccessToken.Reveal(), "ya29.fake-") {
					t.Errorf("access token not replaced")
				}
				if want := testNow.Add(3599 * time.Second); !cred.Expiry.Equal(want) {
					t.Errorf("expiry = %v, want %v", cred.Expiry, want)
				}
				if cred.Sub != "s1" || cred.Email != "a@example.com" || cred.ID != 7 {
					t.Errorf("cred = id %d sub %q email %q, want 7 s1 a@example.com", cred.ID, cred.Sub, cred.Email)
				}
				if got := env.fake.Refreshes("1//rt-r"); got != 1 {
					t.Errorf("refreshes = %d, want 1", got)
				}
			}
		})
	}
}

func TestRefreshNetworkErrorIsTransient(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	hc, err := egress.NewClient(egress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := New(config.Provider{OAuthTokenURL: dead.URL + "/token"}, hc, zap.NewNop())
	_, err = c.Refresh(context.Background(), providers.Credential{RefreshToken: "1//rt-n"})
	var v *providers.VerdictError
	if err == nil || errors.As(err, &v) {
		t.Fatalf("err = %v, want a plain transient error", err)
	}
}

func TestRefreshWithoutRefreshToken(t *testing.T) {
	env := newEnv(t)
	if _, err := env.c.Refresh(context.Background(), providers.Credential{}); !errors.Is(err, providers.ErrReauth) {
		t.Fatalf("err = %v, want ErrReauth", err)
	}
}

func TestIDTokenClaims(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    identityClaims
		wantErr bool
	}{
		{"valid", "e30.eyJzdWIiOiIxMjMiLCJlbWFpbCI6ImFAYi5jIn0.sig", identityClaims{Sub: "123", Email: "a@b.c"}, false},
		{"padded payload", "e30.eyJzdWIiOiIxMjMiLCJlbWFpbCI6ImFAYi5jIn0=.sig", identityClaims{Sub: "123", Email: "a@b.c"}, false},
		{"not a jwt", "abc", identityClaims{}, true},
		{"bad base64", "e30.!!!.sig", identityClaims{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := idTokenClaims(tt.raw)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
