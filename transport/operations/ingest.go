package operations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// Ingestion endpoints (behind the Pollux key, like everything under the
// surface prefixes):
//
//	POST /geminicli/resource:add[?wait=true]   onboard Gemini CLI refresh tokens
//	POST /codex/resource:add[?wait=true]       onboard Codex (ChatGPT) refresh tokens
//	GET  /geminicli/resource:jobs/{job}        one ingestion job's progress and verdicts
//	GET  /codex/resource:jobs/{job}
//
// The body is a JSON array (or a single item) whose items are a bare
// refresh-token string or an object: {"refresh_token":..} with an optional
// "project_id" (geminicli: pins the Cloud project) or "account_id" (codex),
// a Gemini CLI ~/.gemini/oauth_creds.json, or (codex) a Codex CLI
// ~/.codex/auth.json, whose tokens.refresh_token and tokens.account_id are
// used. Other members are ignored. As in the original Pollux, "refreshToken"
// is read as well as "refresh_token", "[]" is answered 202 with nothing to
// do, and empty entries (null, "", {}, a blank refresh token) each get an
// "invalid" verdict while the rest of the batch proceeds.
//
// Without wait the answer is 202 {"accepted":n,"duplicates":d,"job":id}.
// With wait=true it comes once the job is done (at most ingestWaitMax; after
// that the 202 answer): 200 {"job":id,...,"verdicts":[{"index","result",
// "email","project"|"account","tier","reason","url"}]}. Refresh tokens are
// never echoed back, in verdicts or in error messages.

// MaxIngestBatch bounds the items of one resource:add body.
const MaxIngestBatch = 1000

// maxRefreshTokenLen bounds one refresh token; real ones are a few hundred
// bytes.
const maxRefreshTokenLen = 4096

// ingestWaitMax bounds how long ?wait=true holds the request.
const ingestWaitMax = 10 * time.Minute

// codexRotationWarning goes with every Codex login that was added or
// updated: OpenAI rotates refresh tokens (PROTOCOLS §3), so the gateway's
// refresh kills the copy the person's own Codex CLI holds.
const codexRotationWarning = "Codex refresh tokens rotate: once Pollux refreshes this login, the Codex CLI it was copied from is signed out and must log in again; use a login made for Pollux"

// ingestAPI serves one provider's ingestion routes.
type ingestAPI struct {
	*API
	provider string
}

// mountIngest mounts the resource:add routes. Echo reads a colon as the
// start of a parameter, hence the escapes.
func (a *API) mountIngest(add Add) {
	g := &ingestAPI{API: a, provider: providers.GeminiCLI}
	c := &ingestAPI{API: a, provider: providers.Codex}
	add(http.MethodPost, geminiRoot+`/resource\:add`, g.add)
	add(http.MethodGet, geminiRoot+`/resource\:jobs/:job`, g.job)
	add(http.MethodPost, codexRoot+`/resource\:add`, c.add)
	add(http.MethodGet, codexRoot+`/resource\:jobs/:job`, c.job)
}

// ingester returns the provider's pool, nil when it is not configured.
func (a *ingestAPI) ingester() Ingester {
	if p, ok := a.poolOf(a.provider); ok {
		return p.Ingest
	}
	return nil
}

// Accepted is the 202 answer of resource:add.
type Accepted struct {
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	Job        string `json:"job,omitempty"`
	Note       string `json:"note,omitempty"`
}

