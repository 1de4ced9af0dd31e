package codex

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Claims is what Pollux reads from an OpenAI id_token.
type Claims struct {
	Sub   string `json:"sub"`
	Email string `json:"email"`
	// Auth is the https://api.openai.com/auth claim.
	Auth AuthClaim `json:"https://api.openai.com/auth"`
}

// AuthClaim is the ChatGPT part of the id_token.
type AuthClaim struct {
	// AccountID is the ChatGPT account (workspace) requests run in; it goes
	// into the chatgpt-account-id header.
	AccountID string `json:"chatgpt_account_id"`
	// PlanType is free, plus, pro, team, business, enterprise, edu, ...
	PlanType string `json:"chatgpt_plan_type"`
	// UserID is the ChatGPT user behind the account.
	UserID string `json:"chatgpt_user_id"`
}

// errMalformedJWT never carries the token itself.
var errMalformedJWT = errors.New("malformed JWT")

// ParseIDToken reads the claims of an id_token without checking its
// signature. That is sound here because Pollux only ever parses id_tokens it
// received itself, straight from the configured token endpoint over TLS, in
// answer to its own code exchange or refresh: the channel authenticates the
// issuer, and the token is never accepted from a client. Error messages
// never include the token.
func ParseIDToken(token string) (Claims, error) {
	var c Claims
	if err := decodeJWTPayload(token, &c); err != nil {
		return Claims{}, fmt.Errorf("codex: id_token: %w", err)
	}
	return c, nil
}

// jwtExpiry returns the exp claim of a JWT, or the zero time when the token
// is not a JWT or carries no exp. The access token is used only for its
// lifetime, never trusted for identity.
func jwtExpiry(token string) time.Time {
	var c struct {
		Exp int64 `json:"exp"`
	}
	if decodeJWTPayload(token, &c) != nil || c.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}

func decodeJWTPayload(token string, v any) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errMalformedJWT
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return fmt.Errorf("%w: payload is not base64url", errMalformedJWT)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: payload is not a JSON object", errMalformedJWT)
	}
	return nil
}

// Extra is the provider-specific part of a codex credential, JSON-encoded
// into providers.Credential.Extra.
type Extra struct {
	// PlanType is the chatgpt_plan_type of the latest id_token.
	PlanType string `json:"plan_type,omitempty"`
	// UserID is the chatgpt_user_id of the latest id_token.
	UserID string `json:"user_id,omitempty"`
}

// DecodeExtra reads a credential's Extra; an empty document is the zero
// Extra.
func DecodeExtra(raw json.RawMessage) (Extra, error) {
	var e Extra
	if len(raw) == 0 {
		return e, nil
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return Extra{}, fmt.Errorf("codex: extra: %w", err)
	}
	return e, nil
}

// Encode returns e as the JSON document stored in Credential.Extra.
func (e Extra) Encode() json.RawMessage {
	b, err := json.Marshal(e)
	if err != nil {
		// Two strings always marshal.
		panic(fmt.Sprintf("codex: encode extra: %v", err))
	}
	return b
}
