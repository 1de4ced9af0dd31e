package geminicli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// Tier ids with special handling.
const (
	tierFree   = "free-tier"
	tierLegacy = "legacy-tier"
)

// Extra is the geminicli part of a credential, stored JSON-encoded in
// Credential.Extra.
type Extra struct {
	// TierName is the display name of the tier ("Gemini Code Assist for
	// individuals", "Standard", ...).
	TierName string `json:"tier_name,omitempty"`
	// ManagedProject reports that Google assigned the project during
	// onboarding (free tier) rather than the operator pinning one.
	ManagedProject bool `json:"managed_project,omitempty"`
	// OnboardedAt is when Onboard last completed.
	OnboardedAt time.Time `json:"onboarded_at"`
}

// DecodeExtra reads a credential's Extra; an empty document is a zero Extra.
func DecodeExtra(raw json.RawMessage) (Extra, error) {
	var x Extra
	if len(raw) == 0 {
		return x, nil
	}
	if err := json.Unmarshal(raw, &x); err != nil {
		return Extra{}, fmt.Errorf("geminicli: extra: %w", err)
	}
	return x, nil
}

// clientMetadata identifies the caller to Code Assist the way the Gemini CLI
// does.
type clientMetadata struct {
	IDEType    string `json:"ideType"`
	Platform   string `json:"platform"`
	PluginType string `json:"pluginType"`
}

var cliMetadata = clientMetadata{IDEType: "IDE_UNSPECIFIED", Platform: "PLATFORM_UNSPECIFIED", PluginType: "GEMINI"}

type loadCodeAssistRequest struct {
	Project  string         `json:"cloudaicompanionProject,omitempty"`
	Metadata clientMetadata `json:"metadata"`
}

type tier struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	IsDefault bool   `json:"isDefault"`
}

type ineligibleTier struct {
	ReasonCode    string `json:"reasonCode"`
	ReasonMessage string `json:"reasonMessage"`
	TierID        string `json:"tierId"`
	ValidationURL string `json:"validationUrl"`
}

type loadCodeAssistResponse struct {
	CurrentTier     *tier            `json:"currentTier"`
	AllowedTiers    []tier           `json:"allowedTiers"`
	IneligibleTiers []ineligibleTier `json:"ineligibleTiers"`
	Project         projectRef       `json:"cloudaicompanionProject"`
}

type onboardUserRequest struct {
	TierID   string         `json:"tierId"`
	Project  string         `json:"cloudaicompanionProject,omitempty"`
	Metadata clientMetadata `json:"metadata"`
}

// operation is a google.longrunning.Operation for onboardUser.
type operation struct {
	Name     string    `json:"name"`
	Done     bool      `json:"done"`
	Error    *apiError `json:"error"`
	Response struct {
		Project projectRef `json:"cloudaicompanionProject"`
	} `json:"response"`
}

// projectRef is a cloudaicompanionProject, which arrives either as the
// project id string or as an object {id, name}.
type projectRef struct {
	ID   string
	Name string
}

func (p *projectRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &p.ID)
	}
	var obj struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	p.ID, p.Name = obj.ID, obj.Name
	return nil
}

// Onboard refreshes cred, names its account, and makes sure Code Assist has
// a tier and project for it (loadCodeAssist, then onboardUser when needed).
// A pinned cred.Account is offered as the project. Accounts that cannot serve
// come back as a *VerdictError wrapping ErrIneligible, ErrBanned or
// ErrReauth; anything else is transient.
func (c *Client) Onboard(ctx context.Context, cred providers.Credential) (providers.Credential, error) {
	cred.Provider = providers.GeminiCLI
	pinned := cred.Account
	cred, err := c.Refresh(ctx, cred)
	if err != nil {
		return cred, err
	}
	if cred.Sub == "" || cred.Email == "" {
		if err := c.fetchUserInfo(ctx, &cred); err != nil {
			return cred, err
		}
	}
	log := c.log.With(zap.Int64("credential_id", cred.ID))

	var load loadCodeAssistResponse
	err = c.v1internal(ctx, cred.AccessToken, http.MethodPost, ":loadCodeAssist",
		loadCodeAssistRequest{Project: pinned, Metadata: cliMetadata}, &load)
	if err != nil {
		return cred, onboardError("loadCodeAssist", err)
	}

	if cur := load.CurrentTier; cur != nil {
		if project := orDefault(load.Project.ID, pinned); project != "" {
			return c.finishOnboard(log, cred, cur.ID, project, Extra{TierName: cur.Name})
		}
		// A tier but no project: only a pinned project can help (the
		// Gemini CLI stops here too).
		if len(load.IneligibleTiers) > 0 {
			return cred, ineligible(load.IneligibleTiers[0])
		}
		return cred, projectRequired(cur.ID)
	}
	if len(load.AllowedTiers) == 0 && len(load.IneligibleTiers) > 0 {
		return cred, ineligible(load.IneligibleTiers[0])
	}
	t := defaultTier(load.AllowedTiers)
	tierID, extra := t.ID, Extra{TierName: t.Name}

	req := onboardUserRequest{TierID: tierID, Metadata: cliMetadata}
	if tierID != tierFree {
		// The free tier gets a Google-managed project; offering one fails.
		req.Project = pinned
	}
	log.Debug("onboarding", zap.String("tier", tierID))
	project, err := c.onboardUser(ctx, cred.AccessToken, req)
	if err != nil {
		return cred, err
	}
	if project == "" {
		project = pinned
	} else if project != pinned {
		extra.ManagedProject = true
	}
	if project == "" {
		return cred, projectRequired(tierID)
	}
	return c.finishOnboard(log, cred, tierID, project, extra)
}

