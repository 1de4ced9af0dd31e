package operations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/models"
)

// Admin API, for operators and the status page. Every route is in the
// operator group (MountOperator): it needs the admin key ([basic] admin_key)
// when one is set, else the Pollux key, sent like the client key (Bearer,
// x-goog-api-key or ?key=). Errors use the plain
// envelope {"error":{"status","message"}}. Never a token in any answer.
//
//	GET    /admin/v1/credentials[?provider=geminicli|codex][&status=<status>]
//	                                             → {"credentials":[actors.CredentialView...]} by id
//	POST   /admin/v1/credentials/{id}:disable    optional {"reason":"..."} → {"id","status":"disabled"}
//	POST   /admin/v1/credentials/{id}:enable     → {"id","status"}
//	POST   /admin/v1/credentials/{id}:refresh    → 202 {"id","refreshing"}
//	DELETE /admin/v1/credentials/{id}            → 204; its actor stops at once, it never refreshes again
//	GET    /admin/v1/jobs/{job}                  → a resource:add job, as GET <surface>/resource:jobs/{job}
//	GET    /admin/v1/pool                        → per provider: counts by status, per model
//	                                               ready/cooling/unavailable and the earliest reset
//	GET    /admin/v1/pool/usage                  → per provider and model: the quota left (poolusage.go)
//	GET    /admin/v1/loglevel                    → {"level":"info"}
//	POST   /admin/v1/loglevel {"level":"debug"}  → {"level":"debug"}; debug, info, warn or error

// maxDisableReason bounds an operator's disable reason.
const maxDisableReason = 256

// mountAdmin mounts the admin API. GET / and /status belong to the status
// page.
func (a *API) mountAdmin(add Add) {
	add(http.MethodGet, adminRoot+"/credentials", a.credentials)
	add(http.MethodPost, adminRoot+"/credentials/:id", a.action)
	add(http.MethodDelete, adminRoot+"/credentials/:id", a.remove)
	add(http.MethodGet, adminRoot+"/jobs/:id", a.job)
	add(http.MethodGet, adminRoot+"/pool", a.pool)
	add(http.MethodGet, adminRoot+"/pool/usage", a.poolUsage)
	add(http.MethodGet, adminRoot+"/loglevel", a.getLevel)
	add(http.MethodPost, adminRoot+"/loglevel", a.setLevel)
}

// CredentialList is the answer of GET credentials.
type CredentialList struct {
	Credentials []actors.CredentialView `json:"credentials"`
}

