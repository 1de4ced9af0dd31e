package transport

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/keyring"
	"github.com/pollux-gateway/pollux/providers"
)

// Member keys on the request path. The operator key (pollux_key) works as
// always; a member key is found by its SHA-256 in the in-memory ring (one
// atomic load and a map read, no database read), then:
//
//	unknown, disabled or expired key      → 401
//	surface outside the key's allow-list  → 403 (requireKey)
//	model outside the key's allow-list    → 403 (admit, once the handler knows the model)
//	one of the key's limits reached       → 429 + Retry-After (admit)
//
// OpenAI-surface replies of a key with limits carry the x-ratelimit-*
// headers the OpenAI SDKs read. When the request ends, the access log's
// settleKey releases the key's concurrency slot, charges the tokens the
// upstream reported, and counts the request per key, model, provider and
// day through the persistence actor.

// KeyStore is what the server needs of the member keys; *actors.Keys
// implements it.
type KeyStore interface {
	Ring() *keyring.Ring
	Create(ctx context.Context, row actors.MemberKey) (*keyring.Key, string, error)
	Update(ctx context.Context, id int64, change func(*actors.MemberKey) error) (*keyring.Key, error)
	Rotate(ctx context.Context, id int64) (*keyring.Key, string, error)
	Delete(ctx context.Context, id int64) error
	Record(keyID int64, keyName, provider, model string, at time.Time, u actors.KeyUsage)
	Usage(ctx context.Context, from, to string) ([]actors.KeyUsageRow, error)
}

var _ KeyStore = (*actors.Keys)(nil)

// keyField is the access log's key-name field.
const keyField = "key"

// The OpenAI rate-limit headers.
const (
	headerLimitRequests     = "X-Ratelimit-Limit-Requests"
	headerRemainingRequests = "X-Ratelimit-Remaining-Requests"
	headerResetRequests     = "X-Ratelimit-Reset-Requests"
	headerLimitTokens       = "X-Ratelimit-Limit-Tokens"
	headerRemainingTokens   = "X-Ratelimit-Remaining-Tokens"
	headerResetTokens       = "X-Ratelimit-Reset-Tokens"
)

// teamInfo is the request's key: who it is, its admission and the usage
// the upstream reported. It is part of requestInfo.
type teamInfo struct {
	// name is "operator" or the member key's name; "" before requireKey.
	name string
	// key is the member key, nil for the operator key.
	key    *keyring.Key
	ticket keyring.Ticket
	// counted: the request reached admission (it has a served model), so
	// it is counted in the key's usage.
	counted bool
	// noUsage: the method reports no token usage (countTokens).
	noUsage    bool
	usageKnown bool
	usage      actors.KeyUsage
}

// noteUsage records the token usage the upstream reported for the request.
func (i *requestInfo) noteUsage(input, output, cached, reasoning int64) {
	if i == nil {
		return
	}
	i.team.usageKnown = true
	i.team.usage.InputTokens, i.team.usage.OutputTokens = input, output
	i.team.usage.CachedTokens, i.team.usage.ReasoningTokens = cached, reasoning
}

// expectNoUsage marks a method whose replies carry no token usage.
func (i *requestInfo) expectNoUsage() {
	if i != nil {
		i.team.noUsage = true
	}
}

// keyName is the name of the request's key, "" when it presented none.
func (i *requestInfo) keyName() string {
	if i == nil {
		return ""
	}
	return i.team.name
}

// initKeys wires the member keys into the server (nil: none).
func (s *Server) initKeys(keys KeyStore) {
	if keys == nil {
		return
	}
	s.keys, s.ring = keys, keys.Ring()
	if !s.key.IsZero() {
		s.operatorDigest, s.hasOperator = keyring.Digest(s.key.Reveal()), true
	}
}

// identity is who presented a key.
type identity struct {
	name string
	key  *keyring.Key
}

