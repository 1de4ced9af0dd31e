package operations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
)

// fakePool is an Ingester and AdminPool over a fixed credential list: no
// actors, no database.
type fakePool struct {
	mu       sync.Mutex
	creds    []actors.CredentialView
	jobs     map[string]*actors.JobStatus
	seeds    []providers.Credential
	err      error // returned by every call when set
	disabled map[int64]string
	removed  []int64
	refresh  []int64
}

func (p *fakePool) Ingest(_ context.Context, seeds []providers.Credential) (*actors.IngestStarted, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	p.seeds = append(p.seeds, seeds...)
	st := &actors.JobStatus{ID: "job-1", Found: true, Total: len(seeds), Done: len(seeds), Finished: true}
	for i := range seeds {
		st.Verdicts = append(st.Verdicts, actors.Verdict{Index: i, Result: actors.VerdictAdded, Account: "acct"})
	}
	if p.jobs == nil {
		p.jobs = map[string]*actors.JobStatus{}
	}
	p.jobs[st.ID] = st
	return &actors.IngestStarted{JobID: st.ID, Accepted: len(seeds)}, nil
}

func (p *fakePool) Job(_ context.Context, id string, _ bool) (*actors.JobStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	if st, ok := p.jobs[id]; ok {
		return st, nil
	}
	return &actors.JobStatus{}, nil
}

func (p *fakePool) Snapshot(context.Context) (*actors.Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	return &actors.Snapshot{Credentials: slices.Clone(p.creds)}, nil
}

// find returns the index of credential id, or an error as *actors.Pool's.
func (p *fakePool) find(id int64) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	for i, c := range p.creds {
		if c.ID == id {
			return i, nil
		}
	}
	return 0, actors.ErrCredentialNotFound
}

func (p *fakePool) SetDisabled(_ context.Context, id int64, disabled bool, reason string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := p.find(id)
	if err != nil {
		return err
	}
	if p.disabled == nil {
		p.disabled = map[int64]string{}
	}
	if disabled {
		p.creds[i].Status, p.disabled[id] = actors.StatusDisabled, reason
	} else {
		p.creds[i].Status = actors.StatusActive
		delete(p.disabled, id)
	}
	return nil
}

func (p *fakePool) Remove(_ context.Context, id int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := p.find(id)
	if err != nil {
		return err
	}
	p.creds = slices.Delete(p.creds, i, i+1)
	p.removed = append(p.removed, id)
	return nil
}

func (p *fakePool) Refresh(_ context.Context, id int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.find(id); err != nil {
		return err
	}
	p.refresh = append(p.refresh, id)
	return nil
}

// opsEnv is the operations API on a bare Echo, with fake pools.
type opsEnv struct {
	t      *testing.T
	e      *echo.Echo
	gemini *fakePool
	codex  *fakePool
	// routes maps "METHOD path" to the mount call that added it.
	routes map[string]string
}

func newOpsEnv(t *testing.T, mutate func(*Deps)) *opsEnv {
	t.Helper()
	now := time.Now()
	env := &opsEnv{t: t, e: echo.New(), routes: map[string]string{},
		gemini: &fakePool{creds: []actors.CredentialView{
			{ID: 3, Provider: providers.GeminiCLI, Status: actors.StatusActive, Expiry: now.Add(time.Hour),
				Cooldowns: []actors.Cooldown{{Model: "m2", Until: now.Add(time.Minute)}, {Model: "m1", Until: now.Add(-time.Minute)}}},
			{ID: 1, Provider: providers.GeminiCLI, Status: actors.StatusBanned},
		}},
		codex: &fakePool{creds: []actors.CredentialView{
			{ID: 2, Provider: providers.Codex, Status: actors.StatusActive, Expiry: now.Add(time.Hour)},
		}},
	}
	d := Deps{
		Pools: func() []Pool {
			return []Pool{
				{Name: providers.GeminiCLI, Ingest: env.gemini, Admin: env.gemini, Models: []string{"m1", "m2"}},
				{Name: providers.Codex, Ingest: env.codex, Admin: env.codex, Models: []string{"c1"}},
			}
		},
	}
	if mutate != nil {
		mutate(&d)
	}
	env.e.HTTPErrorHandler = func(err error, c echo.Context) {
		var he *echo.HTTPError
		switch {
		case errors.As(err, &he):
			_ = c.JSON(he.Code, map[string]any{"message": he.Message})
		case errors.Is(err, context.Canceled):
			_ = c.JSON(499, map[string]any{"message": "canceled"})
		default:
			_ = c.JSON(http.StatusInternalServerError, map[string]any{"message": "bare 500"})
		}
	}
	api := New(d)
	mount := func(group string) Add {
		return func(method, path string, h echo.HandlerFunc) {
			env.e.Add(method, path, h)
			env.routes[method+" "+path] = group
		}
	}
	api.MountOperator(mount("operator"))
	api.MountClient(mount("client"))
	api.MountOpen(mount("open"))
	return env
}