func (a *API) credentials(c echo.Context) error {
	provider, status := c.QueryParam("provider"), actors.Status(c.QueryParam("status"))
	switch provider {
	case "", providers.GeminiCLI, providers.Codex:
	default:
		return failure(http.StatusBadRequest, "provider must be geminicli or codex")
	}
	if status != "" && !status.Valid() {
		return failure(http.StatusBadRequest, "status must be one of active, cooling, needs_reauth, ineligible, banned, disabled")
	}
	ctx := c.Request().Context()
	now := time.Now()
	out := CredentialList{Credentials: []actors.CredentialView{}}
	for _, p := range a.d.Pools() {
		if p.Admin == nil || (provider != "" && p.Name != provider) {
			continue
		}
		snap, err := p.Admin.Snapshot(ctx)
		if err != nil {
			return poolError(ctx, err)
		}
		for _, v := range snap.Credentials {
			if status != "" && v.Status != status {
				continue
			}
			v.Cooldowns = runningCooldowns(v.Cooldowns, now)
			out.Credentials = append(out.Credentials, v)
		}
	}
	slices.SortFunc(out.Credentials, func(x, y actors.CredentialView) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	return writeJSON(c, http.StatusOK, out)
}

// runningCooldowns returns a sorted copy of the cooldowns that have not
// ended (a credential forgets ended ones lazily).
func runningCooldowns(cds []actors.Cooldown, now time.Time) []actors.Cooldown {
	var out []actors.Cooldown
	for _, cd := range cds {
		if cd.Until.After(now) {
			out = append(out, cd)
		}
	}
	slices.SortFunc(out, func(x, y actors.Cooldown) int { return strings.Compare(x.Model, y.Model) })
	return out
}

// credentialStatus is the answer of :disable and :enable.
type credentialStatus struct {
	ID     int64         `json:"id"`
	Status actors.Status `json:"status"`
}

// credentialRefresh is the answer of :refresh.
type credentialRefresh struct {
	ID         int64 `json:"id"`
	Refreshing bool  `json:"refreshing"`
}

// action serves POST credentials/{id}:{disable|enable|refresh}.
func (a *API) action(c echo.Context) error {
	raw := c.Param("id")
	if u, err := url.PathUnescape(raw); err == nil {
		raw = u
	}
	idText, verb, _ := strings.Cut(raw, ":")
	switch verb {
	case "disable", "enable", "refresh":
	default:
		return failure(http.StatusNotFound, "unknown action: use credentials/{id}:disable, :enable or :refresh")
	}
	id, err := parseCredentialID(idText)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	switch verb {
	case "disable":
		reason, err := a.disableReason(c)
		if err != nil {
			return err
		}
		p, err := a.apply(ctx, id, func(ap AdminPool) error { return ap.SetDisabled(ctx, id, true, reason) })
		if err != nil {
			return err
		}
		a.logCredential(c, "admin: credential disabled", p.Name, id)
		return writeJSON(c, http.StatusOK, credentialStatus{ID: id, Status: actors.StatusDisabled})
	case "enable":
		p, err := a.apply(ctx, id, func(ap AdminPool) error { return ap.SetDisabled(ctx, id, false, "") })
		if err != nil {
			return err
		}
		a.logCredential(c, "admin: credential enabled", p.Name, id)
		st := actors.StatusActive
		if v, ok := a.view(ctx, p, id); ok {
			st = v.Status
		}
		return writeJSON(c, http.StatusOK, credentialStatus{ID: id, Status: st})
	}
	p, err := a.apply(ctx, id, func(ap AdminPool) error { return ap.Refresh(ctx, id) })
	if err != nil {
		return err
	}
	a.logCredential(c, "admin: credential refresh asked", p.Name, id)
	// Only a serving credential refreshes; a disabled or dead one says so.
	refreshing := true
	if v, ok := a.view(ctx, p, id); ok {
		refreshing = v.Refreshing || v.Status == actors.StatusActive || v.Status == actors.StatusCooling
	}
	return writeJSON(c, http.StatusAccepted, credentialRefresh{ID: id, Refreshing: refreshing})
}

// remove serves DELETE credentials/{id}.
func (a *API) remove(c echo.Context) error {
	id, err := parseCredentialID(c.Param("id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := a.apply(ctx, id, func(ap AdminPool) error { return ap.Remove(ctx, id) })
	if err != nil {
		return err
	}
	a.logCredential(c, "admin: credential deleted", p.Name, id)
	return c.NoContent(http.StatusNoContent)
}

// apply runs op on the pool that holds credential id.
func (a *API) apply(ctx context.Context, id int64, op func(AdminPool) error) (Pool, error) {
	for _, p := range a.d.Pools() {
		if p.Admin == nil {
			continue
		}
		err := op(p.Admin)
		switch {
		case errors.Is(err, actors.ErrCredentialNotFound):
			continue
		case err != nil:
			return p, poolError(ctx, err)
		}
		return p, nil
	}
	return Pool{}, failure(http.StatusNotFound, fmt.Sprintf("no credential with id %d", id))
}

// view returns a credential's current view.
func (a *API) view(ctx context.Context, p Pool, id int64) (actors.CredentialView, bool) {
	snap, err := p.Admin.Snapshot(ctx)
	if err != nil {
		return actors.CredentialView{}, false
	}
	for _, v := range snap.Credentials {
		if v.ID == id {
			return v, true
		}
	}
	return actors.CredentialView{}, false
}

func (a *API) logCredential(c echo.Context, msg, provider string, id int64) {
	a.logAction(c, msg, zap.String("provider", provider), zap.Int64(keyCredentialID, id))
}

// parseCredentialID reads a credential id from the path.
func parseCredentialID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, failure(http.StatusBadRequest, "the credential id must be a positive integer")
	}
	return id, nil
}

// disableReason reads the optional {"reason":"..."} body of :disable.
func (a *API) disableReason(c echo.Context) (string, error) {
	body, err := a.d.ReadBody(c)
	if err != nil {
		return "", err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil
	}
	var v struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", failure(http.StatusBadRequest, `the body must be empty or {"reason":"..."}`)
	}
	reason := strings.TrimSpace(v.Reason)
	if len(reason) > maxDisableReason {
		return "", failure(http.StatusBadRequest, fmt.Sprintf("reason is longer than %d bytes", maxDisableReason))
	}
	return reason, nil
}

