package geminicli

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/egress"
	"github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// testEnv is a Client wired to a fake Google over loopback.
type testEnv struct {
	c    *Client
	fake *fakeupstream.Server
	url  string
	logs *observer.ObservedLogs
}

// newEnv starts a fake upstream and a Client pointed at it, with the test
// clock and no wait between onboarding polls. At cleanup it checks that no
// log line holds a token.
func newEnv(t *testing.T, opts ...Option) *testEnv {
	t.Helper()
	fake := fakeupstream.New()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	hc, err := egress.NewClient(egress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	core, logs := observer.New(zap.DebugLevel)
	cfg := config.Provider{
		ModelList:        []string{"gemini-2.5-pro", "gemini-2.5-flash"},
		CustomAPIURL:     srv.URL,
		OAuthAuthURL:     srv.URL + "/auth",
		OAuthTokenURL:    srv.URL + "/token",
		OAuthUserInfoURL: srv.URL + "/userinfo",
	}
	opts = append([]Option{WithClock(func() time.Time { return testNow }), WithPollInterval(0)}, opts...)
	env := &testEnv{c: New(cfg, hc, zap.New(core), opts...), fake: fake, url: srv.URL, logs: logs}
	t.Cleanup(func() { assertNoSecretsLogged(t, logs) })
	return env
}

// secretMarkers are prefixes every token in these tests carries: Google
// access tokens (ya29.), refresh tokens (1//) and JWTs (eyJ).
var secretMarkers = []string{"ya29.", "1//", "eyJ"}

// assertNoSecretsLogged encodes every captured entry, fields included, and
// fails on any token marker.
func assertNoSecretsLogged(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		line := buf.String()
		buf.Free()
		for _, m := range secretMarkers {
			if strings.Contains(line, m) {
				t.Errorf("log line holds a secret (%q): %s", m, line)
			}
		}
	}
}

// grant refreshes the account behind refresh (registering it first) and
// returns a Grant for project.
func (e *testEnv) grant(t *testing.T, refresh, project string) providers.Grant {
	t.Helper()
	if _, ok := e.fake.Account(refresh); !ok {
		e.fake.AddAccount(refresh, fakeupstream.Account{Email: "a@example.com", Sub: "sub-a", Tier: "standard-tier", Project: project})
	}
	cred, err := e.c.Refresh(context.Background(), providers.Credential{ID: 1, RefreshToken: config.Secret(refresh)})
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return providers.Grant{CredentialID: 1, AccessToken: cred.AccessToken, Account: project}
}
