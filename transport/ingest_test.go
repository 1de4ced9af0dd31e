package transport

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

const (
	geminiAddPath = "/geminicli/resource:add"
	codexAddPath  = "/codex/resource:add"
)

// Test refresh tokens are a fixed prefix and an account name; the fakes
// derive email, project and account from the name only, so a token in a
// response is always an echo.
func geminiRT(name string) string { return "1//0gRT-" + name }
func codexRT(name string) string  { return "rt_RT-" + name }

// addGeminiAccount registers a ready seat in the fake (not in the pool).
func addGeminiAccount(h *harness, name string) {
	h.gfake.AddAccount(geminiRT(name), geminifake.Account{Email: name + "@example.com", Sub: "sub-" + name,
		Tier: "standard-tier", Project: "proj-" + name})
}

// addCodexAccount registers a ChatGPT account in the fake (not in the pool).
func addCodexAccount(h *harness, name string) {
	h.cfake.AddAccount(codexRT(name), codexfake.Account{ID: "acct-" + name, Sub: "sub-" + name, Email: name + "@example.com", PlanType: "pro"})
}

// decodeIngestJob decodes a resource:add?wait=true or job lookup answer.
func decodeIngestJob(t *testing.T, body string) ingestJob {
	t.Helper()
	var j ingestJob
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		t.Fatalf("job body %s: %v", body, err)
	}
	return j
}

// assertNoIngestToken fails when body echoes any of the submitted tokens.
func assertNoIngestToken(t *testing.T, body string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if strings.Contains(body, tok) {
			t.Errorf("response echoes the submitted token %q: %s", tok, body)
		}
	}
}

// ingestVerdictSummary is what the shape tests compare of each verdict.
type ingestVerdictSummary struct {
	Result, Email, Project, Account, Tier string
	Warned                                bool
}

func summarizeVerdicts(vs []ingestVerdict) []ingestVerdictSummary {
	out := make([]ingestVerdictSummary, len(vs))
	for i, v := range vs {
		out[i] = ingestVerdictSummary{Result: v.Result, Email: v.Email, Project: v.Project, Account: v.Account,
			Tier: v.Tier, Warned: v.Warning != ""}
	}
	return out
}

func geminiAdded(name, project string) ingestVerdictSummary {
	return ingestVerdictSummary{Result: "added", Email: name + "@example.com", Project: project, Tier: "standard-tier"}
}

func codexAdded(name string) ingestVerdictSummary {
	return ingestVerdictSummary{Result: "added", Email: name + "@example.com", Account: "acct-" + name, Tier: "pro", Warned: true}
}