// job serves GET jobs/{job}, searching every pool.
func (a *API) job(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	for _, p := range a.d.Pools() {
		st, err := p.Ingest.Job(ctx, id, false)
		if err != nil {
			return poolError(ctx, err)
		}
		if st.Found {
			return writeJSON(c, http.StatusOK, jobView(p.Name, st))
		}
	}
	return failure(http.StatusNotFound, "no such ingestion job (finished jobs are kept for a while, not forever)")
}

// PoolSummary is the answer of GET pool.
type PoolSummary struct {
	Providers []ProviderSummary `json:"providers"`
}

// ProviderSummary is one pool's part of PoolSummary.
type ProviderSummary struct {
	Provider    string         `json:"provider"`
	Credentials int            `json:"credentials"`
	Waiting     int            `json:"waiting"`
	ByStatus    StatusCounts   `json:"by_status"`
	Models      []ModelSummary `json:"models"`
	// Aliases and Fallbacks are the pool's configured model names
	// ([providers.<name>.aliases] and .fallbacks), sorted.
	Aliases   []AliasSummary `json:"aliases"`
	Fallbacks []ChainSummary `json:"fallbacks"`
}

// AliasSummary is one alias and the model it serves with.
type AliasSummary struct {
	Alias string `json:"alias"`
	Model string `json:"model"`
}

// ChainSummary is one model's fallback chain.
type ChainSummary struct {
	Model     string   `json:"model"`
	Fallbacks []string `json:"fallbacks"`
}

// nameSummaries lists a pool's aliases and chains, sorted; empty lists
// when it has none.
func nameSummaries(t *models.Table) ([]AliasSummary, []ChainSummary) {
	aliases, chains := []AliasSummary{}, []ChainSummary{}
	if t == nil {
		return aliases, chains
	}
	for _, a := range t.Aliases() {
		aliases = append(aliases, AliasSummary{Alias: a.Name, Model: a.Model})
	}
	all := t.Chains()
	for _, m := range slices.Sorted(maps.Keys(all)) {
		chains = append(chains, ChainSummary{Model: m, Fallbacks: all[m]})
	}
	return aliases, chains
}

// StatusCounts counts credentials per status.
type StatusCounts struct {
	Active      int `json:"active"`
	Cooling     int `json:"cooling"`
	NeedsReauth int `json:"needs_reauth"`
	Ineligible  int `json:"ineligible"`
	Banned      int `json:"banned"`
	Disabled    int `json:"disabled"`
}

func (sc *StatusCounts) slot(st actors.Status) *int {
	switch st {
	case actors.StatusActive:
		return &sc.Active
	case actors.StatusCooling:
		return &sc.Cooling
	case actors.StatusNeedsReauth:
		return &sc.NeedsReauth
	case actors.StatusIneligible:
		return &sc.Ineligible
	case actors.StatusBanned:
		return &sc.Banned
	case actors.StatusDisabled:
		return &sc.Disabled
	}
	return nil
}

// Get returns the count of status st.
func (sc *StatusCounts) Get(st actors.Status) int {
	if p := sc.slot(st); p != nil {
		return *p
	}
	return 0
}

// Statuses lists every credential status in display order.
func Statuses() [6]actors.Status {
	return [6]actors.Status{actors.StatusActive, actors.StatusCooling, actors.StatusNeedsReauth,
		actors.StatusIneligible, actors.StatusBanned, actors.StatusDisabled}
}

// ModelSummary is one model's availability in a pool.
type ModelSummary struct {
	Model       string `json:"model"`
	Ready       int    `json:"ready"`
	Cooling     int    `json:"cooling"`
	Unavailable int    `json:"unavailable"`
	// EarliestReset is when the first cooling credential is ready again.
	EarliestReset time.Time `json:"earliest_reset,omitzero"`
}

