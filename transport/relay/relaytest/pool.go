package relaytest

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// Report is one lease's reported outcome.
type Report struct {
	CredentialID int64
	Outcome      providers.Outcome
}

// Pool is a fake relay.Pool over a fixed set of credentials. Acquire
// grants the preferred credential when asked, else the first one not
// excluded and not cooling; with none left it answers Exhausted (default:
// no credentials). It is safe for concurrent use.
type Pool struct {
	// Retry is what RetryMax returns.
	Retry int

	mu      sync.Mutex
	ids     []int64
	cooling map[int64]time.Time
	// exhausted is Acquire's error once no credential is left.
	exhausted error
	leases    uint64
	acquires  []actors.AcquireOptions
	// models are the models of the acquires, in order; modelCooling the
	// models cooling on every credential, until when.
	models       []string
	modelCooling map[string]time.Time
	reports      []Report
	usage        map[int64][2]int64
	// modelUsage is the usage per model.
	modelUsage map[string][2]int64
}

// NewPool returns a pool of the credentials ids (retry budget 3).
func NewPool(ids ...int64) *Pool {
	return &Pool{Retry: 3, ids: ids, cooling: map[int64]time.Time{}, usage: map[int64][2]int64{}}
}

// SetExhausted sets Acquire's error once no credential is left.
func (p *Pool) SetExhausted(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exhausted = err
}

// CoolModel cools model on every credential until the given time, as a
// scheduler whose credentials all answered limits for it: Acquire for model
// answers all cooling with that reset when it lies beyond the request's
// wait, and grants as if the request had waited for it otherwise.
func (p *Pool) CoolModel(model string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.modelCooling == nil {
		p.modelCooling = map[string]time.Time{}
	}
	p.modelCooling[model] = until
}

// Acquire implements relay.Pool. The grant's access token is "token-<id>".
func (p *Pool) Acquire(ctx context.Context, model string, o actors.AcquireOptions) (*actors.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acquires = append(p.acquires, actors.AcquireOptions{Exclude: slices.Clone(o.Exclude), Affinity: o.Affinity,
		Prefer: o.Prefer, RequestID: o.RequestID, Wait: o.Wait})
	p.models = append(p.models, model)
	if until, ok := p.modelCooling[model]; ok && time.Until(until) > o.Wait {
		return nil, &actors.UnavailableError{Reason: actors.AllCooling, RetryAt: until}
	}
	pick := int64(0)
	if o.Prefer != 0 && slices.Contains(p.ids, o.Prefer) {
		pick = o.Prefer
	}
	for _, id := range p.ids {
		if pick != 0 {
			break
		}
		if _, cool := p.cooling[id]; !cool && !slices.Contains(o.Exclude, id) {
			pick = id
		}
	}
	if pick == 0 {
		if p.exhausted != nil {
			return nil, p.exhausted
		}
		return nil, &actors.UnavailableError{Reason: actors.NoCredentials}
	}
	p.leases++
	return &actors.Lease{ID: p.leases, Model: model, Grant: providers.Grant{
		CredentialID: pick, AccessToken: config.Secret("token-" + strconv.FormatInt(pick, 10)),
		Account: "acct", LeaseID: p.leases,
	}}, nil
}

// Report implements relay.Pool. A limit outcome cools the credential
// (Acquire skips it from then on).
func (p *Pool) Report(l *actors.Lease, o providers.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reports = append(p.reports, Report{CredentialID: l.Grant.CredentialID, Outcome: o})
	switch o.Kind {
	case providers.KindRateLimited, providers.KindQuotaExhausted, providers.KindOverloaded:
		p.cooling[l.Grant.CredentialID] = o.RetryAt
	case providers.KindOK, providers.KindAuthExpired, providers.KindAuthRevoked, providers.KindBanned,
		providers.KindIneligible, providers.KindModelUnsupported, providers.KindBadRequest,
		providers.KindTransient, providers.KindAbandoned:
	}
}

// RetryMax implements relay.Pool.
func (p *Pool) RetryMax() int { return p.Retry }

// RecordUsage implements relay.UsageRecorder.
func (p *Pool) RecordUsage(credentialID int64, model string, input, output int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.usage[credentialID]
	p.usage[credentialID] = [2]int64{u[0] + input, u[1] + output}
	if p.modelUsage == nil {
		p.modelUsage = map[string][2]int64{}
	}
	m := p.modelUsage[model]
	p.modelUsage[model] = [2]int64{m[0] + input, m[1] + output}
}

// ModelUsage returns the input and output tokens recorded for a model.
func (p *Pool) ModelUsage(model string) (input, output int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.modelUsage[model]
	return u[0], u[1]
}

// Reports returns every reported outcome, in order.
func (p *Pool) Reports() []Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reports)
}

// Acquires returns the options of every Acquire, in order.
func (p *Pool) Acquires() []actors.AcquireOptions {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acquires)
}

// AcquiredModels returns the model of every Acquire, in order.
func (p *Pool) AcquiredModels() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.models)
}

// Usage returns the input and output tokens recorded for a credential.
func (p *Pool) Usage(credentialID int64) (input, output int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.usage[credentialID]
	return u[0], u[1]
}

// Outstanding is the number of leases granted and not yet reported.
func (p *Pool) Outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int(p.leases) - len(p.reports)
}
