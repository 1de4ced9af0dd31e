package geminicli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// The Gemini CLI's OAuth client. It is an installed-app client: Google
// publishes the secret with the CLI, so it protects nothing and is not a
// Pollux secret.
const (
	oauthClientID     = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
	oauthClientSecret = "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"
)

var oauthScopes = []string{
	"https://www.googleapis.com/auth/cloud-platform",
	"https://www.googleapis.com/auth/userinfo.email",
	"https://www.googleapis.com/auth/userinfo.profile",
}

// defaultTokenLifetime is assumed when a token reply has no expires_in.
const defaultTokenLifetime = time.Hour

// AuthCodeURL returns the Google consent page URL for the browser flow:
// offline access (so a refresh token is issued), forced consent (so it is
// issued again for an account that consented before) and a PKCE S256
// challenge derived from verifier.
func (c *Client) AuthCodeURL(state, verifier, redirectURI string) string {
	conf := c.oauth
	conf.RedirectURL = redirectURI
	return conf.AuthCodeURL(state, oauth2.AccessTypeOffline, oauth2.ApprovalForce,
		oauth2.S256ChallengeOption(verifier))
}

// Exchange trades an authorization code for tokens and names the account
// behind them. The result has no Account or Tier yet: Onboard finds those.
func (c *Client) Exchange(ctx context.Context, code, verifier, redirectURI string) (providers.Credential, error) {
	conf := c.oauth
	conf.RedirectURL = redirectURI
	tok, err := conf.Exchange(c.oauthContext(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return providers.Credential{}, tokenError("exchange", err)
	}
	if tok.RefreshToken == "" {
		return providers.Credential{}, errors.New("geminicli: exchange: token reply has no refresh token")
	}
	cred := providers.Credential{Provider: providers.GeminiCLI}
	c.applyToken(&cred, tok)
	if cred.Sub == "" || cred.Email == "" {
		if err := c.fetchUserInfo(ctx, &cred); err != nil {
			return providers.Credential{}, err
		}
	}
	return cred, nil
}

// Refresh returns cred with a fresh access token. Google does not rotate
// refresh tokens, so the old one is kept unless a new one arrives. Identity
// fields still empty are filled from the id_token when the reply has one.
func (c *Client) Refresh(ctx context.Context, cred providers.Credential) (providers.Credential, error) {
	if cred.RefreshToken.IsZero() {
		return cred, &providers.VerdictError{Err: providers.ErrReauth, Reason: "no refresh token"}
	}
	src := c.oauth.TokenSource(c.oauthContext(ctx), &oauth2.Token{RefreshToken: cred.RefreshToken.Reveal()})
	tok, err := src.Token()
	if err != nil {
		return cred, tokenError("refresh", err)
	}
	c.applyToken(&cred, tok)
	c.log.Debug("refreshed",
		zap.Int64("credential_id", cred.ID),
		zap.Time("expiry", cred.Expiry))
	return cred, nil
}

// applyToken copies a token reply into cred.
func (c *Client) applyToken(cred *providers.Credential, tok *oauth2.Token) {
	cred.AccessToken = config.Secret(tok.AccessToken)
	if tok.RefreshToken != "" {
		cred.RefreshToken = config.Secret(tok.RefreshToken)
	}
	switch {
	case tok.ExpiresIn > 0:
		cred.Expiry = c.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	case !tok.Expiry.IsZero():
		cred.Expiry = tok.Expiry
	default:
		cred.Expiry = c.now().Add(defaultTokenLifetime)
	}
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		if claims, err := idTokenClaims(raw); err == nil {
			if cred.Sub == "" {
				cred.Sub = claims.Sub
			}
			if cred.Email == "" {
				cred.Email = claims.Email
			}
		}
	}
}

// identityClaims are the id_token claims Pollux reads.
type identityClaims struct {
	Sub   string `json:"sub"`
	Email string `json:"email"`
}

// idTokenClaims decodes the payload of an id_token without checking its
// signature. That is sound here, and only here: the token came straight from
// Google's token endpoint over TLS in reply to our own request, so the
// channel already authenticates the issuer (OpenID Connect Core §3.1.3.7
// allows skipping validation in exactly this case). Never use it on an
// id_token a client hands us.
func idTokenClaims(raw string) (identityClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return identityClaims{}, errors.New("geminicli: id_token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return identityClaims{}, fmt.Errorf("geminicli: id_token payload: %w", err)
	}
	var cl identityClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return identityClaims{}, fmt.Errorf("geminicli: id_token claims: %w", err)
	}
	return cl, nil
}

// fetchUserInfo fills Sub and Email from the userinfo endpoint.
func (c *Client) fetchUserInfo(ctx context.Context, cred *providers.Credential) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.userInfoURL, nil)
	if err != nil {
		return fmt.Errorf("geminicli: userinfo: %w", err)
	}
	setUserInfoHeaders(req.Header, cred.AccessToken.Reveal())
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("geminicli: userinfo: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("geminicli: userinfo: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("geminicli: userinfo: status %d", resp.StatusCode)
	}
	var info struct {
		ID    string `json:"id"`
		Sub   string `json:"sub"`
		Email string `json:"email"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return fmt.Errorf("geminicli: userinfo: %w", err)
	}
	if cred.Sub == "" {
		cred.Sub = orDefault(info.Sub, info.ID)
	}
	if cred.Email == "" {
		cred.Email = info.Email
	}
	return nil
}

// permanentTokenErrors are RFC 6749 error codes after which retrying the
// same request cannot succeed.
var permanentTokenErrors = map[string]bool{
	"invalid_grant":          true,
	"invalid_client":         true,
	"unauthorized_client":    true,
	"unsupported_grant_type": true,
	"invalid_scope":          true,
}

// tokenError classifies a token endpoint failure: a dead grant or client is
// a *VerdictError wrapping ErrReauth; a network error, 429 or 5xx is a plain
// (transient) error. Neither carries the response body, which oauth2's own
// error text would.
func tokenError(op string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("geminicli: %s: %w", op, err)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		code, desc = parseTokenError(re.Body)
	}
	transientStatus := status == http.StatusTooManyRequests || status >= 500
	if !transientStatus && permanentTokenErrors[code] {
		reason := code
		if d := shortMessage(desc); d != "" {
			reason += ": " + d
		}
		return fmt.Errorf("geminicli: %s: %w", op, &providers.VerdictError{Err: providers.ErrReauth, Reason: reason})
	}
	reason := sanitizeReason(code)
	if reason == "" {
		reason = "HTTP_" + fmt.Sprint(status)
	}
	return fmt.Errorf("geminicli: %s: %w", op, &providers.UpstreamError{
		Status:  status,
		Outcome: providers.Outcome{Kind: providers.KindTransient, Scope: providers.ScopeCredential, Status: status, Reason: reason},
	})
}

// parseTokenError reads an error code from a token endpoint body in either
// shape Google uses: flat {"error":"invalid_grant","error_description":..}
// or nested {"error":{"code":400,"message":..,"status":..}}.
func parseTokenError(body []byte) (code, desc string) {
	var env struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Error) == 0 {
		return "", ""
	}
	var flat string
	if json.Unmarshal(env.Error, &flat) == nil {
		return flat, env.ErrorDescription
	}
	var nested struct {
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Reason string `json:"reason"`
		} `json:"details"`
	}
	if json.Unmarshal(env.Error, &nested) != nil {
		return "", ""
	}
	code = strings.ToLower(nested.Status)
	for _, d := range nested.Details {
		if d.Reason != "" {
			code = d.Reason
			break
		}
	}
	return code, nested.Message
}
