package geminicli

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

const (
	loadBodyUnpinned = `{"metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}`
	loadBodyPinned   = `{"cloudaicompanionProject":"pinned-proj","metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}`
)

// errorFile returns a scripted answer from testdata/errors.
func errorFile(t *testing.T, name string) *fakeupstream.Response {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "errors", name))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeupstream.Response{Status: http.StatusForbidden, Body: string(body)}
}

func TestOnboard(t *testing.T) {
	type want struct {
		tier, project  string
		extra          Extra
		loadBody       string
		onboardBodies  []string // exact onboardUser bodies, in order
		operationPolls int      // GETs of the operation
	}
	tests := []struct {
		name    string
		account fakeupstream.Account
		pinned  string
		opts    []Option
		want    want
	}{
		{
			name:    "existing tier and project",
			account: fakeupstream.Account{Tier: "standard-tier", Project: "proj-a"},
			want: want{tier: "standard-tier", project: "proj-a", loadBody: loadBodyUnpinned,
				extra: Extra{TierName: "Gemini Code Assist Standard", OnboardedAt: testNow}},
		},
		{
			name:    "project arrives as an object",
			account: fakeupstream.Account{Tier: "g1-pro-tier", Project: "proj-obj", ProjectAsObject: true},
			want: want{tier: "g1-pro-tier", project: "proj-obj", loadBody: loadBodyUnpinned,
				extra: Extra{TierName: "g1-pro-tier", OnboardedAt: testNow}},
		},
		{
			name:    "free tier onboarding polls the operation",
			account: fakeupstream.Account{ManagedProject: "managed-42", OnboardPolls: 2},
			want: want{
				tier: "free-tier", project: "managed-42", loadBody: loadBodyUnpinned,
				onboardBodies:  []string{`{"tierId":"free-tier","metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}`},
				operationPolls: 2,
				extra:          Extra{TierName: "Gemini Code Assist for individuals", ManagedProject: true, OnboardedAt: testNow},
			},
		},
		{
			name:    "operation without a name is polled by re-posting",
			account: fakeupstream.Account{ManagedProject: "managed-7", OnboardPolls: 2, OnboardWithoutName: true},
			want: want{
				tier: "free-tier", project: "managed-7", loadBody: loadBodyUnpinned,
				onboardBodies: []string{
					`{"tierId":"free-tier","metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}`,
					`{"tierId":"free-tier","metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}`,
					`{"tierId":"free-tier","metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}`,
				},
				extra: Extra{TierName: "Gemini Code Assist for individuals", ManagedProject: true, OnboardedAt: testNow},
			},
		},
		{
			name: "standard tier with a pinned project",
			account: fakeupstream.Account{AllowedTiers: []fakeupstream.Tier{
				{ID: "free-tier"}, {ID: "standard-tier", Name: "Standard", IsDefault: true},
			}},
			pinned: "pinned-proj",
			want: want{
				tier: "standard-tier", project: "pinned-proj", loadBody: loadBodyPinned,
				onboardBodies: []string{`{"tierId":"standard-tier","cloudaicompanionProject":"pinned-proj","metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}`},
				extra:         Extra{TierName: "Standard", OnboardedAt: testNow},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, tt.opts...)
			tt.account.Email, tt.account.Sub = "seat@example.com", "sub-1"
			env.fake.AddAccount("1//rt-o", tt.account)

			cred, err := env.c.Onboard(context.Background(), providers.Credential{ID: 3, RefreshToken: "1//rt-o", Account: tt.pinned})
			if err != nil {
				t.Fatal(err)
			}
			if cred.Tier != tt.want.tier || cred.Account != tt.want.project {
				t.Errorf("tier, project = %q, %q; want %q, %q", cred.Tier, cred.Account, tt.want.tier, tt.want.project)
			}
			if cred.Email != "seat@example.com" || cred.Sub != "sub-1" || cred.AccessToken.IsZero() || cred.Provider != providers.GeminiCLI {
				t.Errorf("identity or token missing: provider %q email %q sub %q", cred.Provider, cred.Email, cred.Sub)
			}
			extra, err := DecodeExtra(cred.Extra)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want.extra, extra); diff != "" {
				t.Errorf("extra (-want +got):\n%s", diff)
			}
			loads := env.fake.RequestsTo("/v1internal:loadCodeAssist")
			if len(loads) != 1 || string(loads[0].Body) != tt.want.loadBody {
				t.Errorf("loadCodeAssist bodies = %d, first %q; want one %q", len(loads), firstBody(loads), tt.want.loadBody)
			}
			var onboards []string
			for _, r := range env.fake.RequestsTo("/v1internal:onboardUser") {
				onboards = append(onboards, string(r.Body))
			}
			if diff := cmp.Diff(tt.want.onboardBodies, onboards); diff != "" {
				t.Errorf("onboardUser bodies (-want +got):\n%s", diff)
			}
			polls := 0
			for _, r := range env.fake.Requests() {
				if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v1internal/operations/") {
					polls++
				}
			}
			if polls != tt.want.operationPolls {
				t.Errorf("operation polls = %d, want %d", polls, tt.want.operationPolls)
			}
			if a, _ := env.fake.Account("1//rt-o"); a.Tier != tt.want.tier {
				t.Errorf("upstream tier after onboarding = %q, want %q", a.Tier, tt.want.tier)
			}
		})
	}
}

func firstBody(rs []fakeupstream.Request) string {
	if len(rs) == 0 {
		return ""
	}
	return string(rs[0].Body)
}

