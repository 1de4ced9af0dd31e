package signin

import (
	"context"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/geminicli"
)

// Log field keys, the access log's names for the same things.
const keyRequestID = "request_id"

// Deps is what the sign-in routes need from the rest of the gateway.
type Deps struct {
	// Logger receives the sign-in events; nil discards them.
	Logger *zap.Logger
	// Gemini and Codex are the providers' OAuth clients; nil when the
	// provider is not configured.
	Gemini GeminiAuth
	Codex  CodexAuth
	// Pool returns the pool that onboards a signed-in credential of
	// provider, nil when it is not configured. It is called per sign-in.
	Pool func(provider string) Ingester
	// Devices returns the Codex pool, which polls the device-code
	// sign-ins, nil when it is not configured. It is called per sign-in.
	Devices func() DevicePoller
	// RequestID returns a request's id for the log lines; nil logs none.
	RequestID func(echo.Context) string
}

// GeminiAuth is the Gemini CLI's OAuth client; *geminicli.Client
// implements it.
type GeminiAuth interface {
	AuthCodeURL(state, verifier, redirectURI string) string
	Exchange(ctx context.Context, code, verifier, redirectURI string) (providers.Credential, error)
}

// CodexAuth is the Codex OAuth client, with the device-code sign-in;
// *codex.Client implements it.
type CodexAuth interface {
	AuthCodeURL(state, verifier, redirectURI string) string
	Exchange(ctx context.Context, code, verifier, redirectURI string) (providers.Credential, error)
	StartDevice(ctx context.Context) (codex.Device, error)
	PollDeviceOnce(ctx context.Context, d codex.Device) (providers.Credential, error)
}

var (
	_ GeminiAuth = (*geminicli.Client)(nil)
	_ CodexAuth  = (*codex.Client)(nil)
	_ Ingester   = (*actors.Pool)(nil)
)

// Ingester onboards a signed-in credential and reports the verdict;
// *actors.Pool implements it.
type Ingester interface {
	Ingest(ctx context.Context, seeds []providers.Credential) (*actors.IngestStarted, error)
	Job(ctx context.Context, id string, wait bool) (*actors.JobStatus, error)
}

// DevicePoller runs device-code sign-ins in the pool's onboarding actor;
// *actors.Pool implements it.
type DevicePoller interface {
	PollSignIn(ctx context.Context, id string, step actors.SignInStep, interval time.Duration, expires time.Time) error
	SignIn(ctx context.Context, id string, wait bool) (*actors.SignInStatus, error)
	CancelSignIns()
}

var _ DevicePoller = (*actors.Pool)(nil)

// SettingsStore persists small server settings (the OAuth cookie signing
// key); *actors.System implements it.
type SettingsStore interface {
	Setting(ctx context.Context, key string) ([]byte, bool, error)
	PutSetting(ctx context.Context, key string, value []byte) error
}

var _ SettingsStore = (*actors.System)(nil)

// Options tunes the flows.
type Options struct {
	// InsecureCookie never marks the flow cookies Secure
	// ([basic].insecure_cookie). Without it they are Secure exactly when
	// the request came over HTTPS (see cookieSecure).
	InsecureCookie bool
	// TrustedProxies are the peers whose X-Forwarded-Proto is believed
	// ([basic].trusted_proxies).
	TrustedProxies []netip.Prefix
	// Now is the flows' clock; nil is time.Now.
	Now func() time.Time
	// DevicePollInterval, when > 0, replaces the authorization server's
	// polling interval of the device sign-ins.
	DevicePollInterval time.Duration
}

// API serves the sign-in routes.
type API struct {
	d   Deps
	log *zap.Logger
	// flows is set by Enable, before serving; nil answers 503.
	flows *oauthFlows
}

// New returns the sign-in routes over deps; they answer 503 until Enable.
func New(deps Deps) *API {
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if deps.Pool == nil {
		deps.Pool = func(string) Ingester { return nil }
	}
	if deps.Devices == nil {
		deps.Devices = func() DevicePoller { return nil }
	}
	if deps.RequestID == nil {
		deps.RequestID = func(echo.Context) string { return "" }
	}
	return &API{d: deps, log: log}
}

// Add mounts one route (full path) in the access group it was made for.
type Add func(method, path string, h echo.HandlerFunc)

// StopDevices ends every device sign-in still waiting for approval and
// refuses new ones; it does not wait (WaitDevices does). The server calls
// it when it shuts down.
func (a *API) StopDevices() {
	f := a.flows
	if f == nil {
		return
	}
	f.device.stop()
	if p := a.d.Devices(); p != nil {
		p.CancelSignIns()
	}
}

// WaitDevices waits until every device sign-in has ended (or ctx ends) and
// settles what each page shows.
func (a *API) WaitDevices(ctx context.Context) {
	f := a.flows
	if f == nil {
		return
	}
	for _, id := range f.device.waiting() {
		a.deviceLookup(ctx, f, id, true)
	}
}

// failure is an answer with a status and a client-safe message, rendered
// by the server in the surface's envelope.
func failure(status int, msg string) *echo.HTTPError {
	return echo.NewHTTPError(status, msg)
}
