package geminicli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// MethodRetrieveUserQuota is the Code Assist RPC that reports what is left
// of a project's per-model quotas.
const MethodRetrieveUserQuota = "retrieveUserQuota"

// maxQuotaBody bounds what ReadQuota reads of the answer.
const maxQuotaBody = 1 << 20

// quotaResponse is the body of v1internal:retrieveUserQuota.
type quotaResponse struct {
	Buckets []struct {
		ModelID           string   `json:"modelId"`
		TokenType         string   `json:"tokenType"`
		RemainingFraction *float64 `json:"remainingFraction"`
		ResetTime         string   `json:"resetTime"`
	} `json:"buckets"`
}

// ReadQuota asks Code Assist for the project's per-model quota buckets
// (POST /v1internal:retrieveUserQuota with {"project": ...}). A model with
// several buckets (token types) is reported by its tightest one. Reset times
// are corrected for the clock offset the answer's Date header shows.
func (c *Client) ReadQuota(ctx context.Context, g providers.Grant) ([]providers.QuotaBucket, error) {
	body, err := json.Marshal(map[string]string{"project": g.Account})
	if err != nil {
		return nil, fmt.Errorf("geminicli: quota: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apiBase+"/v1internal:"+MethodRetrieveUserQuota, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("geminicli: quota: %w", err)
	}
	c.setGaxiosHeaders(req.Header, g.AccessToken.Reveal(), "", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("geminicli: quota: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxQuotaBody))
	if cerr := resp.Body.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("geminicli: quota: read: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		out := classify(c.now(), resp.StatusCode, resp.Header, raw)
		return nil, fmt.Errorf("geminicli: quota: %w", &providers.UpstreamError{Status: resp.StatusCode, Outcome: out, Body: out.Reason})
	}
	return parseQuota(raw, resp.Header, c.now())
}

// parseQuota reads a retrieveUserQuota answer.
func parseQuota(raw []byte, header http.Header, now time.Time) ([]providers.QuotaBucket, error) {
	var qr quotaResponse
	if err := json.Unmarshal(raw, &qr); err != nil {
		return nil, fmt.Errorf("geminicli: quota: decode: %w", err)
	}
	out := make([]providers.QuotaBucket, 0, len(qr.Buckets))
	idx := make(map[string]int, len(qr.Buckets))
	for _, b := range qr.Buckets {
		model := strings.TrimPrefix(b.ModelID, "models/")
		if model == "" || b.RemainingFraction == nil {
			continue
		}
		q := providers.QuotaBucket{Model: model, Remaining: min(max(*b.RemainingFraction, 0), 1)}
		if t, err := time.Parse(time.RFC3339Nano, b.ResetTime); err == nil {
			q.ResetAt = providers.LocalResetTime(t, header, now)
		}
		if i, ok := idx[model]; ok {
			if q.Remaining < out[i].Remaining {
				out[i] = q
			}
			continue
		}
		idx[model] = len(out)
		out = append(out, q)
	}
	return out, nil
}

var _ providers.QuotaReader = (*Client)(nil)
