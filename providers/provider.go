package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/pollux-gateway/pollux/config"
)

// Provider names, as used in config sections, storage rows, routes and logs.
const (
	GeminiCLI = "geminicli"
	Codex     = "codex"
)

// Credential is one upstream account as the pool knows it. Account is the
// upstream scope requests run in: the Cloud project id for geminicli, the
// chatgpt_account_id for codex. Extra is a provider-owned JSON document
// (the provider defines and decodes its own typed struct); the pool stores
// it verbatim.
type Credential struct {
	ID           int64
	Provider     string
	Sub          string
	Email        string
	Account      string
	Tier         string
	AccessToken  config.Secret
	RefreshToken config.Secret
	Expiry       time.Time
	Extra        json.RawMessage
}

// Authority turns refresh tokens into usable credentials. Implementations are
// safe for concurrent use; the pool guarantees at most one Refresh in flight
// per credential.
type Authority interface {
	// Refresh returns c with new tokens and expiry. When the upstream rotates
	// refresh tokens the returned RefreshToken is the new one. A refresh token
	// that is dead for good comes back as a *VerdictError wrapping ErrReauth;
	// anything else (network, 429, 5xx) is transient.
	Refresh(ctx context.Context, c Credential) (Credential, error)
	// Onboard completes a credential that has at least a RefreshToken (and
	// optionally a pinned Account): it refreshes, discovers identity (Sub,
	// Email), Account and Tier. A credential that cannot serve comes back as
	// a *VerdictError wrapping ErrIneligible, ErrBanned or ErrReauth.
	Onboard(ctx context.Context, c Credential) (Credential, error)
}

// Grant is what a provider needs from a leased credential to call upstream.
type Grant struct {
	CredentialID int64
	AccessToken  config.Secret
	Account      string
	Extra        json.RawMessage
	// Email is the account's email, "" when unknown; only the optional
	// trace header carries it upstream.
	Email string
	// LeaseID identifies this lease (unique per pool and process), for the
	// optional trace header.
	LeaseID uint64
}

// TraceValue is the value of the configured trace header for one upstream
// call: "<provider>:<account email or unknown>:<lease id>", the form the
// original Pollux used.
func (g Grant) TraceValue(provider string) string {
	email := g.Email
	if email == "" {
		email = "unknown"
	}
	return provider + ":" + email + ":" + strconv.FormatUint(g.LeaseID, 10)
}

// Call is one client request, already validated by transport, in plain Go
// types. Body has been read once and may be replayed on every attempt.
type Call struct {
	// Model is the upstream model id, without any "models/" prefix.
	Model string
	// Method names the operation, e.g. "generateContent",
	// "streamGenerateContent", "countTokens", "responses", "responses/compact".
	Method string
	// Stream reports whether the client asked for a streamed answer.
	Stream bool
	// Body is the client's JSON request body.
	Body []byte
	// Header holds the client headers a provider may forward.
	Header http.Header
}

// Upstream sends calls and classifies failures. Send does exactly one HTTP
// exchange and never retries; retry policy belongs to the relay.
type Upstream interface {
	Send(ctx context.Context, g Grant, c *Call) (*http.Response, error)
	Classify(status int, header http.Header, body []byte) Outcome
}

// Provider is the whole of one upstream, as cmd/pollux wires it.
type Provider interface {
	Authority
	Upstream
	Models() []string
}

// Kind says what an upstream answer means for the credential that served it.
type Kind uint8

const (
	// KindOK: the call succeeded.
	KindOK Kind = iota
	// KindRateLimited: a short-term rate limit; cool until RetryAt (or back
	// off exponentially when RetryAt is zero).
	KindRateLimited
	// KindQuotaExhausted: a long quota (daily, usage window) is spent; cool
	// until RetryAt (or a long default).
	KindQuotaExhausted
	// KindAuthExpired: the access token was rejected; refresh, then retry.
	KindAuthExpired
	// KindAuthRevoked: the credential needs a human to sign in again.
	KindAuthRevoked
	// KindBanned: the account is suspended or deactivated.
	KindBanned
	// KindIneligible: the account has no licence or plan for this service.
	KindIneligible
	// KindModelUnsupported: this account cannot use this model.
	KindModelUnsupported
	// KindOverloaded: upstream capacity, not this account; cool briefly.
	KindOverloaded
	// KindTransient: 5xx or transport error; rotate without penalty.
	KindTransient
	// KindBadRequest: the client's fault; return it, no rotation, no penalty.
	KindBadRequest
	// KindAbandoned: the client went away or the lease was never used; no
	// judgement on the credential.
	KindAbandoned
)

var kindNames = [...]string{
	KindOK:               "ok",
	KindRateLimited:      "rate_limited",
	KindQuotaExhausted:   "quota_exhausted",
	KindAuthExpired:      "auth_expired",
	KindAuthRevoked:      "auth_revoked",
	KindBanned:           "banned",
	KindIneligible:       "ineligible",
	KindModelUnsupported: "model_unsupported",
	KindOverloaded:       "overloaded",
	KindTransient:        "transient",
	KindBadRequest:       "bad_request",
	KindAbandoned:        "abandoned",
}

