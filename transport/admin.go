package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// Admin API, for operators and the status page. Every route is in the
// operator group (see routes): it needs the admin key ([basic] admin_key)
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
//	GET    /admin/v1/loglevel                    → {"level":"info"}
//	POST   /admin/v1/loglevel {"level":"debug"}  → {"level":"debug"}; debug, info, warn or error
//
// GET /metrics (see metrics.go) takes the Pollux key or the admin key, or
// none when [basic] metrics_public is set.

const adminRoot = "/admin/v1"

// maxDisableReason bounds an operator's disable reason.
const maxDisableReason = 256

// adminPool is what the admin API needs of a pool beyond Pool;
// *actors.Pool implements it. A pool without it is left out of the admin
// views.
type adminPool interface {
	Snapshot(ctx context.Context) (*actors.Snapshot, error)
	SetDisabled(ctx context.Context, id int64, disabled bool, reason string) error
	Remove(ctx context.Context, id int64) error
	Refresh(ctx context.Context, id int64) error
}

var _ adminPool = (*actors.Pool)(nil)

// poolRef is one configured pool with its name and model list.
type poolRef struct {
	name   string
	pool   Pool
	admin  adminPool
	models []string
}

// poolList returns the configured pools, geminicli first. It reads the
// pools per call, like the ingestion routes.
func (s *Server) poolList() []poolRef {
	out := make([]poolRef, 0, 2)
	for _, p := range [...]struct {
		name string
		pool Pool
	}{{providers.GeminiCLI, s.geminiPool}, {providers.Codex, s.codexPool}} {
		if p.pool == nil {
			continue
		}
		ap, _ := p.pool.(adminPool)
		out = append(out, poolRef{name: p.name, pool: p.pool, admin: ap, models: s.modelLists[p.name]})
	}
	return out
}

// adminAPI serves /admin/v1.
type adminAPI struct{ s *Server }

// adminRoutes returns the admin API (full paths). routes mounts it in the
// operator group: with an admin key set, only that key. GET / and /status
// belong to the status page.
func (s *Server) adminRoutes() []route {
	a := &adminAPI{s: s}
	return []route{
		{http.MethodGet, adminRoot + "/credentials", a.credentials},
		{http.MethodPost, adminRoot + "/credentials/:id", a.action},
		{http.MethodDelete, adminRoot + "/credentials/:id", a.remove},
		{http.MethodGet, adminRoot + "/jobs/:id", a.job},
		{http.MethodGet, adminRoot + "/pool", a.pool},
		{http.MethodGet, adminRoot + "/loglevel", a.getLevel},
		{http.MethodPost, adminRoot + "/loglevel", a.setLevel},
	}
}

// metricsRoutes returns GET /metrics, mounted in the monitor group (open
// with metrics_public).
func (s *Server) metricsRoutes() []route {
	return []route{{http.MethodGet, "/metrics", s.serveMetrics}}
}