func TestOnboardVerdicts(t *testing.T) {
	tests := []struct {
		name       string
		account    func(t *testing.T) fakeupstream.Account
		wantErr    error
		wantReason string // prefix
		wantURL    string
	}{
		{
			name: "only ineligible tiers",
			account: func(*testing.T) fakeupstream.Account {
				return fakeupstream.Account{Ineligible: &fakeupstream.Ineligible{
					ReasonCode:    "UNSUPPORTED_CLIENT",
					ReasonMessage: "Gemini Code Assist for individuals is not available for this client.",
					TierID:        "free-tier",
					ValidationURL: "https://developers.google.com/gemini-code-assist/auth",
				}}
			},
			wantErr:    providers.ErrIneligible,
			wantReason: "UNSUPPORTED_CLIENT: Gemini Code Assist for individuals is not available for this client.",
			wantURL:    "https://developers.google.com/gemini-code-assist/auth",
		},
		{
			name: "403 SUBSCRIPTION_REQUIRED on loadCodeAssist",
			account: func(t *testing.T) fakeupstream.Account {
				return fakeupstream.Account{LoadError: errorFile(t, "403_subscription_required.json")}
			},
			wantErr:    providers.ErrIneligible,
			wantReason: "SUBSCRIPTION_REQUIRED: ",
		},
		{
			name: "403 SUBSCRIPTION_REQUIRED on onboardUser",
			account: func(t *testing.T) fakeupstream.Account {
				return fakeupstream.Account{OnboardError: errorFile(t, "403_subscription_required.json")}
			},
			wantErr:    providers.ErrIneligible,
			wantReason: "SUBSCRIPTION_REQUIRED: ",
		},
		{
			name: "403 Terms of Service",
			account: func(t *testing.T) fakeupstream.Account {
				return fakeupstream.Account{LoadError: errorFile(t, "403_terms_of_service.json")}
			},
			wantErr:    providers.ErrBanned,
			wantReason: "TERMS_OF_SERVICE: This account has been disabled",
		},
		{
			name: "403 VALIDATION_REQUIRED keeps the link",
			account: func(t *testing.T) fakeupstream.Account {
				return fakeupstream.Account{LoadError: errorFile(t, "403_validation_required.json")}
			},
			wantErr:    providers.ErrReauth,
			wantReason: "VALIDATION_REQUIRED",
			wantURL:    "https://accounts.google.com/signin/continue?service=cloudcode&validation=abc123",
		},
		{
			name:       "dead refresh token",
			account:    func(*testing.T) fakeupstream.Account { return fakeupstream.Account{InvalidGrant: true} },
			wantErr:    providers.ErrReauth,
			wantReason: "invalid_grant",
		},
		{
			name: "paid tier without a project",
			account: func(*testing.T) fakeupstream.Account {
				return fakeupstream.Account{Tier: "standard-tier"}
			},
			wantErr:    providers.ErrIneligible,
			wantReason: "PROJECT_ID_REQUIRED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			env.fake.AddAccount("1//rt-v", tt.account(t))
			_, err := env.c.Onboard(context.Background(), providers.Credential{RefreshToken: "1//rt-v"})
			var v *providers.VerdictError
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &v) {
				t.Fatalf("err = %v, want a VerdictError wrapping %v", err, tt.wantErr)
			}
			if !strings.HasPrefix(v.Reason, tt.wantReason) || v.URL != tt.wantURL {
				t.Errorf("verdict = %q %q, want reason prefix %q and URL %q", v.Reason, v.URL, tt.wantReason, tt.wantURL)
			}
		})
	}
}

func TestOnboardPollingIsBounded(t *testing.T) {
	env := newEnv(t, WithMaxPolls(3))
	env.fake.AddAccount("1//rt-slow", fakeupstream.Account{OnboardPolls: 100})
	_, err := env.c.Onboard(context.Background(), providers.Credential{RefreshToken: "1//rt-slow"})
	var v *providers.VerdictError
	if err == nil || errors.As(err, &v) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	polls := 0
	for _, r := range env.fake.Requests() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v1internal/operations/") {
			polls++
		}
	}
	if polls != 3 {
		t.Errorf("polls = %d, want 3", polls)
	}
}

func TestOnboardIdentityFromUserinfo(t *testing.T) {
	env := newEnv(t)
	env.fake.OmitIDToken(true)
	env.fake.AddAccount("1//rt-u", fakeupstream.Account{Email: "u@example.com", Sub: "sub-u", Tier: "standard-tier", Project: "p"})
	cred, err := env.c.Onboard(context.Background(), providers.Credential{RefreshToken: config.Secret("1//rt-u")})
	if err != nil {
		t.Fatal(err)
	}
	if cred.Email != "u@example.com" || cred.Sub != "sub-u" {
		t.Errorf("identity = %q %q, want u@example.com sub-u", cred.Email, cred.Sub)
	}
}

// TestOnboardLogsNoSecrets proves onboarding logs (the cleanup check then
// scans them for tokens).
func TestOnboardLogsNoSecrets(t *testing.T) {
	env := newEnv(t)
	env.fake.AddAccount("1//rt-l", fakeupstream.Account{Email: "l@example.com", Sub: "sub-l"})
	if _, err := env.c.Onboard(context.Background(), providers.Credential{RefreshToken: "1//rt-l"}); err != nil {
		t.Fatal(err)
	}
	if env.logs.FilterMessage("onboarded").Len() != 1 || env.logs.FilterMessage("refreshed").Len() != 1 {
		t.Fatalf("want one onboarded and one refreshed log line, got %d lines", env.logs.Len())
	}
	assertNoSecretsLogged(t, env.logs)
}

func TestDecodeExtra(t *testing.T) {
	x, err := DecodeExtra(nil)
	if err != nil || x != (Extra{}) {
		t.Errorf("DecodeExtra(nil) = %+v, %v; want zero", x, err)
	}
	if _, err := DecodeExtra([]byte(`[`)); err == nil {
		t.Error("DecodeExtra(garbage): want an error")
	}
}