// TestIngestShapes posts every accepted body shape with ?wait=true.
func TestIngestShapes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	g, c := geminiRT, codexRT
	cases := []struct {
		name   string
		path   string
		body   string
		names  []string // accounts to register in the fake
		pinned bool     // register gemini seats without a project of their own
		want   []ingestVerdictSummary
	}{
		{
			name: "gemini objects", path: geminiAddPath, names: []string{"g-obj-1", "g-obj-2"},
			body: `[{"refresh_token":"` + g("g-obj-1") + `"},{"refresh_token":"` + g("g-obj-2") + `"}]`,
			want: []ingestVerdictSummary{geminiAdded("g-obj-1", "proj-g-obj-1"), geminiAdded("g-obj-2", "proj-g-obj-2")},
		},
		{
			name: "gemini bare strings", path: geminiAddPath, names: []string{"g-str-1", "g-str-2"},
			body: ` [ "` + g("g-str-1") + `" , "` + g("g-str-2") + `" ] `,
			want: []ingestVerdictSummary{geminiAdded("g-str-1", "proj-g-str-1"), geminiAdded("g-str-2", "proj-g-str-2")},
		},
		{
			name: "gemini single object", path: geminiAddPath, names: []string{"g-single"},
			body: `{"refresh_token":"` + g("g-single") + `"}`,
			want: []ingestVerdictSummary{geminiAdded("g-single", "proj-g-single")},
		},
		{
			name: "gemini oauth_creds.json", path: geminiAddPath, names: []string{"g-creds"},
			body: `{"access_token":"ya29.a0Stale","refresh_token":"` + g("g-creds") + `","scope":"https://www.googleapis.com/auth/cloud-platform openid",` +
				`"token_type":"Bearer","id_token":"eyJhbGciOiJSUzI1NiJ9.e30.sig","expiry_date":1767225600000}`,
			want: []ingestVerdictSummary{geminiAdded("g-creds", "proj-g-creds")},
		},
		{
			name: "gemini pinned project", path: geminiAddPath, names: []string{"g-pin"}, pinned: true,
			body: `[{"refresh_token":"` + g("g-pin") + `","project_id":"my-pinned-project"}]`,
			want: []ingestVerdictSummary{geminiAdded("g-pin", "my-pinned-project")},
		},
		{
			name: "codex objects", path: codexAddPath, names: []string{"c-obj"},
			body: `[{"refresh_token":"` + c("c-obj") + `"}]`,
			want: []ingestVerdictSummary{codexAdded("c-obj")},
		},
		{
			name: "codex bare strings", path: codexAddPath, names: []string{"c-str-1", "c-str-2"},
			body: `["` + c("c-str-1") + `","` + c("c-str-2") + `"]`,
			want: []ingestVerdictSummary{codexAdded("c-str-1"), codexAdded("c-str-2")},
		},
		{
			name: "codex auth.json", path: codexAddPath, names: []string{"c-auth"},
			body: `{"OPENAI_API_KEY":null,"tokens":{"id_token":"eyJhbGciOiJSUzI1NiJ9.e30.sig","access_token":"eyJhbGciOiJSUzI1NiJ9.e30.sig2",` +
				`"refresh_token":"` + c("c-auth") + `","account_id":"acct-c-auth"},"last_refresh":"2026-05-01T10:00:00Z"}`,
			want: []ingestVerdictSummary{codexAdded("c-auth")},
		},
		{
			name: "codex auth.json array", path: codexAddPath, names: []string{"c-auth-1", "c-auth-2"},
			body: `[{"OPENAI_API_KEY":null,"tokens":{"refresh_token":"` + c("c-auth-1") + `","account_id":"acct-c-auth-1"}},` +
				`{"tokens":{"refresh_token":"` + c("c-auth-2") + `"}}]`,
			want: []ingestVerdictSummary{codexAdded("c-auth-1"), codexAdded("c-auth-2")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tokens []string
			for _, name := range tc.names {
				switch {
				case tc.path == codexAddPath:
					addCodexAccount(h, name)
					tokens = append(tokens, codexRT(name))
				case tc.pinned:
					h.gfake.AddAccount(geminiRT(name), geminifake.Account{Email: name + "@example.com", Sub: "sub-" + name, Tier: "standard-tier"})
					tokens = append(tokens, geminiRT(name))
				default:
					addGeminiAccount(h, name)
					tokens = append(tokens, geminiRT(name))
				}
			}
			resp := h.do(http.MethodPost, tc.path+"?wait=true", tc.body, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			assertNoIngestToken(t, body, append(tokens, "ya29.", "eyJ")...)
			j := decodeIngestJob(t, body)
			if !j.Finished || j.Job == "" {
				t.Errorf("job = %+v, want a finished job with an id", j)
			}
			if diff := cmp.Diff(tc.want, summarizeVerdicts(j.Verdicts)); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			for i, v := range j.Verdicts {
				if v.Index != i {
					t.Errorf("verdict %d has index %d", i, v.Index)
				}
				if tc.path == codexAddPath && !strings.Contains(v.Warning, "signed out") {
					t.Errorf("codex verdict %d warning = %q, want the sign-out warning", i, v.Warning)
				}
			}
		})
	}
}

