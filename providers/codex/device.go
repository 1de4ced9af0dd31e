package codex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// Device-code sign-in, for a Pollux that the browser's redirect cannot
// reach. It is the Codex CLI's "codex login --device-auth":
//
//	POST {issuer}/api/accounts/deviceauth/usercode   {"client_id":"app_EMoamEEZ73f0CkXaXp7hrann"}
//	  200 {"device_auth_id":"...","user_code":"ABCD-12345","interval":"5"}
//	      (interval is seconds as a string; "usercode" is an older spelling of
//	      user_code; 404 means device sign-in is not enabled there)
//	the person opens {issuer}/codex/device, signs in and types the user code
//	POST {issuer}/api/accounts/deviceauth/token      {"device_auth_id":"...","user_code":"..."}
//	  403 or 404 while nobody has approved yet: ask again after interval
//	  200 {"authorization_code":"...","code_challenge":"...","code_verifier":"..."}
//	POST {issuer}/oauth/token  grant_type=authorization_code&code=...&code_verifier=...
//	     &redirect_uri={issuer}/deviceauth/callback&client_id=...
//
// Both deviceauth requests are JSON, not forms. The authorization server
// makes the PKCE pair itself and hands the verifier over with the code, so
// the last step is the ordinary code exchange (Exchange) with that verifier
// and the fixed device redirect URI. The reference client gives up after 15
// minutes; the user code answer carries no lifetime of its own.
//
// The issuer is derived from the configured token URL (oauth_token_url,
// default https://auth.openai.com/oauth/token): the URL with its
// "/oauth/token" suffix removed, so a proxy that serves the authorization
// server below a path prefix keeps it; a token URL with another path gives
// its origin (scheme://host). Tests point oauth_token_url at the fake, and
// the device endpoints follow.

// Device-flow paths below the issuer.
const (
	pathDeviceUserCode = "/api/accounts/deviceauth/usercode"
	pathDeviceToken    = "/api/accounts/deviceauth/token"
	pathDeviceVerify   = "/codex/device"
	pathDeviceRedirect = "/deviceauth/callback"
	pathTokenSuffix    = "/oauth/token"
)

// Device-flow limits.
const (
	// DeviceLifetime is how long a device sign-in may wait for approval
	// (the Codex CLI's limit).
	DeviceLifetime = 15 * time.Minute
	// defaultDeviceInterval applies when the answer names no interval.
	defaultDeviceInterval = 5 * time.Second
	// maxDeviceInterval keeps a silly interval from outliving the sign-in.
	maxDeviceInterval = time.Minute
	// deviceBodyLimit caps what is read of a deviceauth answer.
	deviceBodyLimit = 64 << 10
)

// Why a device sign-in ended without a credential.
var (
	// ErrDeviceExpired: nobody approved the sign-in before it expired.
	ErrDeviceExpired = errors.New("codex: device sign-in expired before it was approved")
	// ErrDeviceDenied: the authorization server refused the sign-in.
	ErrDeviceDenied = errors.New("codex: device sign-in was refused")
	// ErrDeviceDisabled: the authorization server has no device sign-in.
	ErrDeviceDisabled = errors.New("codex: device code sign-in is not enabled at the authorization server")
)

// Device is one device sign-in in progress.
type Device struct {
	// AuthID is the device_auth_id. With UserCode it collects the sign-in,
	// so it stays masked in every print.
	AuthID config.Secret
	// UserCode is what the person types at VerificationURL.
	UserCode string
	// VerificationURL is the page where the person approves the sign-in.
	VerificationURL string
	// Interval is the wait between two polls.
	Interval time.Duration
	// Expires is when PollDevice gives up.
	Expires time.Time
}

// StartDevice asks the authorization server for a user code.
func (c *Client) StartDevice(ctx context.Context) (Device, error) {
	issuer, err := c.issuer()
	if err != nil {
		return Device{}, fmt.Errorf("codex: device start: %w", err)
	}
	body, _ := json.Marshal(struct {
		ClientID string `json:"client_id"`
	}{ClientID})
	status, raw, err := c.postJSON(ctx, issuer+pathDeviceUserCode, body)
	if err != nil {
		return Device{}, fmt.Errorf("codex: device start: %w", err)
	}
	switch {
	case status == http.StatusNotFound:
		return Device{}, ErrDeviceDisabled
	case status < 200 || status > 299:
		reason := firstNonEmpty(parseAPIError(raw).reason(""), fmt.Sprintf("status %d", status))
		return Device{}, fmt.Errorf("codex: device start: %w", &providers.UpstreamError{
			Status:  status,
			Outcome: providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: reason},
			Body:    reason,
		})
	}
	var ans struct {
		AuthID    string          `json:"device_auth_id"`
		UserCode  string          `json:"user_code"`
		UserCode2 string          `json:"usercode"`
		Interval  json.RawMessage `json:"interval"`
		ExpiresIn json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return Device{}, fmt.Errorf("codex: device start: unreadable answer: %w", err)
	}
	code := firstNonEmpty(ans.UserCode, ans.UserCode2)
	if ans.AuthID == "" || code == "" {
		return Device{}, errors.New("codex: device start: answer lacks device_auth_id or user_code")
	}
	now := c.now()
	d := Device{
		AuthID:          config.Secret(ans.AuthID),
		UserCode:        code,
		VerificationURL: issuer + pathDeviceVerify,
		Interval:        defaultDeviceInterval,
		Expires:         now.Add(DeviceLifetime),
	}
	if secs, ok := jsonInt(ans.Interval); ok && secs > 0 {
		d.Interval = min(time.Duration(secs)*time.Second, maxDeviceInterval)
	}
	if secs, ok := jsonInt(ans.ExpiresIn); ok && secs > 0 && time.Duration(secs)*time.Second < DeviceLifetime {
		d.Expires = now.Add(time.Duration(secs) * time.Second)
	}
	c.log.Info("codex device sign-in started", zap.Duration("interval", d.Interval), zap.Time("expires", d.Expires))
	return d, nil
}