// Job is a job's status as clients see it.
type Job struct {
	Job        string    `json:"job"`
	Provider   string    `json:"provider"`
	Total      int       `json:"total"`
	Done       int       `json:"done"`
	Finished   bool      `json:"finished"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Verdicts   []Verdict `json:"verdicts"`
}

// Verdict is one item's outcome. Account is called "project" for
// geminicli and "account" for codex, as operators know them.
type Verdict struct {
	Index        int    `json:"index"`
	Result       string `json:"result"`
	CredentialID int64  `json:"credential_id,omitempty"`
	Email        string `json:"email,omitempty"`
	Project      string `json:"project,omitempty"`
	Account      string `json:"account,omitempty"`
	Tier         string `json:"tier,omitempty"`
	Reason       string `json:"reason,omitempty"`
	URL          string `json:"url,omitempty"`
	Warning      string `json:"warning,omitempty"`
}

func (a *ingestAPI) add(c echo.Context) error {
	wait := false
	if v := c.QueryParam("wait"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return failure(http.StatusBadRequest, "wait must be true or false")
		}
		wait = b
	}
	ctx := c.Request().Context()
	body, err := a.d.ReadBody(c)
	if err != nil {
		return err
	}
	seeds, err := parseIngest(a.provider, body)
	if err != nil {
		return err
	}
	if len(seeds) == 0 {
		// "[]", which the original Pollux accepted: nothing to do.
		return writeJSON(c, http.StatusAccepted, Accepted{Note: "no credentials in the body; nothing to do"})
	}
	pool := a.ingester()
	if pool == nil {
		return failure(http.StatusServiceUnavailable, "the "+a.provider+" pool is not configured")
	}
	started, err := pool.Ingest(ctx, seeds)
	if err != nil {
		return poolError(ctx, err)
	}
	accepted := Accepted{Accepted: started.Accepted, Duplicates: started.Duplicates, Job: started.JobID}
	if !wait {
		return writeJSON(c, http.StatusAccepted, accepted)
	}
	wctx, cancel := context.WithTimeout(ctx, ingestWaitMax)
	defer cancel()
	st, err := pool.Job(wctx, started.JobID, true)
	switch {
	case err != nil && ctx.Err() == nil && wctx.Err() != nil:
		// Still running: the client polls the job instead.
		return writeJSON(c, http.StatusAccepted, accepted)
	case err != nil:
		return poolError(ctx, err)
	}
	return writeJSON(c, http.StatusOK, jobView(a.provider, st))
}

func (a *ingestAPI) job(c echo.Context) error {
	pool := a.ingester()
	if pool == nil {
		return failure(http.StatusServiceUnavailable, "the "+a.provider+" pool is not configured")
	}
	ctx := c.Request().Context()
	st, err := pool.Job(ctx, c.Param("job"), false)
	if err != nil {
		return poolError(ctx, err)
	}
	if !st.Found {
		return failure(http.StatusNotFound, "no such ingestion job (finished jobs are kept for a while, not forever)")
	}
	return writeJSON(c, http.StatusOK, jobView(a.provider, st))
}

// jobView turns a job status of provider's pool into its client form; the
// admin API's job lookup shares it.
func jobView(provider string, st *actors.JobStatus) Job {
	out := Job{Job: st.ID, Provider: provider, Total: st.Total, Done: st.Done, Finished: st.Finished,
		StartedAt: st.StartedAt, FinishedAt: st.FinishedAt, Verdicts: make([]Verdict, len(st.Verdicts))}
	for i, v := range st.Verdicts {
		iv := Verdict{Index: v.Index, Result: string(v.Result), CredentialID: v.CredentialID,
			Email: v.Email, Tier: v.Tier, Reason: v.Reason, URL: v.URL}
		if provider == providers.Codex {
			iv.Account = v.Account
			if v.Result == actors.VerdictAdded || v.Result == actors.VerdictUpdated {
				iv.Warning = codexRotationWarning
			}
		} else {
			iv.Project = v.Account
		}
		out.Verdicts[i] = iv
	}
	return out
}

// ingestObject is every object shape resource:add understands; members of
// other names (access_token, scope, expiry_date, last_refresh...) are
// ignored.
type ingestObject struct {
	RefreshToken *string `json:"refresh_token"`
	// RefreshTokenCamel is the original Pollux's other spelling.
	RefreshTokenCamel *string `json:"refreshToken"`
	ProjectID         *string `json:"project_id"`
	AccountID         *string `json:"account_id"`
	// Tokens is the Codex CLI auth.json form.
	Tokens *struct {
		RefreshToken *string `json:"refresh_token"`
		AccountID    *string `json:"account_id"`
	} `json:"tokens"`
}

// ingestExample shows the accepted body shapes in 400 answers.
func ingestExample(provider string) string {
	if provider == providers.Codex {
		return `send a JSON array of refresh tokens or credential objects, e.g. ` +
			`["rt_AbC..."] or [{"refresh_token":"rt_AbC..."}], or the contents of ~/.codex/auth.json ` +
			`({"tokens":{"refresh_token":...,"account_id":...}})`
	}
	return `send a JSON array of refresh tokens or credential objects, e.g. ` +
		`["1//0gAbC..."] or [{"refresh_token":"1//0gAbC...","project_id":"my-gcp-project"}], ` +
		`or the contents of ~/.gemini/oauth_creds.json`
}

// parseIngest decodes a resource:add body into onboarding seeds, or returns
// a 400 *Error that shows the right shape. No message quotes the body.
func parseIngest(provider string, body []byte) ([]providers.Credential, error) {
	example := ingestExample(provider)
	bad := func(format string, args ...any) error {
		return failure(http.StatusBadRequest, fmt.Sprintf(format, args...)+"; "+example)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, bad("empty body")
	}
	if !utf8.Valid(body) {
		// encoding/json would replace the bad bytes silently, changing a
		// token instead of refusing it.
		return nil, bad("body is not valid UTF-8")
	}
	var items []json.RawMessage
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, bad("body is not a valid JSON array")
		}
	case '{':
		if !json.Valid(body) {
			return nil, bad("body is not valid JSON")
		}
		items = []json.RawMessage{body}
	default:
		return nil, bad("body must be a JSON array or object")
	}
	switch {
	case len(items) == 0:
		return nil, nil
	case len(items) > MaxIngestBatch:
		return nil, bad("%d credentials in one body; the limit is %d, split the batch", len(items), MaxIngestBatch)
	}
	seeds := make([]providers.Credential, len(items))
	for i, raw := range items {
		if emptyIngestItem(raw) {
			// The original Pollux skipped empty entries; here each gets an
			// "invalid" verdict (an empty seed) and the rest proceed.
			seeds[i] = providers.Credential{Provider: provider}
			continue
		}
		seed, msg := parseIngestItem(provider, raw)
		if msg != "" {
			return nil, bad("item %d: %s", i, msg)
		}
		seeds[i] = seed
	}
	return seeds, nil
}

// parseIngestItem decodes one item; a non-empty msg says what is wrong.
func parseIngestItem(provider string, raw json.RawMessage) (providers.Credential, string) {
	var seed providers.Credential
	if len(raw) > 0 && raw[0] == '"' {
		var tok string
		if json.Unmarshal(raw, &tok) != nil {
			return seed, "not a valid JSON string"
		}
		return checkRefreshToken(provider, tok)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return seed, "must be a refresh-token string or an object"
	}
	var obj ingestObject
	if err := json.Unmarshal(raw, &obj); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return seed, fmt.Sprintf("%s must be a string", te.Field)
		}
		return seed, "not a valid credential object"
	}
	var tok, account *string
	switch provider {
	case providers.Codex:
		if obj.ProjectID != nil {
			return seed, "project_id belongs to Gemini CLI credentials; post those to /geminicli/resource:add"
		}
		tok, account = obj.RefreshToken, obj.AccountID
		if obj.Tokens != nil {
			if tok == nil {
				tok = obj.Tokens.RefreshToken
			}
			if account == nil {
				account = obj.Tokens.AccountID
			}
		}
	default:
		if obj.Tokens != nil || obj.AccountID != nil {
			return seed, "this looks like a Codex login; post it to /codex/resource:add"
		}
		tok, account = obj.RefreshToken, obj.ProjectID
	}
	if tok == nil {
		tok = obj.RefreshTokenCamel
	}
	if tok == nil {
		return seed, "no refresh_token"
	}
	seed, msg := checkRefreshToken(provider, *tok)
	if msg != "" {
		return seed, msg
	}
	if account != nil {
		seed.Account = strings.TrimSpace(*account)
	}
	return seed, ""
}

// checkRefreshToken vets one token's form (never its value in messages).
func checkRefreshToken(provider, tok string) (providers.Credential, string) {
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "":
		return providers.Credential{}, "refresh_token is empty"
	case len(tok) > maxRefreshTokenLen:
		return providers.Credential{}, fmt.Sprintf("refresh_token is longer than %d bytes", maxRefreshTokenLen)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return providers.Credential{}, "refresh_token contains whitespace or control characters"
	case provider == providers.GeminiCLI && strings.HasPrefix(tok, "ya29."):
		return providers.Credential{}, "this is an access token (ya29.…), which expires within the hour; send the refresh token"
	}
	return providers.Credential{Provider: provider, RefreshToken: config.Secret(tok)}, ""
}

// emptyIngestItem reports whether an item carries nothing: null, a blank
// string, {} or an object whose refresh token is present but blank. An
// object of some other shape is not empty but malformed (400).
func emptyIngestItem(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return true
	case raw[0] == '"':
		var s string
		return json.Unmarshal(raw, &s) == nil && strings.TrimSpace(s) == ""
	case raw[0] == '{':
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil {
			return false
		}
		if len(members) == 0 {
			return true
		}
		var obj ingestObject
		if json.Unmarshal(raw, &obj) != nil {
			return false
		}
		blank := func(p *string) bool { return p != nil && strings.TrimSpace(*p) == "" }
		hasToken := func(p *string) bool { return p != nil && strings.TrimSpace(*p) != "" }
		if hasToken(obj.RefreshToken) || hasToken(obj.RefreshTokenCamel) || obj.Tokens != nil && hasToken(obj.Tokens.RefreshToken) {
			return false
		}
		return blank(obj.RefreshToken) || blank(obj.RefreshTokenCamel) || obj.Tokens != nil && blank(obj.Tokens.RefreshToken)
	}
	return false
}