// TestIngestVerdicts checks the verdict of each kind of account, and
// duplicates within one batch.
func TestIngestVerdicts(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	addGeminiAccount(h, "v-good")
	h.gfake.AddAccount(geminiRT("v-personal"), geminifake.Account{Email: "v-personal@example.com", Sub: "sub-personal",
		Ineligible: &geminifake.Ineligible{ReasonCode: "UNSUPPORTED_CLIENT", ReasonMessage: "This account is not eligible for Gemini Code Assist.",
			TierID: "free-tier", ValidationURL: "https://example.com/validate"}})
	h.gfake.AddAccount(geminiRT("v-dead"), geminifake.Account{Email: "v-dead@example.com", Sub: "sub-dead", InvalidGrant: true})
	tokens := []string{geminiRT("v-good"), geminiRT("v-personal"), geminiRT("v-dead"), geminiRT("v-good")}
	body, _ := json.Marshal(tokens)

	resp := h.do(http.MethodPost, geminiAddPath+"?wait=true", string(body), nil)
	got := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, got)
	}
	assertNoIngestToken(t, got, tokens...)
	j := decodeIngestJob(t, got)
	if len(j.Verdicts) != 4 {
		t.Fatalf("verdicts = %d, want 4: %s", len(j.Verdicts), got)
	}
	for i := range j.Verdicts {
		j.Verdicts[i].CredentialID = 0 // assigned by storage
	}
	want := []ingestVerdict{
		{Index: 0, Result: "added", Email: "v-good@example.com", Project: "proj-v-good", Tier: "standard-tier"},
		{Index: 1, Result: "ineligible", Reason: j.Verdicts[1].Reason, URL: "https://example.com/validate"},
		{Index: 2, Result: "invalid", Reason: j.Verdicts[2].Reason},
		{Index: 3, Result: "duplicate", Reason: j.Verdicts[3].Reason},
	}
	if diff := cmp.Diff(want, j.Verdicts); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if r := j.Verdicts[1].Reason; !strings.Contains(r, "UNSUPPORTED_CLIENT") {
		t.Errorf("ineligible reason = %q, want UNSUPPORTED_CLIENT", r)
	}
	if r := j.Verdicts[2].Reason; !strings.Contains(r, "invalid_grant") {
		t.Errorf("invalid reason = %q, want invalid_grant", r)
	}
	for _, v := range j.Verdicts {
		if v.Warning != "" {
			t.Errorf("gemini verdict %d carries a warning: %q", v.Index, v.Warning)
		}
	}
}

