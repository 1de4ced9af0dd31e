package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
)

func (e *gatewayEnv) assertNoSecretsLogged() {
	e.t.Helper()
	for _, entry := range e.logs.All() {
		line := fmt.Sprint(entry.Message, " ", entry.ContextMap())
		for _, needle := range []string{harnessKey, adminTestKey, "ya29.", "eyJ", "Bearer "} {
			if strings.Contains(line, needle) {
				e.t.Errorf("log line leaks a secret (%q): %s", needle, line)
			}
		}
	}
}

func viewIDs(views []actors.CredentialView) []int64 {
	out := []int64{}
	for _, v := range views {
		out = append(out, v.ID)
	}
	return out
}

// geminiGenerate is a generateContent path of the Gemini surface.
func geminiGenerate(model string) string {
	return "/geminicli/v1beta/models/" + model + ":generateContent"
}

const adminGeminiBody = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

// TestAdminAuth checks who may call the admin API, /metrics and the
// operator routes, with and without an admin key.
func TestAdminAuth(t *testing.T) {
	parent := t
	withAdmin := newAdminEnv(t, adminEnvOptions{adminKey: adminTestKey})
	withoutAdmin := newAdminEnv(t, adminEnvOptions{})
	public := newAdminEnv(t, adminEnvOptions{adminKey: adminTestKey, metricsPublic: true})
	for _, e := range []*adminEnv{withAdmin, withoutAdmin, public} {
		e.addGemini("auth-a")
	}
	ingest := `["1//0gRT-auth-new"]`
	cases := []struct {
		name         string
		env          *adminEnv
		method, path string
		body         string
		key          string
		want         int
	}{
		{"no admin key: pollux key lists", withoutAdmin, http.MethodGet, "/admin/v1/credentials", "", harnessKey, 200},
		{"no admin key: no key", withoutAdmin, http.MethodGet, "/admin/v1/credentials", "", "", 401},
		{"no admin key: wrong key", withoutAdmin, http.MethodGet, "/admin/v1/pool", "", "nope", 401},
		{"no admin key: loglevel", withoutAdmin, http.MethodGet, "/admin/v1/loglevel", "", harnessKey, 200},
		{"admin key: admin key lists", withAdmin, http.MethodGet, "/admin/v1/credentials", "", adminTestKey, 200},
		{"admin key: pollux key refused", withAdmin, http.MethodGet, "/admin/v1/credentials", "", harnessKey, 401},
		{"admin key: pollux key cannot delete", withAdmin, http.MethodDelete, "/admin/v1/credentials/1", "", harnessKey, 401},
		{"admin key: pollux key cannot disable", withAdmin, http.MethodPost, "/admin/v1/credentials/1:disable", "", harnessKey, 401},
		{"admin key: pollux key cannot set loglevel", withAdmin, http.MethodPost, "/admin/v1/loglevel", `{"level":"debug"}`, harnessKey, 401},
		{"admin key: no key", withAdmin, http.MethodGet, "/admin/v1/pool", "", "", 401},
		{"admin key: pool", withAdmin, http.MethodGet, "/admin/v1/pool", "", adminTestKey, 200},
		{"admin key: job lookup", withAdmin, http.MethodGet, "/admin/v1/jobs/none", "", adminTestKey, 404},
		{"metrics: pollux key", withAdmin, http.MethodGet, "/metrics", "", harnessKey, 200},
		{"metrics: admin key", withAdmin, http.MethodGet, "/metrics", "", adminTestKey, 200},
		{"metrics: no key", withAdmin, http.MethodGet, "/metrics", "", "", 401},
		{"metrics: wrong key", withoutAdmin, http.MethodGet, "/metrics", "", "nope", 401},
		{"metrics public: no key", public, http.MethodGet, "/metrics", "", "", 200},
		{"resource:add takes the admin key", withAdmin, http.MethodPost, "/geminicli/resource:add", ingest, adminTestKey, 202},
		{"resource:add refuses the pollux key when an admin key is set", withAdmin, http.MethodPost, "/geminicli/resource:add", ingest, harnessKey, 401},
		{"resource:add takes the pollux key without an admin key", withoutAdmin, http.MethodPost, "/geminicli/resource:add", ingest, harnessKey, 202},
		{"codex resource:add takes the admin key", withAdmin, http.MethodPost, "/codex/resource:add", `["rt_auth"]`, adminTestKey, 202},
		{"oauth start takes the admin key (503: flows not enabled here)", withAdmin, http.MethodGet, "/geminicli/auth", "", adminTestKey, 503},
		{"oauth start refuses a wrong key", withAdmin, http.MethodGet, "/codex/auth", "", "nope", 401},
		{"generate refuses the admin key", withAdmin, http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, adminTestKey, 401},
		{"generate takes the pollux key", withAdmin, http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.env.t = t
			defer func() { tc.env.t = parent }()
			status, body := tc.env.do(tc.method, tc.path, tc.body, tc.key)
			if status != tc.want {
				t.Fatalf("status = %d, want %d; body %s", status, tc.want, body)
			}
			if status == http.StatusUnauthorized && strings.HasPrefix(tc.path, "/admin") {
				var e struct {
					Error struct {
						Status  int    `json:"status"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Status != 401 || e.Error.Message == "" {
					t.Errorf("401 body = %s, want the plain envelope", body)
				}
			}
		})
	}

	t.Run("key forms", func(t *testing.T) {
		for _, form := range []string{"bearer", "x-goog-api-key", "query"} {
			req, err := http.NewRequest(http.MethodGet, withAdmin.ts.URL+"/admin/v1/pool", nil)
			if err != nil {
				t.Fatal(err)
			}
			switch form {
			case "bearer":
				req.Header.Set("Authorization", "Bearer "+adminTestKey)
			case "x-goog-api-key":
				req.Header.Set("x-goog-api-key", adminTestKey)
			case "query":
				req.URL.RawQuery = "key=" + adminTestKey
			}
			resp, err := withAdmin.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
				t.Errorf("%s: status = %d, want 200; body %s", form, resp.StatusCode, body)
			}
		}
	})
}

// TestAdminCredentialsFilters checks GET credentials and its filters.
func TestAdminCredentialsFilters(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{})
	g := e.addGemini("f-g1", "f-g2")
	c := e.addCodex("f-c1")
	e.mustDo(http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d:disable", g[1]), "", harnessKey, http.StatusOK)

	sorted := func(ids ...int64) []int64 { return slices.Sorted(slices.Values(ids)) }
	cases := []struct {
		name    string
		query   string
		want    []int64
		wantErr int
	}{
		{"all", "", sorted(g[0], g[1], c[0]), 0},
		{"geminicli", "?provider=geminicli", sorted(g[0], g[1]), 0},
		{"codex", "?provider=codex", []int64{c[0]}, 0},
		{"disabled", "?status=disabled", []int64{g[1]}, 0},
		{"active", "?status=active", sorted(g[0], c[0]), 0},
		{"codex disabled", "?provider=codex&status=disabled", []int64{}, 0},
		{"unknown provider", "?provider=openai", nil, 400},
		{"unknown status", "?status=refreshing", nil, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.do(http.MethodGet, "/admin/v1/credentials"+tc.query, "", harnessKey)
			if tc.wantErr != 0 {
				if status != tc.wantErr || !strings.Contains(body, `"status":400`) {
					t.Fatalf("status = %d, want %d; body %s", status, tc.wantErr, body)
				}
				return
			}
			if status != http.StatusOK {
				t.Fatalf("status = %d; body %s", status, body)
			}
			if !strings.Contains(body, `"credentials":[`) {
				t.Errorf("body = %s, want a credentials array (never null)", body)
			}
			var out credentialList
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, viewIDs(out.Credentials)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		status, body := e.do(http.MethodGet, "/admin/v1/credentials", "", harnessKey)
		if status != http.StatusOK {
			t.Fatalf("status = %d", status)
		}
		for _, secret := range []string{"ya29.", "eyJ", "access_token", "refresh_token"} {
			if strings.Contains(body, secret) {
				t.Errorf("credentials answer contains %q: %s", secret, body)
			}
		}
		var raw struct {
			Credentials []map[string]any `json:"credentials"`
		}
		if err := json.Unmarshal([]byte(body), &raw); err != nil {
			t.Fatal(err)
		}
		byID := map[float64]map[string]any{}
		for _, v := range raw.Credentials {
			id, _ := v["id"].(float64)
			byID[id] = v
		}
		first := byID[float64(g[0])]
		want := map[string]any{"id": float64(g[0]), "provider": "geminicli", "email": "f-g1@example.com",
			"account": "proj-f-g1", "tier": "standard-tier", "status": "active", "refreshing": false,
			"in_flight": float64(0), "served": float64(0)}
		got := map[string]any{}
		for k := range want {
			got[k] = first[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("first credential (-want +got):\n%s", diff)
		}
		for _, k := range []string{"status_since", "token_expiry"} {
			if s, _ := first[k].(string); s == "" {
				t.Errorf("%s missing: %v", k, first)
			} else if _, err := time.Parse(time.RFC3339, s); err != nil {
				t.Errorf("%s = %q, not RFC 3339", k, s)
			}
		}
		disabled := byID[float64(g[1])]
		if disabled["status"] != "disabled" || disabled["status_reason"] != "disabled by an operator" {
			t.Errorf("disabled credential = %v", disabled)
		}
	})
}

// TestAdminActions checks :disable, :enable and :refresh change the
// credential, and the 400/404 answers.
func TestAdminActions(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{})
	parent := t
	id := e.addGemini("act-a")[0]
	path := func(suffix string) string { return fmt.Sprintf("/admin/v1/credentials/%d%s", id, suffix) }

	got := e.mustDo(http.MethodPost, path(":disable"), `{"reason":"holiday"}`, harnessKey, http.StatusOK)
	assertJSON(t, []byte(got), fmt.Sprintf(`{"id":%d,"status":"disabled"}`, id))
	if v := e.credential(id); v.Status != storage.StatusDisabled || v.StatusReason != "holiday" {
		t.Fatalf("after disable: status %q reason %q", v.Status, v.StatusReason)
	}
	// A disabled pool serves nobody.
	if status, body := e.do(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey); status != http.StatusServiceUnavailable {
		t.Fatalf("generate with the only credential disabled: status = %d; body %s", status, body)
	}

	got = e.mustDo(http.MethodPost, path(":enable"), "", harnessKey, http.StatusOK)
	assertJSON(t, []byte(got), fmt.Sprintf(`{"id":%d,"status":"active"}`, id))
	e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusOK)

	before := e.gfake.Refreshes("act-a")
	got = e.mustDo(http.MethodPost, path(":refresh"), "", harnessKey, http.StatusAccepted)
	assertJSON(t, []byte(got), fmt.Sprintf(`{"id":%d,"refreshing":true}`, id))
	untilPool(t, e.tap, providers.GeminiCLI, "the asked refresh", func() bool { return e.gfake.Refreshes("act-a") > before })

	errs := []struct {
		name         string
		method, path string
		body         string
		want         int
	}{
		{"disable unknown id", http.MethodPost, "/admin/v1/credentials/999:disable", "", 404},
		{"enable unknown id", http.MethodPost, "/admin/v1/credentials/999:enable", "", 404},
		{"refresh unknown id", http.MethodPost, "/admin/v1/credentials/999:refresh", "", 404},
		{"delete unknown id", http.MethodDelete, "/admin/v1/credentials/999", "", 404},
		{"unknown action", http.MethodPost, path(":frobnicate"), "", 404},
		{"no action", http.MethodPost, path(""), "", 404},
		{"id not a number", http.MethodPost, "/admin/v1/credentials/abc:disable", "", 400},
		{"delete id not a number", http.MethodDelete, "/admin/v1/credentials/abc", "", 400},
		{"negative id", http.MethodPost, "/admin/v1/credentials/-1:enable", "", 400},
		{"disable body not json", http.MethodPost, path(":disable"), "reason=x", 400},
		{"disable reason too long", http.MethodPost, path(":disable"), `{"reason":"` + strings.Repeat("x", 300) + `"}`, 400},
		{"escaped colon", http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d%%3Aenable", id), "", 200},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = parent }()
			status, body := e.do(tc.method, tc.path, tc.body, harnessKey)
			if status != tc.want {
				t.Fatalf("status = %d, want %d; body %s", status, tc.want, body)
			}
			if tc.want >= 400 && !strings.Contains(body, fmt.Sprintf(`"status":%d`, tc.want)) {
				t.Errorf("body = %s, want the plain error envelope", body)
			}
		})
	}
	e.t = t
	if v := e.credential(id); v.Status != storage.StatusActive {
		t.Errorf("failed actions changed the credential: status %q", v.Status)
	}
}

// TestAdminDisablePersists checks that :disable survives a restart: a new
// actor system over the same database file loads it disabled.
func TestAdminDisablePersists(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{})
	ids := e.addGemini("keep-a", "keep-b")
	e.mustDo(http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d:disable", ids[0]), `{"reason":"leaving"}`, harnessKey, http.StatusOK)
	e.restart()
	a, b := e.credential(ids[0]), e.credential(ids[1])
	if a.Status != storage.StatusDisabled || a.StatusReason != "leaving" {
		t.Errorf("after restart: %d is %q (%q), want disabled (leaving)", a.ID, a.Status, a.StatusReason)
	}
	if b.Status != storage.StatusActive {
		t.Errorf("after restart: %d is %q, want active", b.ID, b.Status)
	}
	// Only the enabled credential serves.
	for range 3 {
		e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-flash"), adminGeminiBody, harnessKey, http.StatusOK)
	}
	if got := e.credential(ids[0]).Served; got != 0 {
		t.Errorf("the disabled credential served %d requests", got)
	}
	e.mustDo(http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d:enable", ids[0]), "", harnessKey, http.StatusOK)
	e.restart()
	if got := e.credential(ids[0]).Status; got != storage.StatusActive {
		t.Errorf("enabled, restarted: status %q, want active", got)
	}
}

// TestAdminDeleteStopsRefresh checks that a deleted credential never
// refreshes again, even when everything else in the pool does, and that its
// row is gone.
func TestAdminDeleteStopsRefresh(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{})
	ids := e.addGemini("del-a", "del-b")
	deleted, kept := ids[0], ids[1]
	before := e.gfake.Refreshes("del-a")

	if body := e.mustDo(http.MethodDelete, fmt.Sprintf("/admin/v1/credentials/%d", deleted), "", harnessKey, http.StatusNoContent); body != "" {
		t.Errorf("204 body = %q, want none", body)
	}
	if got := viewIDs(e.credentials("")); !cmp.Equal(got, []int64{kept}) {
		t.Fatalf("listed after delete: %v, want [%d]", got, kept)
	}
	if _, err := e.db.Credential(context.Background(), deleted); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("row after delete: err = %v, want ErrNotFound", err)
	}
	// Asking the deleted one to refresh finds nothing; deleting again too.
	e.mustDo(http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d:refresh", deleted), "", harnessKey, http.StatusNotFound)
	e.mustDo(http.MethodDelete, fmt.Sprintf("/admin/v1/credentials/%d", deleted), "", harnessKey, http.StatusNotFound)

	// Make every token stale and refresh the pool: the kept credential
	// refreshes (on request and through the 401 path); the deleted one must
	// not, so once the kept one's refreshes landed the counter is final.
	keptBefore := e.gfake.Refreshes("del-b")
	e.mustDo(http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d:refresh", kept), "", harnessKey, http.StatusAccepted)
	untilPool(t, e.tap, providers.GeminiCLI, "the kept credential's refresh", func() bool { return e.gfake.Refreshes("del-b") > keptBefore })
	e.gfake.ExpireAccessTokens()
	keptBefore = e.gfake.Refreshes("del-b")
	// Two requests: with a live actor for the deleted credential, the
	// rotation would give it one, and its 401 would make it refresh.
	for range 2 {
		e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusOK)
	}
	untilPool(t, e.tap, providers.GeminiCLI, "the refresh after a 401", func() bool { return e.gfake.Refreshes("del-b") > keptBefore })
	if got := e.gfake.Refreshes("del-a"); got != before {
		t.Errorf("the deleted credential refreshed %d more time(s)", got-before)
	}
	// A restart does not bring it back either.
	e.restart()
	if got := viewIDs(e.credentials("")); !cmp.Equal(got, []int64{kept}) {
		t.Errorf("listed after restart: %v, want [%d]", got, kept)
	}
	if got := e.gfake.Refreshes("del-a"); got != before {
		t.Errorf("the deleted credential refreshed %d more time(s) after a restart", got-before)
	}
}

// TestAdminPool checks the pool summary with one credential cooling for a
// model (a scripted 429 with RetryInfo) and one needing re-auth (a forced
// refresh meeting invalid_grant).
func TestAdminPool(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{})
	e.addGemini("pool-a", "pool-b", "pool-c")
	e.gfake.ScriptGenerate(geminifake.Response{Status: 429, Body: geminiRateLimitBody("30s")})
	e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusOK)

	var cooled, dead actors.CredentialView
	untilPool(t, e.tap, providers.GeminiCLI, "a cooldown for gemini-2.5-pro", func() bool {
		cooled, dead = actors.CredentialView{}, actors.CredentialView{}
		for _, v := range e.credentials("") {
			switch {
			case len(v.Cooldowns) > 0 && cooled.ID == 0:
				cooled = v
			case dead.ID == 0:
				dead = v
			}
		}
		return cooled.ID != 0
	})
	if len(cooled.Cooldowns) != 1 || cooled.Cooldowns[0].Model != "gemini-2.5-pro" || cooled.Cooldowns[0].Reason == "" {
		t.Fatalf("cooldowns = %+v, want one for gemini-2.5-pro with a reason", cooled.Cooldowns)
	}
	tok := strings.TrimSuffix(dead.Email, "@example.com")
	acct, ok := e.gfake.Account(tok)
	if !ok {
		t.Fatalf("no fake account for %q", tok)
	}
	acct.InvalidGrant = true
	e.gfake.AddAccount(tok, acct)
	e.mustDo(http.MethodPost, fmt.Sprintf("/admin/v1/credentials/%d:refresh", dead.ID), "", harnessKey, http.StatusAccepted)
	untilPool(t, e.tap, providers.GeminiCLI, "needs_reauth", func() bool {
		return len(e.credentials("?status=needs_reauth")) == 1
	})

	body := e.mustDo(http.MethodGet, "/admin/v1/pool", "", harnessKey, http.StatusOK)
	var got poolSummary
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := poolSummary{Providers: []providerSummary{
		{Provider: "geminicli", Credentials: 3, ByStatus: statusCounts{Active: 2, NeedsReauth: 1},
			Models: []modelSummary{
				{Model: "gemini-2.5-pro", Ready: 1, Cooling: 1, Unavailable: 1},
				{Model: "gemini-2.5-flash", Ready: 2, Unavailable: 1},
			}},
		{Provider: "codex", Models: []modelSummary{{Model: "gpt-5.2-codex"}, {Model: "gpt-5.2"}}},
	}}
	// No aliases or chains are configured: both lists are empty (issue 14).
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(modelSummary{}, "EarliestReset"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("pool (-want +got):\n%s\nbody %s", diff, body)
	}
	reset := got.Providers[0].Models[0].EarliestReset
	if left := time.Until(reset); left < 20*time.Second || left > 31*time.Second {
		t.Errorf("earliest_reset = %v (in %v), want the 429's ~30 s", reset, left)
	}
	if strings.Count(body, "earliest_reset") != 1 {
		t.Errorf("earliest_reset should appear only for the cooling model: %s", body)
	}
}

// TestAdminJobs checks GET jobs/{id} finds resource:add jobs of either
// provider.
func TestAdminJobs(t *testing.T) {
	parent := t
	e := newAdminEnv(t, adminEnvOptions{})
	e.gfake.AddAccount("1//0gRT-job-g", geminifake.Account{Email: "job-g@example.com", Sub: "sub-job-g", Tier: "standard-tier", Project: "proj-job-g"})
	e.cfake.AddAccount("rt_job-c", codexfake.Account{ID: "acct-job-c", Sub: "sub-job-c", Email: "job-c@example.com", PlanType: "pro"})
	for _, tc := range []struct {
		provider, token string
	}{{"geminicli", "1//0gRT-job-g"}, {"codex", "rt_job-c"}} {
		t.Run(tc.provider, func(t *testing.T) {
			e.t = t
			defer func() { e.t = parent }()
			body := e.mustDo(http.MethodPost, "/"+tc.provider+"/resource:add", `["`+tc.token+`"]`, harnessKey, http.StatusAccepted)
			var acc ingestAccepted
			if err := json.Unmarshal([]byte(body), &acc); err != nil || acc.Job == "" {
				t.Fatalf("resource:add answer %s", body)
			}
			// The pool answers once the job has finished; the admin view
			// of it is read after.
			if st, err := e.sys.Pool(tc.provider).Job(t.Context(), acc.Job, true); err != nil || !st.Finished {
				t.Fatalf("waiting for the job: %+v %v", st, err)
			}
			var job ingestJob
			body = e.mustDo(http.MethodGet, "/admin/v1/jobs/"+acc.Job, "", harnessKey, http.StatusOK)
			if err := json.Unmarshal([]byte(body), &job); err != nil || !job.Finished {
				t.Fatalf("job %s: %v", body, err)
			}
			if job.Provider != tc.provider || len(job.Verdicts) != 1 || job.Verdicts[0].Result != "added" {
				t.Errorf("job = %+v", job)
			}
			if strings.Contains(fmt.Sprint(job), tc.token) {
				t.Errorf("job echoes the refresh token: %+v", job)
			}
		})
	}
	e.t = t
	e.mustDo(http.MethodGet, "/admin/v1/jobs/no-such-job", "", harnessKey, http.StatusNotFound)
}

// TestAdminLogLevel checks that POST loglevel changes what the running
// process logs: a debug line appears only after switching to debug.
func TestAdminLogLevel(t *testing.T) {
	parent := t
	e := newAdminEnv(t, adminEnvOptions{level: zapcore.InfoLevel})
	e.addCodex("lvl-c")
	codexCall := func() {
		e.t.Helper()
		e.mustDo(http.MethodPost, "/codex/v1/responses", codexTestBody("false"), harnessKey, http.StatusOK)
	}
	assertJSON(t, []byte(e.mustDo(http.MethodGet, "/admin/v1/loglevel", "", harnessKey, http.StatusOK)), `{"level":"info"}`)
	codexCall()
	if n := e.logs.FilterLevelExact(zapcore.DebugLevel).Len(); n != 0 {
		t.Fatalf("%d debug lines at info level", n)
	}
	if e.logs.FilterMessage("request").Len() == 0 {
		t.Fatal("no access log line at info level")
	}

	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"unknown level", `{"level":"verbose"}`, 400},
		{"not json", `debug`, 400},
		{"empty", ``, 400},
		{"fatal is not offered", `{"level":"fatal"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = parent }()
			e.mustDo(http.MethodPost, "/admin/v1/loglevel", tc.body, harnessKey, tc.want)
		})
	}
	e.t = t
	if got := e.level.Level(); got != zapcore.InfoLevel {
		t.Fatalf("failed requests changed the level to %s", got)
	}

	assertJSON(t, []byte(e.mustDo(http.MethodPost, "/admin/v1/loglevel", `{"level":"debug"}`, harnessKey, http.StatusOK)), `{"level":"debug"}`)
	assertJSON(t, []byte(e.mustDo(http.MethodGet, "/admin/v1/loglevel", "", harnessKey, http.StatusOK)), `{"level":"debug"}`)
	codexCall()
	if e.logs.FilterMessage("codex: usage").FilterLevelExact(zapcore.DebugLevel).Len() != 1 {
		t.Errorf("no debug line after switching to debug")
	}

	e.mustDo(http.MethodPost, "/admin/v1/loglevel", `{"level":"error"}`, harnessKey, http.StatusOK)
	e.logs.TakeAll()
	codexCall()
	if n := e.logs.Len(); n != 0 {
		t.Errorf("%d lines logged at error level after a good request", n)
	}

	t.Run("fixed level", func(t *testing.T) {
		srv := New(Deps{Config: e.cfg})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/admin/v1/loglevel", nil)
		req.Header.Set("Authorization", "Bearer "+harnessKey)
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503 without an adjustable level; body %s", rec.Code, rec.Body)
		}
	})
}

// TestAccessLogFields checks the access log line of a request that went
// upstream: surface, model, credential id, attempts, outcome and ttfb, and
// no email at info level.
func TestAccessLogFields(t *testing.T) {
	e := newAdminEnv(t, adminEnvOptions{level: zapcore.InfoLevel})
	ids := e.addGemini("log-a", "log-b")
	e.gfake.ScriptGenerate(geminifake.Response{Status: 429, Body: geminiRateLimitBody("30s")})
	e.logs.TakeAll()
	e.mustDo(http.MethodPost, geminiGenerate("gemini-2.5-pro"), adminGeminiBody, harnessKey, http.StatusOK)
	e.mustDo(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", adminGeminiBody, harnessKey, http.StatusOK)
	e.mustDo(http.MethodPost, geminiGenerate("no-such-model"), adminGeminiBody, harnessKey, http.StatusNotFound)
	e.mustDo(http.MethodGet, "/healthz", "", "", http.StatusOK)

	lines := e.logs.FilterMessage("request").All()
	if len(lines) != 4 {
		t.Fatalf("%d access log lines, want 4", len(lines))
	}
	type view struct {
		Surface, Model, Outcome string
		Attempts                int64
		HasCredential, HasTTFB  bool
	}
	got := make([]view, len(lines))
	for i, l := range lines {
		f := l.ContextMap()
		s, _ := f[keySurface].(string)
		m, _ := f[keyModel].(string)
		o, _ := f[keyOutcome].(string)
		a, _ := f[keyAttempts].(int64)
		cred, hasCred := f[keyCredentialID].(int64)
		ttfb, _ := f[keyTTFB].(time.Duration)
		if hasCred && cred != ids[0] && cred != ids[1] {
			t.Errorf("line %d: credential_id %d is not one of %v", i, cred, ids)
		}
		got[i] = view{Surface: s, Model: m, Outcome: o, Attempts: a, HasCredential: hasCred, HasTTFB: ttfb > 0}
	}
	want := []view{
		{Surface: "geminicli", Model: "gemini-2.5-pro", Outcome: "ok", Attempts: 2, HasCredential: true, HasTTFB: true},
		{Surface: "geminicli", Model: "gemini-2.5-flash", Outcome: "ok", Attempts: 1, HasCredential: true, HasTTFB: true},
		{Surface: "geminicli", Model: "no-such-model"},
		{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log fields (-want +got):\n%s", diff)
	}
	for _, l := range e.logs.All() {
		if l.Level < zapcore.WarnLevel && strings.Contains(fmt.Sprint(l.Message, l.ContextMap()), "@example.com") {
			t.Errorf("an email at %s: %s %v", l.Level, l.Message, l.ContextMap())
		}
	}
}