func (env *opsEnv) do(method, path, body string) (int, string) {
	env.t.Helper()
	rec := serve(env, newRequest(method, path, body))
	return rec.Code, rec.Body.String()
}

func newRequest(method, path, body string) *http.Request {
	return httptest.NewRequest(method, path, strings.NewReader(body))
}

// serve answers req with the env's routes.
func serve(env *opsEnv, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

// rootLikeErrors renders errors in the order the root's problemOf reads
// them: a deadline anywhere in the chain before an *echo.HTTPError.
func rootLikeErrors(err error, c echo.Context) {
	var he *echo.HTTPError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		_ = c.JSON(http.StatusGatewayTimeout, map[string]any{"message": "timeout"})
	case errors.As(err, &he):
		_ = c.JSON(he.Code, map[string]any{"message": he.Message})
	default:
		_ = c.JSON(http.StatusInternalServerError, map[string]any{"message": "bare 500"})
	}
}

// TestMountGroups checks each route goes to the group its mount call names.
func TestMountGroups(t *testing.T) {
	env := newOpsEnv(t, nil)
	want := map[string]string{
		"GET /admin/v1/credentials":          "operator",
		"POST /admin/v1/credentials/:id":     "operator",
		"GET /admin/v1/pool/usage":           "operator",
		"POST /admin/v1/loglevel":            "operator",
		"POST /admin/v1/keys":                "operator",
		"GET /admin/v1/usage":                "operator",
		`POST /geminicli/resource\:add`:      "operator",
		`GET /codex/resource\:jobs/:job`:     "operator",
		"GET /v1/me":                         "client",
		"GET /codex/v1/me":                   "client",
		"GET /geminicli/v1beta/me":           "client",
		"GET /geminicli/v1/me":               "client",
		"GET /":                              "open",
		"GET /status":                        "open",
		"DELETE /admin/v1/keys/:id":          "operator",
		"PATCH /admin/v1/keys/:id":           "operator",
		"GET /admin/v1/jobs/:id":             "operator",
		"DELETE /admin/v1/credentials/:id":   "operator",
		"GET /admin/v1/pool":                 "operator",
		"GET /admin/v1/loglevel":             "operator",
		"GET /admin/v1/keys":                 "operator",
		"GET /admin/v1/keys/:id":             "operator",
		"POST /admin/v1/keys/:id":            "operator",
		`POST /codex/resource\:add`:          "operator",
		`GET /geminicli/resource\:jobs/:job`: "operator",
	}
	for route, group := range want {
		if got := env.routes[route]; got != group {
			t.Errorf("%s mounted in %q, want %q", route, got, group)
		}
	}
	if len(env.routes) != len(want) {
		t.Errorf("%d routes mounted, want %d: %v", len(env.routes), len(want), env.routes)
	}
}

func TestCredentialsListAndFilters(t *testing.T) {
	env := newOpsEnv(t, nil)
	for _, tc := range []struct {
		query   string
		status  int
		wantIDs []int64
	}{
		{"", http.StatusOK, []int64{1, 2, 3}},
		{"?provider=codex", http.StatusOK, []int64{2}},
		{"?status=banned", http.StatusOK, []int64{1}},
		{"?provider=geminicli&status=active", http.StatusOK, []int64{3}},
		{"?provider=openai", http.StatusBadRequest, nil},
		{"?status=sleeping", http.StatusBadRequest, nil},
	} {
		code, body := env.do(http.MethodGet, "/admin/v1/credentials"+tc.query, "")
		if code != tc.status {
			t.Errorf("%q: status %d, want %d; %s", tc.query, code, tc.status, body)
			continue
		}
		if code != http.StatusOK {
			continue
		}
		var list CredentialList
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, v := range list.Credentials {
			ids = append(ids, v.ID)
			if v.ID == 3 && (len(v.Cooldowns) != 1 || v.Cooldowns[0].Model != "m2") {
				t.Errorf("credential 3's cooldowns = %+v, want only the running one", v.Cooldowns)
			}
		}
		if !slices.Equal(ids, tc.wantIDs) {
			t.Errorf("%q: ids %v, want %v", tc.query, ids, tc.wantIDs)
		}
	}
}