// String returns the snake_case name used in logs and metrics.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Retryable reports whether a request that failed this way may be tried
// again on another credential (as long as nothing reached the client yet).
func (k Kind) Retryable() bool {
	switch k {
	case KindRateLimited, KindQuotaExhausted, KindAuthExpired, KindAuthRevoked,
		KindBanned, KindIneligible, KindModelUnsupported, KindOverloaded, KindTransient:
		return true
	case KindOK, KindBadRequest, KindAbandoned:
		return false
	}
	return false
}

// Scope says whether a cooldown applies to one model or the whole credential.
type Scope uint8

const (
	// ScopeModel: the limit is per (credential, model).
	ScopeModel Scope = iota
	// ScopeCredential: the limit is account-wide (e.g. Codex usage windows).
	ScopeCredential
)

// String returns "model" or "credential".
func (s Scope) String() string {
	if s == ScopeCredential {
		return "credential"
	}
	return "model"
}

// Outcome is a provider's verdict on one upstream answer.
type Outcome struct {
	Kind  Kind
	Scope Scope
	// RetryAt is when the limit resets, when the upstream said so.
	RetryAt time.Time
	// Status is the upstream HTTP status (0 for a transport error).
	Status int
	// Reason is a short machine-readable cause, safe to log and show to
	// operators (e.g. "RATE_LIMIT_EXCEEDED", "usage_limit_reached"). Never
	// a token, never a whole body.
	Reason string
	// URL is a page where a human can resolve the problem (a Google
	// VALIDATION_REQUIRED link), when the upstream named one.
	URL string
	// Windows are the account's usage windows as the upstream reported them
	// with this answer (Codex), nil when it did not.
	Windows []QuotaWindow
}

// QuotaWindow is one upstream-reported usage window of an account, e.g.
// Codex's primary (5 h) and secondary (weekly) windows.
type QuotaWindow struct {
	Name          string    `json:"name"`
	UsedPercent   float64   `json:"used_percent"`
	WindowMinutes int       `json:"window_minutes"`
	ResetAt       time.Time `json:"reset_at,omitempty"`
}

// Verdict sentinels; match with errors.Is.
var (
	// ErrReauth: the refresh token is dead (invalid_grant,
	// refresh_token_reused, revoked); a human must sign in again.
	ErrReauth = errors.New("credential needs re-authorisation")
	// ErrIneligible: the account cannot use the service (tier, licence, plan).
	ErrIneligible = errors.New("credential is not eligible")
	// ErrBanned: the account is suspended or deactivated.
	ErrBanned = errors.New("account is banned")
)

// VerdictError is a permanent failure of Refresh or Onboard with the
// upstream's reason. Reason and URL are safe to log and to show operators.
type VerdictError struct {
	// Err is ErrReauth, ErrIneligible or ErrBanned.
	Err error
	// Reason is the upstream's code and message, e.g. "invalid_grant" or
	// "UNSUPPORTED_CLIENT: <message>".
	Reason string
	// URL is a page where a human can resolve it, when the upstream gave one.
	URL string
}

func (e *VerdictError) Error() string {
	if e.Reason == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Reason
}

func (e *VerdictError) Unwrap() error { return e.Err }

// UpstreamError is a non-2xx answer from an upstream, classified. Body is a
// short excerpt with secrets removed.
type UpstreamError struct {
	Status  int
	Outcome Outcome
	Body    string
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("upstream status %d (%s): %s", e.Status, e.Outcome.Kind, e.Outcome.Reason)
}

// QuotaBucket is what is left of one upstream quota of an account, as the
// upstream reports it: per model (Code Assist's retrieveUserQuota buckets),
// or account-wide with Model "*" (Codex usage windows).
type QuotaBucket struct {
	Model string `json:"model"`
	// Remaining is the fraction of the quota left, 0 to 1.
	Remaining float64 `json:"remaining"`
	// ResetAt is when the quota refills; zero when the upstream did not say.
	ResetAt time.Time `json:"reset_at,omitempty"`
}

// QuotaReader is the optional capability of asking the upstream what is
// left of an account's quotas without spending a request. The pool polls it
// at a modest interval and after each limit answer; a failure never blocks
// serving.
type QuotaReader interface {
	ReadQuota(ctx context.Context, g Grant) ([]QuotaBucket, error)
}

// WindowsQuota converts usage windows (Codex) into one account-wide bucket:
// the headroom of the most used window and its reset. It reports false when
// no window carried a usage figure.
func WindowsQuota(ws []QuotaWindow) (QuotaBucket, bool) {
	b := QuotaBucket{Model: "*", Remaining: 1}
	ok := false
	for _, w := range ws {
		if w.WindowMinutes == 0 && w.ResetAt.IsZero() && w.UsedPercent == 0 {
			continue // an absent window
		}
		ok = true
		left := max(0, 100-w.UsedPercent) / 100
		if left < b.Remaining || (left == b.Remaining && b.ResetAt.IsZero()) {
			b.Remaining, b.ResetAt = left, w.ResetAt
		}
	}
	return b, ok
}
