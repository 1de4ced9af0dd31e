package codex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// Upstream defaults, used when the config leaves a URL empty.
const (
	DefaultBaseURL  = "https://chatgpt.com"
	DefaultAuthURL  = "https://auth.openai.com/oauth/authorize"
	DefaultTokenURL = "https://auth.openai.com/oauth/token"
)

// DefaultClientVersion is the Codex CLI version Pollux presents in the
// version and User-Agent headers unless the config's client_version or
// WithClientVersion says otherwise.
const DefaultClientVersion = "0.171.0"

// Call methods Send understands (providers.Call.Method).
const (
	MethodResponses = "responses"
	MethodCompact   = "responses/compact"
)

// Upstream paths below the API base.
const (
	pathResponses = "/backend-api/codex/responses"
	pathCompact   = "/backend-api/codex/responses/compact"
	pathUsage     = "/backend-api/wham/usage"
)

// defaultOriginator is the originator header of the reference CLI.
const defaultOriginator = "codex_cli_rs"

// Client is the Codex provider: OAuth against auth.openai.com and calls to
// the ChatGPT Codex backend. It is safe for concurrent use.
type Client struct {
	base     string
	authURL  string
	tokenURL string
	models   []string
	hc       *http.Client
	log      *zap.Logger
	now      func() time.Time
	version  string
	// platform describes this machine in the User-Agent.
	platform platform
	// traceHeader, when set, names the header that carries Grant.TraceValue.
	traceHeader string
}

// Option tunes a Client, mostly for tests.
type Option func(*Client)

// WithClock replaces the wall clock used for token expiry and reset times.
func WithClock(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
}

// WithClientVersion sets the Codex CLI version sent in the version and
// User-Agent headers.
func WithClientVersion(v string) Option {
	return func(c *Client) { c.version = v }
}

