package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage/storagetest"
)

// originalImportLine is the summary of importing originalRowsForE2E.
const originalImportLine = "imported 2 Gemini CLI and 2 Codex credentials from the original Pollux tables; " +
	"1 inactive kept disabled; 1 Antigravity rows not imported: this version has no Antigravity provider"

// originalRowsForE2E: a duplicate of a credential Pollux already holds
// (g1), an active and an inactive Gemini row, a live and a dead Codex row,
// and an Antigravity row.
var originalRowsForE2E = []storagetest.OriginalRow{
	{Table: "gemini_cli", Email: "g1@example.com", Sub: "g1", Account: "proj-g1", RefreshToken: "e2e-refresh-g1-old", Active: true},
	{Table: "gemini_cli", Email: "g2@example.com", Sub: "g2", Account: "proj-g2", RefreshToken: "e2e-refresh-g2", AccessToken: "ya29.stale", Active: true},
	{Table: "gemini_cli", Sub: "g3", Account: "proj-g3", RefreshToken: "e2e-refresh-g3", Active: false},
	{Table: "codex", Email: "c1@example.com", Sub: "c1", Account: "acct-c1", RefreshToken: "e2e-refresh-c1", AccessToken: "eyJstale", Plan: "pro", Active: true},
	{Table: "codex", Email: "dead@example.com", Sub: "c9", Account: "acct-dead", RefreshToken: "e2e-refresh-dead", AccessToken: "eyJstale", Active: true},
	{Table: "antigravity", Sub: "a1", Account: "proj-a1", RefreshToken: "e2e-refresh-a1", Active: true},
}