func TestCredentialActions(t *testing.T) {
	env := newOpsEnv(t, nil)
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{http.MethodPost, "/admin/v1/credentials/2:disable", `{"reason":"  rotating  "}`, http.StatusOK, `"status":"disabled"`},
		{http.MethodPost, "/admin/v1/credentials/2:enable", "", http.StatusOK, `"status":"active"`},
		{http.MethodPost, "/admin/v1/credentials/3:refresh", "", http.StatusAccepted, `"refreshing":true`},
		{http.MethodPost, "/admin/v1/credentials/1:refresh", "", http.StatusAccepted, `"refreshing":false`},
		{http.MethodPost, "/admin/v1/credentials/9:disable", "", http.StatusNotFound, "no credential with id 9"},
		{http.MethodPost, "/admin/v1/credentials/2:explode", "", http.StatusNotFound, "unknown action"},
		{http.MethodPost, "/admin/v1/credentials/x:disable", "", http.StatusBadRequest, "positive integer"},
		{http.MethodPost, "/admin/v1/credentials/2:disable", `{"reason":5}`, http.StatusBadRequest, "reason"},
		{http.MethodPost, "/admin/v1/credentials/2:disable", `{"reason":"` + strings.Repeat("r", maxDisableReason+1) + `"}`, http.StatusBadRequest, "longer than"},
		{http.MethodDelete, "/admin/v1/credentials/3", "", http.StatusNoContent, ""},
		{http.MethodDelete, "/admin/v1/credentials/3", "", http.StatusNotFound, "no credential with id 3"},
	} {
		code, body := env.do(tc.method, tc.path, tc.body)
		if code != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, code, body, tc.status, tc.want)
		}
	}
	if len(env.codex.disabled) != 0 {
		t.Errorf("codex disabled = %v, want credential 2 enabled again", env.codex.disabled)
	}
	if !slices.Equal(env.gemini.removed, []int64{3}) || !slices.Equal(env.gemini.refresh, []int64{3, 1}) {
		t.Errorf("removed %v, refreshed %v", env.gemini.removed, env.gemini.refresh)
	}
}

func TestDisableReasonReachesPool(t *testing.T) {
	env := newOpsEnv(t, nil)
	if code, body := env.do(http.MethodPost, "/admin/v1/credentials/2:disable", `{"reason":"  rotating  "}`); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	if got := env.codex.disabled[2]; got != "rotating" {
		t.Errorf("reason = %q, want the trimmed %q", got, "rotating")
	}
}

func TestPoolErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"stopping", actors.ErrStopped, http.StatusServiceUnavailable},
		{"other", errors.New("mailbox full"), http.StatusInternalServerError},
		// An actor's own timeout is the pool's failure, not the client's
		// deadline.
		{"ask timeout", fmt.Errorf("actors: ask: %w", context.DeadlineExceeded), http.StatusInternalServerError},
	} {
		env := newOpsEnv(t, nil)
		env.e.HTTPErrorHandler = rootLikeErrors
		env.gemini.err = tc.err
		for _, path := range []string{"/admin/v1/credentials", "/admin/v1/pool", "/admin/v1/pool/usage", "/admin/v1/jobs/x"} {
			code, body := env.do(http.MethodGet, path, "")
			if code != tc.status || strings.Contains(body, "mailbox") {
				t.Errorf("%s %s: %d %s, want %d without the cause", tc.name, path, code, body, tc.status)
			}
		}
		code, _ := env.do(http.MethodPost, `/geminicli/resource:add`, `["1//0gTok"]`)
		if code != tc.status {
			t.Errorf("%s resource:add: %d, want %d", tc.name, code, tc.status)
		}
	}
}

// TestIngestAndJobViews checks resource:add hands the pool the parsed
// seeds, and that the surface's job route and the admin job route show the
// same view (one function makes both).
func TestIngestAndJobViews(t *testing.T) {
	env := newOpsEnv(t, nil)
	code, body := env.do(http.MethodPost, `/codex/resource:add?wait=true`, `[{"tokens":{"refresh_token":"rt_A","account_id":"acct-1"}}]`)
	if code != http.StatusOK {
		t.Fatalf("resource:add: %d %s", code, body)
	}
	if len(env.codex.seeds) != 1 || env.codex.seeds[0].RefreshToken.Reveal() != "rt_A" || env.codex.seeds[0].Account != "acct-1" {
		t.Fatalf("seeds = %+v", env.codex.seeds)
	}
	if strings.Contains(body, "rt_A") {
		t.Errorf("the answer echoes the refresh token: %s", body)
	}
	var fromAdd Job
	if err := json.Unmarshal([]byte(body), &fromAdd); err != nil {
		t.Fatal(err)
	}
	if v := fromAdd.Verdicts; len(v) != 1 || v[0].Account != "acct-1" && v[0].Account != "acct" || v[0].Warning != codexRotationWarning || v[0].Project != "" {
		t.Errorf("codex verdicts = %+v, want the account and the rotation warning", v)
	}
	_, surface := env.do(http.MethodGet, `/codex/resource:jobs/job-1`, "")
	_, admin := env.do(http.MethodGet, "/admin/v1/jobs/job-1", "")
	if surface != admin || surface != body {
		t.Errorf("job views differ:\nsurface %s\nadmin   %s\nadd     %s", surface, admin, body)
	}
	if code, body := env.do(http.MethodGet, "/admin/v1/jobs/nope", ""); code != http.StatusNotFound {
		t.Errorf("unknown job: %d %s", code, body)
	}
	code, body = env.do(http.MethodPost, `/codex/resource:add`, `["rt_B"]`)
	if code != http.StatusAccepted || !strings.Contains(body, `"accepted":1`) {
		t.Errorf("without wait: %d %s", code, body)
	}
	if code, body := env.do(http.MethodPost, `/codex/resource:add?wait=maybe`, `["rt_C"]`); code != http.StatusBadRequest {
		t.Errorf("bad wait: %d %s", code, body)
	}
}