// New returns a Client for the [providers.codex] config section. hc is the
// provider's pooled client (see providers/egress); it carries every call,
// including the token endpoint's.
func New(cfg config.Provider, hc *http.Client, log *zap.Logger, opts ...Option) *Client {
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{
		base:     strings.TrimRight(orDefault(cfg.CustomAPIURL, DefaultBaseURL), "/"),
		authURL:  orDefault(cfg.OAuthAuthURL, DefaultAuthURL),
		tokenURL: orDefault(cfg.OAuthTokenURL, DefaultTokenURL),
		models:   append([]string(nil), cfg.ModelList...),
		hc:       hc,
		log:      log.With(zap.String("provider", providers.Codex)),
		now:      time.Now,
		version:  orDefault(cfg.ClientVersion, DefaultClientVersion),
		platform: hostPlatform(),

		traceHeader: cfg.TraceHeader,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Models returns a copy of the configured model list.
func (c *Client) Models() []string { return append([]string(nil), c.models...) }

// Send does one upstream exchange for call with the leased grant and returns
// the raw response; the caller closes its body. It never retries.
//
// call.Body must already be normalised by the caller (Normalize for
// "responses", NormalizeCompact for "responses/compact"): transport
// normalises once, before the attempt loop, so every attempt replays the same
// bytes and Send sends them as they are.
//
// A "responses" answer is always SSE, whatever the client asked for; a
// non-streaming client is served with Collect.
func (c *Client) Send(ctx context.Context, g providers.Grant, call *providers.Call) (*http.Response, error) {
	var path, accept string
	switch call.Method {
	case MethodResponses:
		path, accept = pathResponses, "text/event-stream"
	case MethodCompact:
		path, accept = pathCompact, "application/json"
	default:
		return nil, fmt.Errorf("codex: send: unsupported method %q", call.Method)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(call.Body))
	if err != nil {
		return nil, fmt.Errorf("codex: send %s: %w", call.Method, err)
	}
	req.Header = c.upstreamHeader(g, call.Header, accept)
	req.Header.Set("Content-Type", "application/json")
	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("codex: send %s: %w", call.Method, err)
	}
	if ce := c.log.Check(zap.DebugLevel, "codex upstream answered"); ce != nil {
		ce.Write(
			zap.Int64("credential_id", g.CredentialID),
			zap.String("method", call.Method),
			zap.String("model", call.Model),
			zap.Int("upstream_status", resp.StatusCode),
			zap.Duration("duration", c.now().Sub(start)),
		)
	}
	return resp, nil
}

// upstreamHeader builds the backend header set: Pollux's own identity and
// credential, plus the whitelisted client headers.
func (c *Client) upstreamHeader(g providers.Grant, in http.Header, accept string) http.Header {
	h := make(http.Header, 12)
	// The names are written in the form Header.Set would give them, and
	// the values share one backing array: one allocation for them all,
	// not one per header plus one per name to canonicalize.
	vals := make([]string, 0, 12)
	set := func(name, v string) {
		vals = append(vals, v)
		h[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set("Authorization", "Bearer "+g.AccessToken.Reveal())
	if g.Account != "" {
		set("Chatgpt-Account-Id", g.Account)
	}
	set("Accept", accept)
	originator, version, userAgent := c.clientIdentity(in.Get("Originator"), in.Get("User-Agent"))
	set("User-Agent", userAgent)
	set("Originator", originator)
	set("Version", version)
	if c.traceHeader != "" {
		h.Set(c.traceHeader, g.TraceValue(providers.Codex))
	}
	// The backend reads session_id with an underscore; the Codex CLI sends
	// session-id to custom providers. Set the map entry directly so the
	// underscore spelling goes on the wire as is.
	if sid := firstNonEmpty(in.Get("Session_id"), in.Get("Session-Id")); sid != "" {
		set("session_id", sid)
	}
	// The client headers that pass as they are. Everything else the client
	// sent (notably its Authorization, which holds the Pollux key) stays
	// behind.
	for _, name := range [...]string{
		"Thread-Id",
		"X-Client-Request-Id",
		"X-Codex-Turn-Metadata",
		"X-Codex-Window-Id",
		"X-Codex-Beta-Features",
	} {
		if v := in.Get(name); v != "" {
			set(name, v)
		}
	}
	return h
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Classify maps a non-2xx backend answer to an Outcome; see classify.go.
func (c *Client) Classify(status int, header http.Header, body []byte) providers.Outcome {
	return classify(status, header, body, c.now())
}

// UsageStatus is the account's plan and usage windows, as the backend's usage
// endpoint reports them without spending a request.
type UsageStatus struct {
	PlanType     string
	Allowed      bool
	LimitReached bool
	Limits       RateLimits
}

// usageStatusJSON is the body of GET /backend-api/wham/usage.
type usageStatusJSON struct {
	PlanType  string `json:"plan_type"`
	RateLimit *struct {
		Allowed      bool        `json:"allowed"`
		LimitReached bool        `json:"limit_reached"`
		Primary      *windowJSON `json:"primary_window"`
		Secondary    *windowJSON `json:"secondary_window"`
	} `json:"rate_limit"`
}

type windowJSON struct {
	UsedPercent        float64 `json:"used_percent"`
	LimitWindowSeconds int64   `json:"limit_window_seconds"`
	ResetAfterSeconds  int64   `json:"reset_after_seconds"`
	ResetAt            int64   `json:"reset_at"`
}

// window converts one window, preferring the relative reset (immune to
// clock offset) and correcting an absolute one by the answer's Date header.
func (w *windowJSON) window(h http.Header, now time.Time) Window {
	if w == nil {
		return Window{}
	}
	out := Window{UsedPercent: w.UsedPercent, WindowMinutes: int(w.LimitWindowSeconds / 60)}
	switch {
	case w.ResetAfterSeconds > 0:
		out.ResetAt = now.Add(time.Duration(w.ResetAfterSeconds) * time.Second)
	case w.ResetAt > 0:
		out.ResetAt = providers.LocalResetTime(time.Unix(w.ResetAt, 0), h, now)
	}
	return out
}

// maxUsageBody bounds what FetchUsage reads of the usage endpoint's answer.
const maxUsageBody = 1 << 20

// FetchUsage asks the backend for the account's usage windows (GET
// /backend-api/wham/usage). A non-2xx answer comes back as a
// *providers.UpstreamError carrying its classified Outcome.
func (c *Client) FetchUsage(ctx context.Context, g providers.Grant) (UsageStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+pathUsage, nil)
	if err != nil {
		return UsageStatus{}, fmt.Errorf("codex: usage: %w", err)
	}
	req.Header = c.upstreamHeader(g, nil, "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return UsageStatus{}, fmt.Errorf("codex: usage: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUsageBody))
	if cerr := resp.Body.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return UsageStatus{}, fmt.Errorf("codex: usage: read: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		out := c.Classify(resp.StatusCode, resp.Header, body)
		return UsageStatus{}, fmt.Errorf("codex: usage: %w", &providers.UpstreamError{Status: resp.StatusCode, Outcome: out, Body: out.Reason})
	}
	var u usageStatusJSON
	if err := json.Unmarshal(body, &u); err != nil {
		return UsageStatus{}, fmt.Errorf("codex: usage: decode: %w", err)
	}
	now := c.now()
	st := UsageStatus{PlanType: u.PlanType}
	if rl := u.RateLimit; rl != nil {
		st.Allowed, st.LimitReached = rl.Allowed, rl.LimitReached
		st.Limits = RateLimits{Primary: rl.Primary.window(resp.Header, now), Secondary: rl.Secondary.window(resp.Header, now)}
	}
	return st, nil
}

var _ providers.Provider = (*Client)(nil)

// ReadQuota reports the account's usage windows (FetchUsage) as one
// account-wide quota bucket: the headroom of its most used window.
func (c *Client) ReadQuota(ctx context.Context, g providers.Grant) ([]providers.QuotaBucket, error) {
	st, err := c.FetchUsage(ctx, g)
	if err != nil {
		return nil, err
	}
	b, ok := providers.WindowsQuota(st.Limits.Windows())
	if !ok {
		return nil, nil
	}
	if st.LimitReached {
		b.Remaining = 0
	}
	return []providers.QuotaBucket{b}, nil
}

var _ providers.QuotaReader = (*Client)(nil)
