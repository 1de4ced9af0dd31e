package codex

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// ClientID is the Codex CLI's public OAuth client (no secret).
const ClientID = "app_EMoamEEZ73f0CkXaXp7hrann"

// DefaultRedirectURI is the redirect the client registration allows; the
// browser lands there after sign-in and the user brings the code back.
const DefaultRedirectURI = "http://localhost:1455/auth/callback"

// Token-endpoint error codes that mean the refresh token is dead for good.
const (
	codeRefreshTokenReused      = "refresh_token_reused"
	codeRefreshTokenExpired     = "refresh_token_expired"
	codeRefreshTokenInvalidated = "refresh_token_invalidated"
	codeInvalidGrant            = "invalid_grant"
)

// reasonNoAccount is the verdict reason for an id_token without an account.
const reasonNoAccount = "no chatgpt_account_id"

func (c *Client) oauthConfig(redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: ClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:  c.authURL,
			TokenURL: c.tokenURL,
			// The client is public: client_id goes in the form body.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURI,
		Scopes:      []string{"openid", "profile", "email", "offline_access"},
	}
}

// oauthCtx makes x/oauth2 use the provider's client, never the default one,
// with the Codex CLI's identity headers.
func (c *Client) oauthCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: identityTransport{c: c}})
}

// AuthCodeURL returns the authorize URL for a browser sign-in with PKCE S256.
// verifier is the caller's PKCE verifier (oauth2.GenerateVerifier); an empty
// redirectURI means DefaultRedirectURI.
func (c *Client) AuthCodeURL(state, verifier, redirectURI string) string {
	return c.oauthConfig(orDefault(redirectURI, DefaultRedirectURI)).AuthCodeURL(state,
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("id_token_add_organizations", "true"),
		oauth2.SetAuthURLParam("codex_cli_simplified_flow", "true"),
	)
}

// Exchange trades an authorization code for a credential with identity,
// account and plan filled in from the id_token. An id_token without a
// chatgpt_account_id is a *providers.VerdictError wrapping ErrIneligible; the
// returned credential then still holds the tokens.
func (c *Client) Exchange(ctx context.Context, code, verifier, redirectURI string) (providers.Credential, error) {
	conf := c.oauthConfig(orDefault(redirectURI, DefaultRedirectURI))
	tok, err := conf.Exchange(c.oauthCtx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return providers.Credential{}, tokenError("exchange", err)
	}
	cred, err := c.applyToken(providers.Credential{Provider: providers.Codex}, tok)
	if err != nil {
		return cred, fmt.Errorf("codex: exchange: %w", err)
	}
	if err := requireAccount(cred); err != nil {
		return cred, err
	}
	c.log.Info("codex sign-in exchanged", zap.String("account", cred.Account), zap.String("tier", cred.Tier))
	return cred, nil
}

// Refresh runs the refresh_token grant. OpenAI rotates refresh tokens: the
// returned credential carries the new one (or the old one when the answer
// omits it), and the old one is dead from now on, so the caller must persist
// the result before using it. An unreadable id_token leaves identity as it
// was rather than failing a refresh that already rotated. A dead refresh token (refresh_token_reused,
// _expired, _invalidated, invalid_grant, or any 401) comes back as a
// *providers.VerdictError wrapping ErrReauth with the code as Reason; a
// network error, 429 or 5xx is transient. When the id_token carries claims,
// email, plan and (if still unknown) account are updated from them.
func (c *Client) Refresh(ctx context.Context, cred providers.Credential) (providers.Credential, error) {
	if cred.RefreshToken.IsZero() {
		return cred, &providers.VerdictError{Err: providers.ErrReauth, Reason: "no refresh token"}
	}
	src := c.oauthConfig("").TokenSource(c.oauthCtx(ctx), &oauth2.Token{RefreshToken: cred.RefreshToken.Reveal()})
	tok, err := src.Token()
	if err != nil {
		return cred, tokenError("refresh", err)
	}
	out, err := c.applyToken(cred, tok)
	if err != nil {
		// The refresh token has rotated already: failing here would make
		// the caller drop the only live token. Keep the old identity.
		c.log.Warn("codex refresh: unusable id_token, identity unchanged", zap.Int64("credential_id", cred.ID), zap.Error(err))
	}
	c.log.Debug("codex token refreshed", zap.Int64("credential_id", cred.ID), zap.String("account", out.Account), zap.Time("expiry", out.Expiry))
	return out, nil
}