func TestIngestWithoutPool(t *testing.T) {
	env := newOpsEnv(t, func(d *Deps) {
		all := d.Pools
		d.Pools = func() []Pool { return all()[:1] } // no codex pool
	})
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, `/codex/resource:add`},
		{http.MethodGet, `/codex/resource:jobs/j`},
	} {
		if code, body := env.do(tc.method, tc.path, `["rt_x"]`); code != http.StatusServiceUnavailable {
			t.Errorf("%s %s: %d %s, want 503", tc.method, tc.path, code, body)
		}
	}
	// "[]" needs no pool: there is nothing to do.
	if code, body := env.do(http.MethodPost, `/codex/resource:add`, `[]`); code != http.StatusAccepted {
		t.Errorf("empty batch: %d %s", code, body)
	}
}

func TestPoolSummaryRoute(t *testing.T) {
	env := newOpsEnv(t, nil)
	code, body := env.do(http.MethodGet, "/admin/v1/pool", "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var sum PoolSummary
	if err := json.Unmarshal([]byte(body), &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Providers) != 2 || sum.Providers[0].Provider != providers.GeminiCLI {
		t.Fatalf("providers = %+v", sum.Providers)
	}
	g := sum.Providers[0]
	if g.ByStatus.Active != 1 || g.ByStatus.Banned != 1 || len(g.Models) != 2 ||
		g.Models[0] != (ModelSummary{Model: "m1", Ready: 1, Unavailable: 1}) || g.Models[1].Cooling != 1 {
		t.Errorf("geminicli summary = %+v", g)
	}
}

func TestLogLevel(t *testing.T) {
	fixed := newOpsEnv(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		if code, _ := fixed.do(method, "/admin/v1/loglevel", `{"level":"debug"}`); code != http.StatusServiceUnavailable {
			t.Errorf("%s without an adjustable level: %d, want 503", method, code)
		}
	}
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	env := newOpsEnv(t, func(d *Deps) { d.LogLevel = level })
	if code, body := env.do(http.MethodPost, "/admin/v1/loglevel", `{"level":"debug"}`); code != http.StatusOK || level.Level() != zapcore.DebugLevel {
		t.Errorf("set debug: %d %s, level %s", code, body, level.Level())
	}
	if code, _ := env.do(http.MethodPost, "/admin/v1/loglevel", `{"level":"loud"}`); code != http.StatusBadRequest || level.Level() != zapcore.DebugLevel {
		t.Errorf("bad level: %d, level %s", code, level.Level())
	}
	if _, body := env.do(http.MethodGet, "/admin/v1/loglevel", ""); body != `{"level":"debug"}` {
		t.Errorf("get: %s", body)
	}
}

// TestKeyRoutesWithoutKeys checks a process without member keys says so
// instead of failing on a nil store.
func TestKeyRoutesWithoutKeys(t *testing.T) {
	env := newOpsEnv(t, nil)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "/admin/v1/keys", `{"name":"a"}`},
		{http.MethodGet, "/admin/v1/keys", ""},
		{http.MethodGet, "/admin/v1/keys/1", ""},
		{http.MethodPatch, "/admin/v1/keys/1", `{}`},
		{http.MethodDelete, "/admin/v1/keys/1", ""},
		{http.MethodPost, "/admin/v1/keys/1:rotate", ""},
		{http.MethodGet, "/admin/v1/usage", ""},
		{http.MethodGet, "/v1/me", ""},
	} {
		if code, body := env.do(tc.method, tc.path, tc.body); code != http.StatusServiceUnavailable {
			t.Errorf("%s %s: %d %s, want 503", tc.method, tc.path, code, body)
		}
	}
}