// finishOnboard stamps the result into cred.
func (c *Client) finishOnboard(log *zap.Logger, cred providers.Credential, tierID, project string, extra Extra) (providers.Credential, error) {
	extra.OnboardedAt = c.now().UTC()
	raw, err := json.Marshal(extra)
	if err != nil {
		return cred, fmt.Errorf("geminicli: onboard: extra: %w", err)
	}
	cred.Tier, cred.Account, cred.Extra = tierID, project, raw
	log.Info("onboarded", zap.String("tier", tierID), zap.String("project", project))
	return cred, nil
}

// defaultTier picks the allowed tier marked default, as the Gemini CLI does;
// legacy-tier when Google lists none.
func defaultTier(allowed []tier) tier {
	for _, t := range allowed {
		if t.IsDefault {
			return t
		}
	}
	return tier{ID: tierLegacy}
}

func projectRequired(tierID string) error {
	return fmt.Errorf("geminicli: onboard: %w", &providers.VerdictError{
		Err:    providers.ErrIneligible,
		Reason: "PROJECT_ID_REQUIRED: tier " + tierID + " needs a Google Cloud project; pin one on the credential",
	})
}

func ineligible(t ineligibleTier) error {
	reason := t.ReasonCode
	if m := shortMessage(t.ReasonMessage); m != "" {
		reason += ": " + m
	}
	return fmt.Errorf("geminicli: onboard: %w", &providers.VerdictError{
		Err: providers.ErrIneligible, Reason: reason, URL: t.ValidationURL,
	})
}

// onboardUser starts onboarding and waits for its operation, polling it by
// name (or re-posting when Google gave no name) every pollInterval, at most
// maxPolls times. It returns the project id Google assigned, if any.
func (c *Client) onboardUser(ctx context.Context, token config.Secret, req onboardUserRequest) (string, error) {
	var op operation
	if err := c.v1internal(ctx, token, http.MethodPost, ":onboardUser", req, &op); err != nil {
		return "", onboardError("onboardUser", err)
	}
	for polls := 0; !op.Done; polls++ {
		if polls >= c.maxPolls {
			return "", fmt.Errorf("geminicli: onboard: operation not done after %d polls", polls)
		}
		if err := sleepCtx(ctx, c.pollInterval); err != nil {
			return "", fmt.Errorf("geminicli: onboard: %w", err)
		}
		var next operation
		var err error
		if op.Name != "" {
			err = c.v1internal(ctx, token, http.MethodGet, "/"+op.Name, nil, &next)
		} else {
			err = c.v1internal(ctx, token, http.MethodPost, ":onboardUser", req, &next)
		}
		if err != nil {
			return "", onboardError("onboardUser poll", err)
		}
		if next.Name == "" {
			next.Name = op.Name
		}
		op = next
	}
	if op.Error != nil {
		status := op.Error.Code
		if status < 400 {
			status = statusFromRPC(op.Error.Status)
		}
		f := &apiFailure{
			up: &providers.UpstreamError{
				Status:  status,
				Outcome: classifyError(c.now(), status, nil, op.Error),
				Body:    shortMessage(op.Error.Message),
			},
			url: op.Error.validationURL(),
		}
		return "", onboardError("onboardUser operation", f)
	}
	return op.Response.Project.ID, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiFailure is a classified non-2xx v1internal answer, with the validation
// link when the body named one.
type apiFailure struct {
	up  *providers.UpstreamError
	url string
}

func (f *apiFailure) Error() string { return f.up.Error() }
func (f *apiFailure) Unwrap() error { return f.up }

// onboardError turns a failed onboarding step into a verdict when the
// answer is one (no licence, banned, needs a human), else a transient error.
func onboardError(step string, err error) error {
	var f *apiFailure
	if !errors.As(err, &f) {
		return fmt.Errorf("geminicli: onboard: %s: %w", step, err)
	}
	reason := f.up.Outcome.Reason
	if f.up.Body != "" {
		reason += ": " + f.up.Body
	}
	var verdict error
	switch f.up.Outcome.Kind {
	case providers.KindIneligible:
		verdict = providers.ErrIneligible
	case providers.KindBanned:
		verdict = providers.ErrBanned
	case providers.KindAuthRevoked:
		verdict = providers.ErrReauth
	default:
		return fmt.Errorf("geminicli: onboard: %s: %w", step, f.up)
	}
	return fmt.Errorf("geminicli: onboard: %s: %w", step, &providers.VerdictError{Err: verdict, Reason: reason, URL: f.url})
}

// v1internal does one JSON call to {base}/v1internal{suffix}: suffix is
// ":method" for a POST or "/operations/..." for a GET. A non-2xx answer is an
// *apiFailure.
func (c *Client) v1internal(ctx context.Context, token config.Secret, method, suffix string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.apiBase+"/v1internal"+suffix, body)
	if err != nil {
		return err
	}
	// The CLI's GETs (operation polls) carry Content-Type too.
	c.setGaxiosHeaders(req.Header, token.Reveal(), "", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e, _ := parseError(data)
		return &apiFailure{
			up: &providers.UpstreamError{
				Status:  resp.StatusCode,
				Outcome: classifyError(c.now(), resp.StatusCode, resp.Header, &e),
				Body:    shortMessage(e.Message),
			},
			url: e.validationURL(),
		}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	return nil
}