// serveMetrics answers GET /metrics in the Prometheus text format.
func (s *Server) serveMetrics(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// credentialList is the answer of GET credentials.
type credentialList struct {
	Credentials []actors.CredentialView `json:"credentials"`
}

func (a *adminAPI) credentials(c echo.Context) error {
	provider, status := c.QueryParam("provider"), actors.Status(c.QueryParam("status"))
	switch provider {
	case "", providers.GeminiCLI, providers.Codex:
	default:
		return &Error{Kind: KindInvalidArgument, Message: "provider must be geminicli or codex"}
	}
	if status != "" && !status.Valid() {
		return &Error{Kind: KindInvalidArgument, Message: "status must be one of active, cooling, needs_reauth, ineligible, banned, disabled"}
	}
	ctx := c.Request().Context()
	now := time.Now()
	out := credentialList{Credentials: []actors.CredentialView{}}
	for _, p := range a.s.poolList() {
		if p.admin == nil || (provider != "" && p.name != provider) {
			continue
		}
		snap, err := p.admin.Snapshot(ctx)
		if err != nil {
			return ingestPoolError(ctx, err)
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
	return ingestWriteJSON(c, http.StatusOK, out)
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
func (a *adminAPI) action(c echo.Context) error {
	raw := c.Param("id")
	if u, err := url.PathUnescape(raw); err == nil {
		raw = u
	}
	idText, verb, _ := strings.Cut(raw, ":")
	switch verb {
	case "disable", "enable", "refresh":
	default:
		return &Error{Kind: KindNotFound, Message: "unknown action: use credentials/{id}:disable, :enable or :refresh"}
	}
	id, err := parseCredentialID(idText)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	switch verb {
	case "disable":
		reason, err := disableReason(c)
		if err != nil {
			return err
		}
		p, err := a.apply(ctx, id, func(ap adminPool) error { return ap.SetDisabled(ctx, id, true, reason) })
		if err != nil {
			return err
		}
		a.logAction(c, "admin: credential disabled", p.name, id)
		return ingestWriteJSON(c, http.StatusOK, credentialStatus{ID: id, Status: actors.StatusDisabled})
	case "enable":
		p, err := a.apply(ctx, id, func(ap adminPool) error { return ap.SetDisabled(ctx, id, false, "") })
		if err != nil {
			return err
		}
		a.logAction(c, "admin: credential enabled", p.name, id)
		st := actors.StatusActive
		if v, ok := a.view(ctx, p, id); ok {
			st = v.Status
		}
		return ingestWriteJSON(c, http.StatusOK, credentialStatus{ID: id, Status: st})
	}
	p, err := a.apply(ctx, id, func(ap adminPool) error { return ap.Refresh(ctx, id) })
	if err != nil {
		return err
	}
	a.logAction(c, "admin: credential refresh asked", p.name, id)
	// Only a serving credential refreshes; a disabled or dead one says so.
	refreshing := true
	if v, ok := a.view(ctx, p, id); ok {
		refreshing = v.Refreshing || v.Status == actors.StatusActive || v.Status == actors.StatusCooling
	}
	return ingestWriteJSON(c, http.StatusAccepted, credentialRefresh{ID: id, Refreshing: refreshing})
}

// remove serves DELETE credentials/{id}.
func (a *adminAPI) remove(c echo.Context) error {
	id, err := parseCredentialID(c.Param("id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := a.apply(ctx, id, func(ap adminPool) error { return ap.Remove(ctx, id) })
	if err != nil {
		return err
	}
	a.logAction(c, "admin: credential deleted", p.name, id)
	return c.NoContent(http.StatusNoContent)
}

// apply runs op on the pool that holds credential id.
func (a *adminAPI) apply(ctx context.Context, id int64, op func(adminPool) error) (poolRef, error) {
	for _, p := range a.s.poolList() {
		if p.admin == nil {
			continue
		}
		err := op(p.admin)
		switch {
		case errors.Is(err, actors.ErrCredentialNotFound):
			continue
		case err != nil:
			return p, ingestPoolError(ctx, err)
		}
		return p, nil
	}
	return poolRef{}, &Error{Kind: KindNotFound, Message: fmt.Sprintf("no credential with id %d", id)}
}

// view returns a credential's current view.
func (a *adminAPI) view(ctx context.Context, p poolRef, id int64) (actors.CredentialView, bool) {
	snap, err := p.admin.Snapshot(ctx)
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

func (a *adminAPI) logAction(c echo.Context, msg, provider string, id int64) {
	a.s.log.Info(msg, zap.String(keyRequestID, requestID(c)), zap.String("provider", provider), zap.Int64(keyCredentialID, id))
}

// parseCredentialID reads a credential id from the path.
func parseCredentialID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, &Error{Kind: KindInvalidArgument, Message: "the credential id must be a positive integer"}
	}
	return id, nil
}

// disableReason reads the optional {"reason":"..."} body of :disable.
func disableReason(c echo.Context) (string, error) {
	body, err := readBody(c)
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
		return "", &Error{Kind: KindInvalidArgument, Message: `the body must be empty or {"reason":"..."}`}
	}
	reason := strings.TrimSpace(v.Reason)
	if len(reason) > maxDisableReason {
		return "", &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("reason is longer than %d bytes", maxDisableReason)}
	}
	return reason, nil
}

// job serves GET jobs/{job}, searching every pool.
func (a *adminAPI) job(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	for _, p := range a.s.poolList() {
		st, err := p.pool.Job(ctx, id, false)
		if err != nil {
			return ingestPoolError(ctx, err)
		}
		if st.Found {
			return ingestWriteJSON(c, http.StatusOK, (&ingestAPI{s: a.s, provider: p.name}).view(st))
		}
	}
	return &Error{Kind: KindNotFound, Message: "no such ingestion job (finished jobs are kept for a while, not forever)"}
}

// poolSummary is the answer of GET pool.
type poolSummary struct {
	Providers []providerSummary `json:"providers"`
}

type providerSummary struct {
	Provider    string         `json:"provider"`
	Credentials int            `json:"credentials"`
	Waiting     int            `json:"waiting"`
	ByStatus    statusCounts   `json:"by_status"`
	Models      []modelSummary `json:"models"`
}

// statusCounts counts credentials per status.
type statusCounts struct {
	Active      int `json:"active"`
	Cooling     int `json:"cooling"`
	NeedsReauth int `json:"needs_reauth"`
	Ineligible  int `json:"ineligible"`
	Banned      int `json:"banned"`
	Disabled    int `json:"disabled"`
}

func (sc *statusCounts) slot(st actors.Status) *int {
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

func (sc *statusCounts) get(st actors.Status) int {
	if p := sc.slot(st); p != nil {
		return *p
	}
	return 0
}

// poolStatuses lists every credential status in display order.
func poolStatuses() [6]actors.Status {
	return [6]actors.Status{actors.StatusActive, actors.StatusCooling, actors.StatusNeedsReauth,
		actors.StatusIneligible, actors.StatusBanned, actors.StatusDisabled}
}

// modelSummary is one model's availability in a pool.
type modelSummary struct {
	Model       string `json:"model"`
	Ready       int    `json:"ready"`
	Cooling     int    `json:"cooling"`
	Unavailable int    `json:"unavailable"`
	// EarliestReset is when the first cooling credential is ready again.
	EarliestReset time.Time `json:"earliest_reset,omitzero"`
}

// summarizePool counts a snapshot. For each model a credential is ready
// (serving status, token valid, no running cooldown for the model or "*"),
// cooling (serving status, a cooldown runs) or unavailable (the rest).
func summarizePool(name string, snap *actors.Snapshot, models []string, now time.Time) providerSummary {
	sum := providerSummary{Provider: name, Credentials: len(snap.Credentials), Waiting: snap.Waiting,
		Models: make([]modelSummary, len(models))}
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

func (a *adminAPI) pool(c echo.Context) error {
	now := time.Now()
	out := poolSummary{Providers: []providerSummary{}}
	err := a.s.eachPoolSnapshot(c.Request().Context(), func(p poolRef, snap *actors.Snapshot) {
		out.Providers = append(out.Providers, summarizePool(p.name, snap, p.models, now))
	})
	if err != nil {
		return err
	}
	return ingestWriteJSON(c, http.StatusOK, out)
}

// eachPoolSnapshot calls fn with the snapshot of every pool that has an
// admin view, in poolList order; the error is the answer to give when a
// pool cannot be read.
func (s *Server) eachPoolSnapshot(ctx context.Context, fn func(p poolRef, snap *actors.Snapshot)) error {
	for _, p := range s.poolList() {
		if p.admin == nil {
			continue
		}
		snap, err := p.admin.Snapshot(ctx)
		if err != nil {
			return ingestPoolError(ctx, err)
		}
		fn(p, snap)
	}
	return nil
}

// logLevel is the body and answer of the loglevel routes.
type logLevel struct {
	Level string `json:"level"`
}

func (a *adminAPI) getLevel(c echo.Context) error {
	if !a.s.levelSet {
		return errLevelFixed()
	}
	return ingestWriteJSON(c, http.StatusOK, logLevel{Level: a.s.logLevel.Level().String()})
}

func (a *adminAPI) setLevel(c echo.Context) error {
	if !a.s.levelSet {
		return errLevelFixed()
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var req logLevel
	if err := json.Unmarshal(body, &req); err != nil {
		return &Error{Kind: KindInvalidArgument, Message: `the body must be {"level":"debug|info|warn|error"}`}
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
		return &Error{Kind: KindInvalidArgument, Message: "level must be debug, info, warn or error"}
	}
	old := a.s.logLevel.Level()
	a.s.logLevel.SetLevel(lvl)
	// Warn, so the change is on record at every level but error.
	a.s.log.Warn("admin: log level changed", zap.String(keyRequestID, requestID(c)),
		zap.String("from", old.String()), zap.String("to", lvl.String()))
	return ingestWriteJSON(c, http.StatusOK, logLevel{Level: lvl.String()})
}

func errLevelFixed() error {
	return &Error{Kind: KindUnavailable, Message: "the log level cannot be changed: the server was started without an adjustable level"}
}
