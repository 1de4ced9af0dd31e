package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOriginalLogLevels: the original Pollux read loglevel as a tracing
// filter in any case; those values load, Pollux takes its own level, and
// it warns once about the rest (issue 11).
func TestOriginalLogLevels(t *testing.T) {
	tests := []struct {
		value    string
		want     string
		wantWarn string // "" for no warning
	}{
		{"info", "info", ""},
		{"INFO", "info", ""},
		{"Debug", "debug", ""},
		{"WARNING", "warn", ""},
		{"trace", "debug", `"trace" is not supported; using "debug"`},
		{"pollux=debug", "debug", `"pollux=debug" read as "debug"`},
		{"info,hyper=warn", "info", `"info,hyper=warn" read as "info"; directives for other components ignored: hyper=warn`},
		{"warn,pollux=DEBUG,sqlx=error", "debug", `"warn,pollux=DEBUG,sqlx=error" read as "debug"; directives for other components ignored: sqlx=error`},
		{"pollux::server=trace", "debug", `"pollux::server=trace" read as "debug"; "trace" is not supported, "debug" is the most detailed`},
		{"off", "error", `"off" read as "error"; "off" is not supported, "error" is the quietest`},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			path := writeFile(t, "[basic]\npollux_key = \"k-123-a-long-enough-test-key\"\nloglevel = \""+tc.value+"\"\n")
			c, warns, err := Load(path, envFrom(nil))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Basic.LogLevel != tc.want {
				t.Errorf("level = %q, want %q", c.Basic.LogLevel, tc.want)
			}
			var got []Warning
			if tc.wantWarn != "" {
				got = []Warning{{Key: "basic.loglevel", Line: 3, Message: tc.wantWarn}}
			}
			if diff := cmp.Diff(got, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOriginalLogLevelFromEnv: POLLUX_LOGLEVEL takes the same forms.
func TestOriginalLogLevelFromEnv(t *testing.T) {
	path := writeFile(t, "[basic]\npollux_key = \"k-123-a-long-enough-test-key\"\n")
	c, warns, err := Load(path, envFrom(map[string]string{"POLLUX_LOGLEVEL": "ERROR,tower=debug"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Basic.LogLevel != "error" || len(warns) != 1 || !strings.Contains(warns[0].Message, "tower=debug") {
		t.Fatalf("level %q, warnings %v", c.Basic.LogLevel, warns)
	}
}

// TestTraceHeader: trace_header is read from [providers.defaults] and
// overridden per provider.
func TestTraceHeader(t *testing.T) {
	c, warns := mustParse(t, "[providers.defaults]\ntrace_header = \"x-trace\"\n[providers.codex]\ntrace_header = \"x-codex-trace\"\n")
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if c.Providers.GeminiCLI.TraceHeader != "x-trace" || c.Providers.Codex.TraceHeader != "x-codex-trace" {
		t.Fatalf("trace headers: geminicli %q, codex %q", c.Providers.GeminiCLI.TraceHeader, c.Providers.Codex.TraceHeader)
	}
}

// TestAntigravitySectionWarnsOnce: the original's third provider gets one
// warning that says why, however many keys it has.
func TestAntigravitySectionWarnsOnce(t *testing.T) {
	_, warns := mustParse(t, "[providers.antigravity]\nmodel_list = [\"x\"]\noauth_tps = 3\n[providers.antigravity.extra]\ny = 1\n")
	want := []Warning{{Key: "providers.antigravity", Line: 1, Message: AntigravityMessage}}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestPlaceholderKeyRefused: the original README's "change-me" is refused
// with the reason and a one-line fix.
func TestPlaceholderKeyRefused(t *testing.T) {
	path := writeFile(t, "[basic]\npollux_key = \"change-me\"\n")
	_, _, err := Load(path, envFrom(nil))
	if err == nil {
		t.Fatal("change-me accepted")
	}
	for _, want := range []string{":2: basic.pollux_key", "open door", "openssl rand -hex 32", "POLLUX_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
