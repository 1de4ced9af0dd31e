package codex

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// testNow is the fixed clock of every test client.
var testNow = time.Unix(1_700_000_000, 0)

type harness struct {
	client *Client
	fake   *fakeupstream.Server
	logs   *observer.ObservedLogs
}

// newHarness starts a fake upstream on loopback and a Client pointed at it,
// logging at debug level into an observer.
func newHarness(t *testing.T, models ...string) *harness {
	t.Helper()
	fake := fakeupstream.New()
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := config.Provider{
		ModelList:     models,
		CustomAPIURL:  ts.URL + "/",
		OAuthAuthURL:  ts.URL + string(fakeupstream.Authorize),
		OAuthTokenURL: ts.URL + string(fakeupstream.Token),
	}
	c := New(cfg, ts.Client(), zap.New(core),
		WithClock(func() time.Time { return testNow }),
		WithClientVersion("9.9.9"))
	return &harness{client: c, fake: fake, logs: logs}
}

var testAccount = fakeupstream.Account{ID: "acct-123", Sub: "auth0|user-1", Email: "dev@example.com", PlanType: "plus"}

// onboarded returns a credential for testAccount, onboarded through the fake.
func (h *harness) onboarded(t *testing.T) providers.Credential {
	t.Helper()
	h.fake.AddAccount("rt-initial", testAccount)
	cred, err := h.client.Onboard(t.Context(), providers.Credential{RefreshToken: "rt-initial"})
	if err != nil {
		t.Fatalf("Onboard: %v", err)
	}
	return cred
}

func grantOf(c providers.Credential) providers.Grant {
	return providers.Grant{CredentialID: c.ID, AccessToken: c.AccessToken, Account: c.Account, Extra: c.Extra}
}

// assertNoSecrets fails when any logged message or field contains one of
// the secrets.
func assertNoSecrets(t *testing.T, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	for _, e := range logs.All() {
		line := e.Message + " " + fmt.Sprint(e.ContextMap())
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("log line %q contains a secret", e.Message)
			}
		}
	}
}