// identify finds the client key r presents (and strips every presented key
// from r): the operator key or a valid member key; anything else is the
// 401 to answer. With no member keys it is exactly the operator-key check.
func (s *Server) identify(r *http.Request) (identity, error) {
	ring := s.ring
	if ring == nil || ring.Len() == 0 {
		if err := s.authorize(r, keysClient); err != nil {
			return identity{}, err
		}
		return identity{name: actors.OperatorKeyName}, nil
	}
	var (
		operator bool
		member   *keyring.Key
		verdict  keyring.Verdict
	)
	presented := forEachPresentedKey(r, func(candidate string) {
		d := keyring.Digest(candidate)
		// Constant-time against the operator key; the member lookup is by
		// digest, so its timing says nothing about any secret.
		if s.hasOperator && subtle.ConstantTimeCompare(d[:], s.operatorDigest[:]) == 1 {
			operator = true
			return
		}
		if k, v := ring.Authorize(d); k != nil && (member == nil || v == keyring.Valid) {
			member, verdict = k, v
		}
	})
	switch {
	case !presented:
		return identity{}, &Error{Kind: KindUnauthenticated, Message: "missing API key: send it as Authorization: Bearer, x-api-key, x-goog-api-key or ?key="}
	case operator:
		return identity{name: actors.OperatorKeyName}, nil
	case member == nil:
		return identity{}, &Error{Kind: KindUnauthenticated, Message: "invalid API key"}
	case verdict == keyring.Disabled:
		return identity{}, &Error{Kind: KindUnauthenticated, Message: "this API key is disabled; ask the gateway operator"}
	case verdict == keyring.Expired:
		return identity{}, &Error{Kind: KindUnauthenticated,
			Message: fmt.Sprintf("this API key expired at %s; ask the gateway operator", member.Expires.UTC().Format(time.RFC3339))}
	}
	return identity{name: member.Name, key: member}, nil
}

// caller identifies the key of a client request for GET /v1/me: the one
// requireKey found, else (no access log recorded it) the one it presents.
func (s *Server) caller(c echo.Context) (string, *keyring.Key, error) {
	info := requestInfoOf(c)
	if name := info.keyName(); name != "" {
		return name, info.team.key, nil
	}
	id, err := s.identify(c.Request())
	if err != nil {
		return "", nil, err
	}
	if info != nil {
		info.team.name, info.team.key = id.name, id.key
	}
	return id.name, id.key, nil
}

// authorizeClient is requireKey for the client routes of the surfaces: it
// identifies the key and checks the key may use the path's surface.
func (s *Server) authorizeClient(c echo.Context) error {
	id, err := s.identify(c.Request())
	if err != nil {
		return err
	}
	info := requestInfoOf(c)
	if info != nil {
		info.team.name, info.team.key = id.name, id.key
	}
	if id.key == nil {
		return nil
	}
	sf := surfaceOf(echo.GetPath(c.Request()))
	if sf == surfacePlain {
		// Routes outside the surfaces (/v1/me) belong to every key; the
		// root's model routes check the pool they route to (routeTo).
		return nil
	}
	if p := providerOfSurface(sf); !id.key.AllowsSurface(p) {
		return surfaceDenied(id.key, p)
	}
	return nil
}

// surfaceDenied is the 403 of a key outside its surface allow-list.
func surfaceDenied(k *keyring.Key, provider string) error {
	return &Error{Kind: KindPermissionDenied,
		Message: fmt.Sprintf("key %q may not use the %s surface; it may use: %s", k.Name, provider, strings.Join(k.Surfaces, ", "))}
}

// admit applies the key's model allow-list and limits once the handler
// knows the model; the error is the 403 or 429 to answer. Operator
// requests are only marked for counting.
func (s *Server) admit(c echo.Context, model string) error {
	info := requestInfoOf(c)
	if info == nil || info.team.name == "" || s.keys == nil {
		return nil
	}
	info.team.counted = true
	k := info.team.key
	if k == nil {
		return nil
	}
	if !k.AllowsModel(model) && !s.aliasAllowed(k, model) {
		return &Error{Kind: KindPermissionDenied,
			Message: fmt.Sprintf("key %q may not use model %q; it may use: %s", k.Name, model, strings.Join(k.Models, ", "))}
	}
	openAI := info.surfaceOf(echo.GetPath(c.Request())) == surfaceOpenAI
	ticket, quota, denial := k.Admit(s.ring.Now(), openAI)
	if openAI {
		setRateLimitHeaders(c.Response().Header(), quota)
	}
	if denial != nil {
		return &Error{Kind: KindRateLimited, Message: denial.Message, RetryAfter: keyRetryAfter(denial.RetryAfter)}
	}
	info.team.ticket = ticket
	return nil
}