// SummarizePool counts a snapshot. For each model a credential is ready
// (serving status, token valid, no running cooldown for the model or "*"),
// cooling (serving status, a cooldown runs) or unavailable (the rest).
func SummarizePool(name string, snap *actors.Snapshot, models []string, now time.Time) ProviderSummary {
	sum := ProviderSummary{Provider: name, Credentials: len(snap.Credentials), Waiting: snap.Waiting,
		Models: make([]ModelSummary, len(models))}
	for i, m := range models {
		sum.Models[i].Model = m
	}
	for i := range snap.Credentials {
		v := &snap.Credentials[i]
		if p := sum.ByStatus.slot(v.Status); p != nil {
			*p++
		}
		serving := v.Status == actors.StatusActive || v.Status == actors.StatusCooling
		tokenValid := v.Expiry.After(now)
		var allUntil time.Time
		for _, cd := range v.Cooldowns {
			if cd.Model == actors.AllModels && cd.Until.After(now) {
				allUntil = cd.Until
			}
		}
		for j := range sum.Models {
			ms := &sum.Models[j]
			until := allUntil
			for _, cd := range v.Cooldowns {
				if cd.Model == ms.Model && cd.Until.After(now) && cd.Until.After(until) {
					until = cd.Until
				}
			}
			switch {
			case serving && !until.IsZero():
				ms.Cooling++
				if ms.EarliestReset.IsZero() || until.Before(ms.EarliestReset) {
					ms.EarliestReset = until
				}
			case serving && tokenValid:
				ms.Ready++
			default:
				ms.Unavailable++
			}
		}
	}
	return sum
}

func (a *API) pool(c echo.Context) error {
	now := time.Now()
	out := PoolSummary{Providers: []ProviderSummary{}}
	err := a.eachPoolSnapshot(c.Request().Context(), func(p Pool, snap *actors.Snapshot) {
		sum := SummarizePool(p.Name, snap, p.Models, now)
		sum.Aliases, sum.Fallbacks = nameSummaries(p.Names)
		out.Providers = append(out.Providers, sum)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

// eachPoolSnapshot calls fn with the snapshot of every pool that has an
// admin view, in poolList order; the error is the answer to give when a
// pool cannot be read.
func (a *API) eachPoolSnapshot(ctx context.Context, fn func(p Pool, snap *actors.Snapshot)) error {
	for _, p := range a.d.Pools() {
		if p.Admin == nil {
			continue
		}
		snap, err := p.Admin.Snapshot(ctx)
		if err != nil {
			return poolError(ctx, err)
		}
		fn(p, snap)
	}
	return nil
}

// logLevel is the body and answer of the loglevel routes.
type logLevel struct {
	Level string `json:"level"`
}

func (a *API) getLevel(c echo.Context) error {
	if a.d.LogLevel == (zap.AtomicLevel{}) {
		return errLevelFixed()
	}
	return writeJSON(c, http.StatusOK, logLevel{Level: a.d.LogLevel.Level().String()})
}

func (a *API) setLevel(c echo.Context) error {
	if a.d.LogLevel == (zap.AtomicLevel{}) {
		return errLevelFixed()
	}
	body, err := a.d.ReadBody(c)
	if err != nil {
		return err
	}
	var req logLevel
	if err := json.Unmarshal(body, &req); err != nil {
		return failure(http.StatusBadRequest, `the body must be {"level":"debug|info|warn|error"}`)
	}
	var lvl zapcore.Level
	switch req.Level {
	case "debug":
		lvl = zapcore.DebugLevel
	case "info":
		lvl = zapcore.InfoLevel
	case "warn":
		lvl = zapcore.WarnLevel
	case "error":
		lvl = zapcore.ErrorLevel
	default:
		return failure(http.StatusBadRequest, "level must be debug, info, warn or error")
	}
	old := a.d.LogLevel.Level()
	a.d.LogLevel.SetLevel(lvl)
	// Warn, so the change is on record at every level but error.
	a.log.Warn("admin: log level changed", zap.String(keyRequestID, a.d.RequestID(c)),
		zap.String("from", old.String()), zap.String("to", lvl.String()))
	return writeJSON(c, http.StatusOK, logLevel{Level: lvl.String()})
}

func errLevelFixed() error {
	return failure(http.StatusServiceUnavailable, "the log level cannot be changed: the server was started without an adjustable level")
}