// TestImportOriginalPolluxDatabase: an existing user moved the original
// Pollux's data.db over and Go Pollux served zero credentials without a
// word (issue 11). Now the first start imports the original tables (one
// summary line), the imported credentials serve, a dead one ends in
// needs_reauth with its reason, a second start imports nothing, and the
// original tables stay as they were.
func TestImportOriginalPolluxDatabase(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "data.db")
	cfgPath := writeConfig(t, dir, u.config(freePort(t), db))
	u.gemini.AddAccount("e2e-refresh-g1", geminifake.Account{Email: "g1@example.com", Sub: "g1", Tier: "standard-tier", Project: "proj-g1"})
	u.gemini.AddAccount("e2e-refresh-g2", geminifake.Account{Email: "g2@example.com", Sub: "g2", Tier: "standard-tier", Project: "proj-g2"})
	u.gemini.AddAccount("e2e-refresh-g3", geminifake.Account{Email: "g3@example.com", Sub: "g3", Tier: "standard-tier", Project: "proj-g3"})
	u.codex.AddAccount("e2e-refresh-c1", codexfake.Account{ID: "acct-c1", Sub: "c1", Email: "c1@example.com", PlanType: "pro"})

	// Pollux already holds g1.
	in := start(t, []string{"--config", cfgPath}, nil)
	if code, _, body := in.do(http.MethodPost, "/geminicli/resource:add?wait=true", `["e2e-refresh-g1"]`, nil); code != 200 || !strings.Contains(body, `"added"`) {
		t.Fatalf("add g1: %d %s", code, body)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	storagetest.WriteOriginalDB(t, db, originalRowsForE2E...)
	before := storagetest.OriginalDump(t, db)

	in = start(t, []string{"--config", cfgPath}, nil)
	if got := in.logs.FilterMessage(originalImportLine).Len(); got != 1 {
		var msgs []string
		for _, e := range in.logs.All() {
			msgs = append(msgs, e.Message)
		}
		t.Fatalf("summary line logged %d times, want once; log:\n%s", got, strings.Join(msgs, "\n"))
	}

	// The imported Gemini credential serves once its first refresh is done
	// (least recently used rotation reaches it).
	gemReq := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	for i := 0; u.gemini.AccountCalls("e2e-refresh-g2") == 0; i++ {
		if i == 200 {
			t.Fatal("the imported Gemini credential g2 never served")
		}
		if code, _, body := in.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", gemReq, nil); code != 200 {
			t.Fatalf("generateContent %d: %d %s", i, code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if u.gemini.AccountCalls("e2e-refresh-g3") != 0 {
		t.Error("the inactive credential g3 served")
	}
	if code, _, body := in.do(http.MethodPost, "/codex/v1/responses", `{"model":"gpt-5.2-codex","input":"hello","stream":false}`, nil); code != 200 {
		t.Fatalf("codex through the imported credential: %d %s", code, body)
	}
	if u.codex.Calls("acct-c1") == 0 {
		t.Error("the imported Codex credential did not serve")
	}

	// The dead Codex credential was validated by its first refresh.
	var dead credView
	in.untilPool(providers.Codex, "the dead imported credential in needs_reauth", func() bool {
		dead = credentialViews(t, in, "codex")["acct-dead"]
		return dead.Status == "needs_reauth"
	})
	if dead.StatusReason == "" {
		t.Error("needs_reauth without a reason")
	}
	views := credentialViews(t, in, "geminicli")
	if len(views) != 3 || views["proj-g3"].Status != "disabled" {
		t.Fatalf("gemini credentials after import: %+v; want g1 (held), g2, g3 disabled", views)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}

	// A second start imports nothing; the old tables are untouched.
	in = start(t, []string{"--config", cfgPath}, nil)
	for _, e := range in.logs.All() {
		if strings.HasPrefix(e.Message, "imported ") {
			t.Fatalf("second start imported again: %s", e.Message)
		}
	}
	if got := len(credentialViews(t, in, "geminicli")); got != 3 {
		t.Fatalf("%d gemini credentials after the second start, want 3", got)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	if after := storagetest.OriginalDump(t, db); after != before {
		t.Errorf("the original tables changed:\nbefore %s\nafter  %s", before, after)
	}
}

type credView struct {
	Status       string `json:"status"`
	StatusReason string `json:"status_reason"`
	Account      string `json:"account"`
}

// credentialViews reads the admin API's credentials of provider, by account.
func credentialViews(t *testing.T, in *instance, provider string) map[string]credView {
	t.Helper()
	code, _, body := in.do(http.MethodGet, "/admin/v1/credentials?provider="+provider, "", nil)
	if code != 200 {
		t.Fatalf("admin credentials: %d %s", code, body)
	}
	var out struct {
		Credentials []credView `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]credView{}
	for _, v := range out.Credentials {
		m[v.Account] = v
	}
	return m
}

// TestImportCommand: "pollux import --from PATH" imports an original
// database kept elsewhere with the same summary; a second run adds nothing.
func TestImportCommand(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, u.config(freePort(t), filepath.Join(dir, "pollux.db")))
	src := filepath.Join(t.TempDir(), "old.db")
	storagetest.WriteOriginalDB(t, src, originalRowsForE2E...)
	env := func(string) string { return "" }

	var out bytes.Buffer
	if err := run(context.Background(), []string{"import", "--from", src, "--config", cfgPath}, env, &out); err != nil {
		t.Fatalf("import: %v", err)
	}
	want := strings.Replace(originalImportLine, "imported 2 Gemini CLI", "imported 3 Gemini CLI", 1)
	if first, _, _ := strings.Cut(out.String(), "\n"); first != want {
		t.Fatalf("summary = %q\nwant      %q", first, want)
	}
	out.Reset()
	if err := run(context.Background(), []string{"import", "--from", src, "--config", cfgPath}, env, &out); err != nil {
		t.Fatalf("second import: %v", err)
	}
	if !strings.HasPrefix(out.String(), "imported 0 Gemini CLI and 0 Codex credentials") || !strings.Contains(out.String(), "5 already held") {
		t.Fatalf("second import: %q", out.String())
	}
}

// TestCommandLineMistakes: unknown words and flags are usage errors (exit 2).
func TestCommandLineMistakes(t *testing.T) {
	for _, args := range [][]string{
		{"serve-it"},
		{"import"},
		{"import", "--from"},
		{"import", "--from", "x.db", "extra"},
		{"--config", "c.toml", "stray"},
		{"--no-such-flag"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

// TestUnknownCommandExitsTwo: the process exits 2 for a usage error.
func TestUnknownCommandExitsTwo(t *testing.T) {
	p := startProcess(t, "frobnicate")
	if code := p.exitCode(t); code != 2 {
		t.Fatalf("exit status %d, want 2; output: %s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), `unknown command "frobnicate"`) {
		t.Errorf("message: %s", p.stderr.String())
	}
}