// aliasAllowed reports whether name is an alias whose model the key may
// use: an alias of an allowed model is allowed too.
func (s *Server) aliasAllowed(k *keyring.Key, name string) bool {
	model, ok := s.aliasModel(name)
	return ok && k.AllowsModel(model)
}

// keyRetryAfter rounds the wait of a key's own limit up to whole seconds.
// A 429's Retry-After is otherwise rounded down (retryAfterSecs: a pool's
// stated resets are often rounded up already, and a client back early
// waits in the queue), but a key's limit frees at an exact instant and a
// client back early is refused again, so its Retry-After must not be
// earlier than that instant.
func keyRetryAfter(d time.Duration) time.Duration {
	if rem := d % time.Second; rem > 0 {
		return d - rem + time.Second
	}
	return d
}

// settleKey ends a counted request: it frees the key's concurrency slot,
// charges the reported tokens to its token limits and counts the request.
func (s *Server) settleKey(info *requestInfo, sf surface, status int) {
	if s.keys == nil || info == nil || !info.team.counted {
		return
	}
	tm := &info.team
	now := s.ring.Now()
	u := actors.KeyUsage{Requests: 1}
	if status >= http.StatusBadRequest || (info.attempts > 0 && info.outcome != providers.KindOK) {
		u.Errors = 1
	}
	switch {
	case tm.usageKnown:
		u.InputTokens, u.OutputTokens = tm.usage.InputTokens, tm.usage.OutputTokens
		u.CachedTokens, u.ReasoningTokens = tm.usage.CachedTokens, tm.usage.ReasoningTokens
	case info.attempts > 0 && !tm.noUsage && (status < http.StatusMultipleChoices || status == statusClientClosed):
		// The upstream served but never said what it cost (a stream cut
		// short): count the request, invent no tokens.
		u.UnknownTokens = 1
	}
	tm.ticket.Done(now, u.InputTokens+u.OutputTokens)
	var keyID int64
	if tm.key != nil {
		keyID = tm.key.ID
	}
	s.keys.Record(keyID, tm.name, providerOfSurface(sf), info.model, now, u)
}

// surfaceOfProvider is the API surface of a provider's pool.
func surfaceOfProvider(provider string) surface {
	if provider == providers.Codex {
		return surfaceOpenAI
	}
	return surfaceGemini
}

// providerOfSurface names the provider (and key surface) of an API surface.
func providerOfSurface(sf surface) string {
	if sf == surfaceOpenAI {
		return providers.Codex
	}
	return providers.GeminiCLI
}

// setRateLimitHeaders writes the OpenAI rate-limit headers of a key's
// limits (none when the key has no such limit).
func setRateLimitHeaders(h http.Header, q keyring.Quota) {
	if q.Requests > 0 {
		h.Set(headerLimitRequests, strconv.FormatInt(q.Requests, 10))
		h.Set(headerRemainingRequests, strconv.FormatInt(q.RequestsRemaining, 10))
		h.Set(headerResetRequests, resetString(q.RequestsReset))
	}
	if q.Tokens > 0 {
		h.Set(headerLimitTokens, strconv.FormatInt(q.Tokens, 10))
		h.Set(headerRemainingTokens, strconv.FormatInt(q.TokensRemaining, 10))
		h.Set(headerResetTokens, resetString(q.TokensReset))
	}
}

// resetString renders a reset time as OpenAI does ("1s", "6m0s", "20ms").
func resetString(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Millisecond).String()
}
