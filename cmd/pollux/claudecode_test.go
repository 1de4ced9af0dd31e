package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// claudeCodeDir holds Claude Code's own lockfile: its native binary is
// large, so it stays out of the SDK conformance install.
const claudeCodeDir = "testdata/claudecode"

// TestClaudeCode runs Claude Code (pinned in testdata/claudecode) in print
// mode with ANTHROPIC_BASE_URL pointed at each pool's Messages surface, and
// at the root (the one base URL), and checks it answers a one-shot prompt
// with the pool's text. Skipped without npm (failed under CI), on a
// platform other than linux-x64 (the pinned native build), and with -short.
func TestClaudeCode(t *testing.T) {
	if testing.Short() {
		t.Skip("installs Claude Code's native binary")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the pinned install is for linux-x64, not %s-%s", runtime.GOOS, runtime.GOARCH)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but npm is not on PATH: %v", err)
		}
		t.Skipf("Claude Code's conformance test needs npm (Node.js 20+) on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), npmCITimeout)
	defer cancel()
	// --ignore-scripts: the postinstall would only copy the platform
	// package's binary into place; the test runs that binary itself.
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts")
	cmd.Dir = claudeCodeDir
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", claudeCodeDir, err, out)
	}
	bin, err := filepath.Abs(filepath.Join(claudeCodeDir, "node_modules/@anthropic-ai/claude-code-linux-x64/claude"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, prefix, model, small, want string }{
		{"geminicli", "/geminicli", "gemini-2.5-pro", "gemini-2.5-flash", "Hello"},
		{"codex", "/codex", "gpt-5.2-codex", "gpt-5.2-codex", codexfake.DefaultText},
		// The one base URL: ANTHROPIC_BASE_URL at the root, the main and
		// small models from different pools.
		{"root", "", "gpt-5.2-codex", "gemini-2.5-flash", codexfake.DefaultText},
	} {
		t.Run(p.name, func(t *testing.T) {
			_, in := conformancePollux(t)
			ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "-p", "Say hello.")
			cmd.Dir = t.TempDir()
			cmd.WaitDelay = 5 * time.Second
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
				return strings.HasPrefix(kv, "ANTHROPIC_") || strings.HasPrefix(kv, "CLAUDE_")
			})
			cmd.Env = append(cmd.Env,
				"HOME="+t.TempDir(),
				"ANTHROPIC_BASE_URL=http://"+in.addr+p.prefix,
				"ANTHROPIC_API_KEY="+e2eKey,
				"ANTHROPIC_MODEL="+p.model,
				"ANTHROPIC_SMALL_FAST_MODEL="+p.small,
				"ANTHROPIC_DEFAULT_HAIKU_MODEL="+p.small,
				"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
				"DISABLE_AUTOUPDATER=1",
				"DISABLE_TELEMETRY=1",
				"NO_PROXY=127.0.0.1,localhost",
			)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			redact := func(s string) string { return strings.ReplaceAll(s, e2eKey, "<pollux-key>") }
			if err != nil || !strings.Contains(stdout.String(), p.want) {
				t.Fatalf("claude -p: %v\nstdout:\n%s\nstderr:\n%s", err, redact(stdout.String()), redact(stderr.String()))
			}
			if err := in.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
