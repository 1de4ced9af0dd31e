package transport

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/operations"
	"github.com/pollux-gateway/pollux/transport/signin"
)

// What each part mounted in routes gets of the server: its Deps, built
// from the server's own fields.

// operationsDeps is what the operations routes get of the server.
func (s *Server) operationsDeps() operations.Deps {
	d := operations.Deps{
		Logger:     s.log,
		Pools:      s.poolList,
		ModelLists: s.modelLists,
		LogLevel:   s.logLevel,
		ReadBody:   readBody,
		RequestID:  requestID,
		Caller:     s.caller,
		Keys:       s.keys, // nil without member keys
	}
	return d
}

// poolList returns the configured pools, geminicli first. It reads the
// pools per call: tests may set them after New.
func (s *Server) poolList() []operations.Pool {
	out := make([]operations.Pool, 0, 2)
	for _, p := range [...]struct {
		name string
		pool Pool
	}{{providers.GeminiCLI, s.geminiPool}, {providers.Codex, s.codexPool}} {
		if p.pool == nil {
			continue
		}
		ap, _ := p.pool.(operations.AdminPool)
		out = append(out, operations.Pool{Name: p.name, Ingest: p.pool, Admin: ap, Models: s.modelLists[p.name]})
	}
	return out
}

// signinDeps is what the sign-in routes get of the server.
func (s *Server) signinDeps() signin.Deps {
	d := signin.Deps{
		Logger:    s.log,
		RequestID: requestID,
		Pool: func(provider string) signin.Ingester {
			for _, p := range s.poolList() {
				if p.Name == provider {
					return p.Ingest
				}
			}
			return nil
		},
	}
	d.Devices = func() signin.DevicePoller {
		if p, ok := s.codexPool.(signin.DevicePoller); ok && s.codexPool != nil {
			return p
		}
		return nil
	}
	// A nil client stays a nil interface: the provider is not configured.
	if s.gemini != nil {
		d.Gemini = s.gemini
	}
	if s.codex != nil {
		d.Codex = s.codex
	}
	return d
}

// SettingsStore persists small server settings (the OAuth cookie signing
// key).
type SettingsStore = signin.SettingsStore

// OAuthOptions tunes the browser flows.
type OAuthOptions struct {
	// InsecureCookie never marks the flow cookies Secure
	// ([basic].insecure_cookie). Without it they are Secure exactly when
	// the request came over HTTPS.
	InsecureCookie bool
	// TrustedProxies are the peers whose X-Forwarded-Proto is believed
	// ([basic].trusted_proxies).
	TrustedProxies []netip.Prefix

	// now and devicePollInterval are the tests' clock and device polling
	// pace.
	now                func() time.Time
	devicePollInterval time.Duration
}

// EnableOAuth turns on the sign-in flows (package signin); call before
// serving. It loads the cookie signing key from store, creating and saving
// a random one on first use.
func (s *Server) EnableOAuth(ctx context.Context, store SettingsStore, opts OAuthOptions) error {
	return s.signin.Enable(ctx, store, signin.Options{
		InsecureCookie: opts.InsecureCookie, TrustedProxies: opts.TrustedProxies,
		Now: opts.now, DevicePollInterval: opts.devicePollInterval,
	})
}

// bodyLimitOf is the body limit of the request's route: the paste page's
// form is small.
func (s *Server) bodyLimitOf(c echo.Context) int64 {
	if c.Path() == signin.PastePath && c.Request().Method == http.MethodPost {
		return min(signin.PasteBodyLimit, s.bodyLimit)
	}
	return s.bodyLimit
}
