package relaytest

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// HeaderCredential carries the leased credential's id to the test upstream.
const HeaderCredential = "X-Test-Credential"

// HeaderModel carries the call's model to the test upstream.
const HeaderModel = "X-Test-Model"

// Upstream is a providers.Upstream that POSTs the call's body to URL (an
// httptest server), naming the credential in HeaderCredential and the
// model in HeaderModel, and classifies answers by status: 401 auth
// expired, 429 rate limited (reset from Retry-After seconds), 503
// overloaded, other 5xx transient, other 4xx
// bad request.
type Upstream struct {
	URL    string
	Client *http.Client
}

// Send implements providers.Upstream.
func (u *Upstream) Send(ctx context.Context, g providers.Grant, c *providers.Call) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+"/"+c.Method, bytes.NewReader(c.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set(HeaderCredential, strconv.FormatInt(g.CredentialID, 10))
	req.Header.Set(HeaderModel, c.Model)
	client := u.Client
	if client == nil {
		client = http.DefaultClient
	}
	return client.Do(req)
}

// Classify implements providers.Upstream.
func (u *Upstream) Classify(status int, h http.Header, _ []byte) providers.Outcome {
	o := providers.Outcome{Status: status, Reason: "test"}
	switch {
	case status == http.StatusUnauthorized:
		o.Kind = providers.KindAuthExpired
	case status == http.StatusTooManyRequests:
		o.Kind = providers.KindRateLimited
		if secs, err := strconv.Atoi(h.Get("Retry-After")); err == nil {
			o.RetryAt = time.Now().Add(time.Duration(secs) * time.Second)
		}
	case status == http.StatusServiceUnavailable:
		o.Kind = providers.KindOverloaded
	case status >= 500:
		o.Kind = providers.KindTransient
	default:
		o.Kind = providers.KindBadRequest
	}
	return o
}