// PollDevice waits until the person approves d, then exchanges the code it
// gets for a credential (as Exchange does, with its verdict errors). It asks
// every d.Interval, as the Codex CLI does: 403 and 404 mean "not yet". A
// network error, 429 or 5xx is retried at the same pace rather than ending
// the sign-in (the CLI stops there; a server that polls in the background
// should outlast a blip). It returns ErrDeviceExpired once d.Expires has
// passed or the server says the code expired, ErrDeviceDenied for any other
// refusal, and ctx's error when ctx ends. A caller with its own clock asks
// PollDeviceOnce instead.
func (c *Client) PollDevice(ctx context.Context, d Device) (providers.Credential, error) {
	interval := d.Interval
	if interval <= 0 {
		interval = defaultDeviceInterval
	}
	for {
		cred, err := c.PollDeviceOnce(ctx, d)
		if !errors.Is(err, ErrDevicePending) {
			return cred, err
		}
		left := d.Expires.Sub(c.now())
		if left <= 0 {
			return providers.Credential{}, ErrDeviceExpired
		}
		t := time.NewTimer(min(interval, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return providers.Credential{}, fmt.Errorf("codex: device poll: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// ErrDevicePending is PollDeviceOnce's answer while the sign-in is not
// approved yet (or the server had a transient failure): ask again after
// d.Interval.
var ErrDevicePending = errors.New("codex: device sign-in pending")

// PollDeviceOnce asks the authorization server once whether d was
// approved: the credential once it was (the code exchanged as Exchange
// does), ErrDevicePending while not, or PollDevice's final errors.
func (c *Client) PollDeviceOnce(ctx context.Context, d Device) (providers.Credential, error) {
	issuer, err := c.issuer()
	if err != nil {
		return providers.Credential{}, fmt.Errorf("codex: device poll: %w", err)
	}
	body, _ := json.Marshal(struct {
		AuthID   string `json:"device_auth_id"`
		UserCode string `json:"user_code"`
	}{d.AuthID.Reveal(), d.UserCode})
	code, verifier, err := c.pollDeviceOnce(ctx, issuer, body)
	if err != nil {
		return providers.Credential{}, err
	}
	return c.Exchange(ctx, code, verifier, issuer+pathDeviceRedirect)
}

// pollDeviceOnce asks the token endpoint once. It returns the code and
// verifier, ErrDevicePending, or the final error.
func (c *Client) pollDeviceOnce(ctx context.Context, issuer string, body []byte) (code, verifier string, err error) {
	status, raw, err := c.postJSON(ctx, issuer+pathDeviceToken, body)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", fmt.Errorf("codex: device poll: %w", ctx.Err())
		}
		c.log.Debug("codex device poll failed, retrying", zap.Error(err))
		return "", "", ErrDevicePending
	}
	switch {
	case status >= 200 && status <= 299:
		var ans struct {
			Code     string `json:"authorization_code"`
			Verifier string `json:"code_verifier"`
		}
		if err := json.Unmarshal(raw, &ans); err != nil || ans.Code == "" || ans.Verifier == "" {
			return "", "", errors.New("codex: device poll: answer lacks authorization_code or code_verifier")
		}
		return ans.Code, ans.Verifier, nil
	case status == http.StatusForbidden, status == http.StatusNotFound:
		return "", "", ErrDevicePending
	case status == http.StatusTooManyRequests, status >= 500:
		c.log.Debug("codex device poll answered, retrying", zap.Int("upstream_status", status))
		return "", "", ErrDevicePending
	}
	reason := firstNonEmpty(parseAPIError(raw).reason(""), fmt.Sprintf("status %d", status))
	if status == http.StatusGone || strings.Contains(reason, "expired") {
		return "", "", fmt.Errorf("%w (%s)", ErrDeviceExpired, reason)
	}
	return "", "", fmt.Errorf("%w (%s)", ErrDeviceDenied, reason)
}

// postJSON posts body and returns the status and (bounded) answer.
func (c *Client) postJSON(ctx context.Context, rawURL string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	c.setIdentity(req.Header)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, deviceBodyLimit))
	cerr := resp.Body.Close()
	if err := errors.Join(rerr, cerr); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, raw, nil
}

// issuer is the authorization server's base URL (see the derivation at the
// top of this file).
func (c *Client) issuer() (string, error) {
	u, err := url.Parse(c.tokenURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", errors.New("oauth_token_url is not an absolute URL")
	}
	base := u.Scheme + "://" + u.Host
	if prefix, ok := strings.CutSuffix(strings.TrimRight(u.Path, "/"), pathTokenSuffix); ok {
		base += prefix
	}
	return base, nil
}
