package geminicli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// Upstream defaults, used when the config leaves a URL empty.
const (
	defaultAPIBase     = "https://cloudcode-pa.googleapis.com"
	defaultAuthURL     = "https://accounts.google.com/o/oauth2/v2/auth"
	defaultTokenURL    = "https://oauth2.googleapis.com/token"
	defaultUserInfoURL = "https://www.googleapis.com/oauth2/v2/userinfo"

	// DefaultCLIVersion is the Gemini CLI version Pollux presents in its
	// User-Agent unless the config's client_version or WithCLIVersion says
	// otherwise.
	DefaultCLIVersion = "0.61.0"

	defaultPollInterval = 5 * time.Second
	defaultMaxPolls     = 12
)

// v1internal methods.
const (
	MethodGenerate    = "generateContent"
	MethodStream      = "streamGenerateContent"
	MethodCountTokens = "countTokens"
)

// Client is the Gemini CLI / Code Assist provider: Google OAuth, Code Assist
// onboarding and v1internal calls. It is safe for concurrent use.
type Client struct {
	// hc is the egress client with a transport that decodes Node's
	// accepted encodings; tokenHC adds the token call headers for x/oauth2.
	hc          *http.Client
	tokenHC     *http.Client
	log         *zap.Logger
	models      []string
	apiBase     string
	userInfoURL string
	oauth       oauth2.Config

	pollInterval time.Duration
	maxPolls     int
	now          func() time.Time
	version      string
	// nodeVersion and authLibVersion are the Gemini CLI's Node stack, as
	// its Google libraries report it.
	nodeVersion    string
	authLibVersion string
	// gaxios are the model call headers that depend only on the client
	// and the model, made once (gaxiosFor); nil in a Client built by hand.
	gaxios *gaxiosValues
	// traceHeader, when set, names the header that carries Grant.TraceValue.
	traceHeader string
	// sigs is the pool's thought-signature cache; nil when the repair is off.
	sigs *SignatureCache
}

// Option tunes a Client; tests use them to run onboarding without waiting
// and with a fixed clock.
type Option func(*Client)

// WithPollInterval sets how long onboarding waits between polls of the
// onboardUser operation (default 5s).
func WithPollInterval(d time.Duration) Option { return func(c *Client) { c.pollInterval = d } }

// WithMaxPolls bounds the polls of the onboardUser operation (default 12).
func WithMaxPolls(n int) Option { return func(c *Client) { c.maxPolls = n } }

// WithClock replaces time.Now for expiries, onboarding stamps and RetryAt.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithCLIVersion sets the Gemini CLI version in the User-Agent.
func WithCLIVersion(v string) Option { return func(c *Client) { c.version = v } }

// New returns a Client for cfg that does all its HTTP through hc (built by
// egress, so the proxy and connection pooling apply to OAuth calls too).
func New(cfg config.Provider, hc *http.Client, log *zap.Logger, opts ...Option) *Client {
	c := &Client{
		hc:             withNodeTransport(hc),
		log:            log.With(zap.String("provider", providers.GeminiCLI)),
		models:         slices.Clone(cfg.ModelList),
		apiBase:        apiBase(cfg.CustomAPIURL),
		userInfoURL:    orDefault(cfg.OAuthUserInfoURL, defaultUserInfoURL),
		pollInterval:   defaultPollInterval,
		maxPolls:       defaultMaxPolls,
		now:            time.Now,
		version:        orDefault(cfg.ClientVersion, DefaultCLIVersion),
		nodeVersion:    orDefault(cfg.NodeVersion, DefaultNodeVersion),
		authLibVersion: orDefault(cfg.AuthLibraryVersion, DefaultAuthLibraryVersion),
		traceHeader:    cfg.TraceHeader,
		oauth: oauth2.Config{
			ClientID:     oauthClientID,
			ClientSecret: oauthClientSecret,
			Scopes:       slices.Clone(oauthScopes),
			Endpoint: oauth2.Endpoint{
				AuthURL:   orDefault(cfg.OAuthAuthURL, defaultAuthURL),
				TokenURL:  orDefault(cfg.OAuthTokenURL, defaultTokenURL),
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
	}
	for _, o := range opts {
		o(c)
	}
	c.gaxios = c.newGaxiosValues()
	tok := *c.hc
	tok.Transport = tokenTransport{c: c, base: c.hc.Transport}
	c.tokenHC = &tok
	c.sigs = NewSignatureCache(cfg.ThoughtSignatureCacheMiB<<20, c.now)
	return c
}

// RecordSignatures stores the thought signatures of a generateContent reply
// (the unwrapped response) for later repair; streamed chunks are recorded
// by TranslateEvent.
func (c *Client) RecordSignatures(response []byte) { c.sigs.Record(response) }

// SignatureStats returns the thought-signature cache's counters.
func (c *Client) SignatureStats() SignatureStats { return c.sigs.Stats() }

// apiBase normalises the configured base: no trailing slash, and no
// "/v1internal" suffix should an operator have included it.
func apiBase(raw string) string {
	b := strings.TrimRight(orDefault(raw, defaultAPIBase), "/")
	return strings.TrimSuffix(b, "/v1internal")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Models returns a copy of the configured model list.
func (c *Client) Models() []string { return slices.Clone(c.models) }

// Send does one v1internal call for the leased credential: it wraps the
// client body in the Code Assist envelope and POSTs it. It never retries;
// ctx cancels the upstream call. The caller owns the response body: a 2xx
// body is an envelope (UnwrapResponse, UnwrapCountTokens, or an SSE stream
// for TranslateEvent); anything else goes to Classify.
func (c *Client) Send(ctx context.Context, g providers.Grant, call *providers.Call) (*http.Response, error) {
	method := call.Method
	if call.Stream && method == MethodGenerate {
		method = MethodStream
	}
	model := strings.TrimPrefix(call.Model, "models/")
	var (
		body []byte
		err  error
	)
	switch method {
	case MethodGenerate, MethodStream:
		body, err = WrapGenerate(model, g.Account, newPromptID(), c.sigs.Repair(call.Body))
	case MethodCountTokens:
		body, err = WrapCountTokens(model, call.Body)
	default:
		return nil, fmt.Errorf("geminicli: unsupported method %q", call.Method)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err) // err names the package already
	}
	url := c.apiBase + "/v1internal:" + method
	if method == MethodStream {
		url += "?alt=sse"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("geminicli: %s: %w", method, err)
	}
	accept := "application/json"
	if method == MethodStream {
		accept = "*/*" // gaxios sets no Accept for a stream: node-fetch's default
	}
	c.setGaxiosHeaders(req.Header, g.AccessToken.Reveal(), model, accept)
	if c.traceHeader != "" {
		req.Header.Set(c.traceHeader, g.TraceValue(providers.GeminiCLI))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("geminicli: %s: %w", method, err)
	}
	return resp, nil
}

var _ providers.Provider = (*Client)(nil)
