package storage_test

import (
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/storage"
	"github.com/pollux-gateway/pollux/storage/storagetest"
)

// originalRows: active and inactive rows of both providers, an Antigravity
// row, a row with no refresh token, and two rows for credentials the Pollux
// database already holds (one by identity with no refresh token of its own,
// one by refresh token).
var originalRows = []storagetest.OriginalRow{
	{Table: "gemini_cli", Email: "g1@example.com", Sub: "g1", Account: "proj-1", RefreshToken: "1//g1", AccessToken: "ya29.g1", Active: true},
	{Table: "gemini_cli", Sub: "g2", Account: "proj-2", RefreshToken: "1//g2", Active: false},
	{Table: "gemini_cli", Sub: "held", Account: "proj-held", RefreshToken: "1//held-imported", Active: true},
	{Table: "gemini_cli", Sub: "g-empty", Account: "proj-e", RefreshToken: " ", Active: true},
	{Table: "codex", Email: "c1@example.com", Sub: "c1", Account: "acct-1", RefreshToken: "rt-c1", AccessToken: "at-c1", Plan: "pro", Active: true},
	{Table: "codex", Sub: "c2", Account: "acct-2", RefreshToken: "rt-held-codex", AccessToken: "at", Active: true},
	{Table: "antigravity", Sub: "a1", Account: "proj-a", RefreshToken: "1//a1", Active: true},
}

func TestImportOriginalTables(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	storagetest.WriteOriginalDB(t, path, originalRows...)
	before := storagetest.OriginalDump(t, path)

	db, err := storage.Open(t.Context(), path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	// Credentials this Pollux already holds: one by identity without a
	// refresh token, one by refresh token under another identity.
	heldGemini := insert(t, db, storage.Credential{Provider: "geminicli", Sub: "held", Account: "proj-held", Email: "mine@example.com"})
	heldCodex := insert(t, db, storage.Credential{Provider: "codex", Sub: "other", Account: "acct-x", RefreshToken: "rt-held-codex"})

	res, ran, err := db.ImportOriginalTables(t.Context())
	if err != nil || !ran {
		t.Fatalf("import: ran=%v err=%v", ran, err)
	}
	want := storage.OriginalImport{GeminiCLI: 2, Codex: 1, Inactive: 1, Antigravity: 1, Kept: 2, TokensTaken: 1, Unusable: 1}
	if res != want {
		t.Fatalf("result = %+v, want %+v", res, want)
	}
	const line = "imported 2 Gemini CLI and 1 Codex credentials from the original Pollux tables; 1 inactive kept disabled; 1 Antigravity rows not imported: this version has no Antigravity provider"
	if res.Summary() != line {
		t.Errorf("summary = %q\nwant      %q", res.Summary(), line)
	}

	creds, err := db.Credentials(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]storage.Credential{}
	for _, c := range creds {
		byKey[c.Provider+"/"+c.Sub] = c
	}
	if len(creds) != 5 {
		t.Fatalf("%d credentials, want 5 (2 held + 3 imported)", len(creds))
	}
	g1 := byKey["geminicli/g1"]
	if g1.Account != "proj-1" || g1.Email != "g1@example.com" || g1.RefreshToken != "1//g1" || g1.Status != storage.StatusActive || !g1.Expiry.IsZero() {
		t.Errorf("g1 = %+v; want active, project proj-1, zero expiry (refreshed at once)", g1)
	}
	if g2 := byKey["geminicli/g2"]; g2.Status != storage.StatusDisabled || g2.StatusReason != storage.OriginalInactiveReason {
		t.Errorf("inactive g2: status %q (%q), want disabled", g2.Status, g2.StatusReason)
	}
	if c1 := byKey["codex/c1"]; c1.Account != "acct-1" || c1.Tier != "pro" || !strings.Contains(string(c1.Extra), `"plan_type":"pro"`) {
		t.Errorf("c1 = %+v", c1)
	}
	if h := byKey["geminicli/held"]; h.ID != heldGemini || h.RefreshToken != config.Secret("1//held-imported") || h.Email != "mine@example.com" {
		t.Errorf("held gemini credential: id %d email %q; want it kept with the imported refresh token", h.ID, h.Email)
	}
	if h := byKey["codex/other"]; h.ID != heldCodex || h.RefreshToken != config.Secret("rt-held-codex") {
		t.Errorf("held codex credential changed: %+v", h)
	}
	if _, ok := byKey["codex/c2"]; ok {
		t.Error("a row whose refresh token is already held was imported again")
	}

	// A second start imports nothing.
	if _, ran, err := db.ImportOriginalTables(t.Context()); err != nil || ran {
		t.Fatalf("second import: ran=%v err=%v, want nothing to do", ran, err)
	}
	if after := storagetest.OriginalDump(t, path); after != before {
		t.Errorf("original tables changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestImportOriginalTablesNone(t *testing.T) {
	db := storagetestDB(t)
	if _, ran, err := db.ImportOriginalTables(t.Context()); err != nil || ran {
		t.Fatalf("fresh database: ran=%v err=%v", ran, err)
	}
}

func TestImportOriginalFile(t *testing.T) {
	src := filepath.Join(t.TempDir(), "old.db")
	storagetest.WriteOriginalDB(t, src, originalRows...)
	before := storagetest.OriginalDump(t, src)
	db := storagetestDB(t)

	res, err := db.ImportOriginalFile(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if res.GeminiCLI != 3 || res.Codex != 2 || res.Inactive != 1 || res.Antigravity != 1 || res.Unusable != 1 {
		t.Fatalf("first import: %+v", res)
	}
	again, err := db.ImportOriginalFile(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if again.GeminiCLI != 0 || again.Codex != 0 || again.Kept != 5 {
		t.Fatalf("second import of the same file: %+v, want everything kept", again)
	}
	if after := storagetest.OriginalDump(t, src); after != before {
		t.Error("the source file changed")
	}

	if _, err := db.ImportOriginalFile(t.Context(), filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("a file without the original tables was accepted")
	}
}