// TestIngestAcceptedAndJobLookup checks the 202 answer, duplicates, and the
// job endpoints of both providers.
func TestIngestAcceptedAndJobLookup(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	addGeminiAccount(h, "j-one")
	addCodexAccount(h, "j-one")
	cases := []struct {
		name    string
		add     string
		jobs    string
		body    string
		want    ingestAccepted
		errType string // the 404's type/status field in the surface's envelope
	}{
		{"gemini", geminiAddPath, "/geminicli/resource:jobs/", `["` + geminiRT("j-one") + `","` + geminiRT("j-one") + `"]`,
			ingestAccepted{Accepted: 1, Duplicates: 1}, `"status":"NOT_FOUND"`},
		{"codex", codexAddPath, "/codex/resource:jobs/", `["` + codexRT("j-one") + `"]`,
			ingestAccepted{Accepted: 1}, `"type":"not_found_error"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(http.MethodPost, tc.add, tc.body, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("status = %d, want 202; body %s", resp.StatusCode, body)
			}
			var got ingestAccepted
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Job == "" {
				t.Fatalf("body %s: want accepted/duplicates/job (%v)", body, err)
			}
			job := got.Job
			got.Job = ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("accepted (-want +got):\n%s", diff)
			}

			resp = h.do(http.MethodGet, tc.jobs+job, "", nil)
			body = readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("job lookup: status = %d, want 200; body %s", resp.StatusCode, body)
			}
			j := decodeIngestJob(t, body)
			if j.Job != job || j.Total != strings.Count(tc.body, ",")+1 || len(j.Verdicts) != j.Total {
				t.Errorf("job = %+v, want id %s with one verdict per item", j, job)
			}
			assertNoIngestToken(t, body, geminiRT("j-one"), codexRT("j-one"))

			resp = h.do(http.MethodGet, tc.jobs+"no-such-job", "", nil)
			body = readAll(t, resp)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, tc.errType) {
				t.Errorf("unknown job: status %d body %s, want 404 with %s", resp.StatusCode, body, tc.errType)
			}
		})
	}
}

// TestIngestRejectsBadShapes checks every malformed body gets a 400 in the
// surface's envelope that shows the right shape and never the token.
func TestIngestRejectsBadShapes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const secret = "1//0gSecretToken-xyz"
	many := "[" + strings.Repeat(`"1//0gX",`, maxIngestBatch) + `"1//0gX"]`
	cases := []struct {
		name    string
		path    string
		body    string
		wantMsg string
	}{
		{"empty body", geminiAddPath, ``, "empty body"},
		{"bare string", geminiAddPath, `"` + secret + `"`, "JSON array or object"},
		{"form encoded", geminiAddPath, `refresh_token=` + secret, "JSON array or object"},
		{"broken JSON", geminiAddPath, `[{"refresh_token":"` + secret + `"`, "not a valid JSON array"},
		{"number item", geminiAddPath, `["` + secret + `", 42]`, "item 1: must be a refresh-token string or an object"},
		{"no refresh_token", geminiAddPath, `[{"token":"` + secret + `"}]`, "item 0: no refresh_token"},
		{"refresh_token not a string", geminiAddPath, `[{"refresh_token":["` + secret + `"]}]`, "item 0: refresh_token must be a string"},
		{"token with spaces", geminiAddPath, `["1//0g Secret Token"]`, "whitespace"},
		{"access token", geminiAddPath, `["ya29.a0SecretAccess"]`, "access token"},
		{"codex auth.json to gemini", geminiAddPath, `{"tokens":{"refresh_token":"` + secret + `"}}`, "/codex/resource:add"},
		{"gemini creds to codex", codexAddPath, `[{"refresh_token":"` + secret + `","project_id":"p"}]`, "/geminicli/resource:add"},
		{"codex API key only", codexAddPath, `{"OPENAI_API_KEY":"sk-secret","tokens":null}`, "item 0: no refresh_token"},
		{"too many", geminiAddPath, many, "the limit is 1000"},
		{"bad wait", geminiAddPath + "?wait=soon", `["` + secret + `"]`, "wait must be true or false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(http.MethodPost, tc.path, tc.body, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, body)
			}
			var env struct {
				Error struct {
					Message string `json:"message"`
					Status  string `json:"status"` // gemini
					Type    string `json:"type"`   // openai
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			wantKind := env.Error.Status == "INVALID_ARGUMENT"
			if tc.path == codexAddPath {
				wantKind = env.Error.Type == "invalid_request_error"
			}
			if !wantKind {
				t.Errorf("envelope %s is not the surface's invalid-argument error", body)
			}
			if !strings.Contains(env.Error.Message, tc.wantMsg) {
				t.Errorf("message = %q, want it to mention %q", env.Error.Message, tc.wantMsg)
			}
			if tc.name != "bad wait" && !strings.Contains(env.Error.Message, "e.g. ") {
				t.Errorf("message = %q, want an example of the right shape", env.Error.Message)
			}
			assertNoIngestToken(t, body, secret, "Secret Token", "ya29.a0SecretAccess", "sk-secret")
		})
	}
}

// TestIngestAuthAndAvailability checks the key guard and a missing pool.
func TestIngestAuthAndAvailability(t *testing.T) {
	h := newHarness(t, harnessOptions{serverSetup: func(s *Server) { s.codexPool = nil }})
	resp := h.do(http.MethodPost, geminiAddPath, `["1//0gX"]`, map[string]string{"Authorization": "Bearer wrong-key"})
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: status = %d, want 401; body %s", resp.StatusCode, body)
	}
	for _, path := range []string{codexAddPath, "/codex/resource:jobs/any"} {
		method := http.MethodPost
		if strings.Contains(path, "jobs") {
			method = http.MethodGet
		}
		resp = h.do(method, path, `["rt_x"]`, nil)
		if body := readAll(t, resp); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s without a pool: status = %d, want 503; body %s", path, resp.StatusCode, body)
		}
	}
}