// Onboard completes a credential that has at least a refresh token: it
// refreshes (rotating the refresh token: the returned credential holds the
// new one, which the caller persists even when an error is returned with
// it), then takes identity, account and plan from the id_token. A pinned
// Account is kept. No plan is rejected here: a plan without Codex shows up on
// the first call as usage_not_included.
func (c *Client) Onboard(ctx context.Context, cred providers.Credential) (providers.Credential, error) {
	cred.Provider = providers.Codex
	out, err := c.Refresh(ctx, cred)
	if err != nil {
		return out, err
	}
	if err := requireAccount(out); err != nil {
		return out, err
	}
	c.log.Info("codex credential onboarded", zap.Int64("credential_id", out.ID), zap.String("account", out.Account), zap.String("tier", out.Tier))
	return out, nil
}

func requireAccount(cred providers.Credential) error {
	if cred.Account == "" {
		return &providers.VerdictError{Err: providers.ErrIneligible, Reason: reasonNoAccount}
	}
	return nil
}

// applyToken copies a token answer into cred. The tokens are applied before
// the id_token is read, so a caller gets the rotated refresh token even when
// the claims are unusable.
func (c *Client) applyToken(cred providers.Credential, tok *oauth2.Token) (providers.Credential, error) {
	cred.Provider = providers.Codex
	cred.AccessToken = config.Secret(tok.AccessToken)
	if tok.RefreshToken != "" {
		cred.RefreshToken = config.Secret(tok.RefreshToken)
	}
	cred.Expiry = c.expiry(tok)
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		return cred, nil
	}
	claims, err := ParseIDToken(idToken)
	if err != nil {
		return cred, err
	}
	if claims.Sub != "" {
		cred.Sub = claims.Sub
	}
	if claims.Email != "" {
		cred.Email = claims.Email
	}
	if cred.Account == "" {
		cred.Account = claims.Auth.AccountID
	}
	if claims.Auth.PlanType != "" {
		cred.Tier = claims.Auth.PlanType
	}
	extra, err := DecodeExtra(cred.Extra)
	if err != nil {
		extra = Extra{}
	}
	extra.PlanType = firstNonEmpty(claims.Auth.PlanType, extra.PlanType)
	extra.UserID = firstNonEmpty(claims.Auth.UserID, extra.UserID)
	cred.Extra = extra.Encode()
	return cred, nil
}

// expiry prefers expires_in against the injected clock, then the access
// token's own exp claim, then whatever x/oauth2 computed.
func (c *Client) expiry(tok *oauth2.Token) time.Time {
	if tok.ExpiresIn > 0 {
		return c.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if exp := jwtExpiry(tok.AccessToken); !exp.IsZero() {
		return exp
	}
	return tok.Expiry
}

// tokenError turns an x/oauth2 failure into a verdict or a transient error.
// It never wraps the RetrieveError itself: its message embeds the raw body.
func tokenError(op string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("codex: %s: %w", op, err)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	// OpenAI nests its errors ({"error":{"code":...}}), which leaves
	// re.ErrorCode empty; parseAPIError reads that and the flat RFC 6749 shape.
	body := parseAPIError(re.Body)
	code := body.reason(re.ErrorCode)
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		kind := providers.KindTransient
		if status == http.StatusTooManyRequests {
			kind = providers.KindRateLimited
		}
		reason := firstNonEmpty(code, http.StatusText(status))
		return fmt.Errorf("codex: %s: %w", op, &providers.UpstreamError{
			Status:  status,
			Outcome: providers.Outcome{Kind: kind, Scope: providers.ScopeCredential, Status: status, Reason: reason},
			Body:    reason,
		})
	case code == codeRefreshTokenReused, code == codeRefreshTokenExpired,
		code == codeRefreshTokenInvalidated, code == codeInvalidGrant:
		return &providers.VerdictError{Err: providers.ErrReauth, Reason: code}
	case status == http.StatusUnauthorized:
		// The Codex CLI treats every 401 from the token endpoint as final.
		return &providers.VerdictError{Err: providers.ErrReauth, Reason: firstNonEmpty(code, "unauthorized")}
	default:
		reason := firstNonEmpty(code, fmt.Sprintf("status %d", status))
		return fmt.Errorf("codex: %s: %w", op, &providers.UpstreamError{
			Status:  status,
			Outcome: providers.Outcome{Kind: providers.KindTransient, Scope: providers.ScopeCredential, Status: status, Reason: reason},
			Body:    reason,
		})
	}
}
