package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestCommandLineExitCodes runs the real process: help and version exit 0
// without starting anything (no config written), mistakes exit 2.
func TestCommandLineExitCodes(t *testing.T) {
	helpParts := []string{
		"Usage:", "pollux healthcheck", "pollux import --from PATH",
		"--config PATH, else $POLLUX_CONFIG, else ./config.toml",
		"First run:", "new random pollux_key", "A file named by --config or POLLUX_CONFIG must exist",
		"POLLUX_KEY", "POLLUX_LISTEN_ADDR", "POLLUX_LISTEN_PORT", "POLLUX_DATABASE_URL", "POLLUX_LOGLEVEL",
		"Default address: 0.0.0.0:8188",
	}
	cases := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"-h"}, 0, helpParts},
		{[]string{"--help"}, 0, helpParts},
		{[]string{"help"}, 0, helpParts},
		{[]string{"--version"}, 0, []string{"pollux ", "(commit "}},
		{[]string{"version"}, 0, []string{"pollux ", "(commit "}},
		{[]string{"-version"}, 0, []string{"pollux ", "(commit "}},
		{[]string{"serve"}, 2, []string{`unknown command "serve"`, "pollux --help"}},
		{[]string{"--verbose"}, 2, []string{"flag provided but not defined: -verbose (pollux --help)"}},
		{[]string{"import", "-h"}, 0, []string{"Usage of pollux import:", "-from"}},
		{[]string{"help", "me"}, 2, []string{"takes no arguments"}},
		{[]string{"--config"}, 2, []string{"flag needs an argument"}},
		{[]string{"healthcheck", "--nope"}, 2, []string{"flag provided but not defined"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			p := startProcessIn(t, dir, tc.args...)
			if code := p.exitCode(t); code != tc.code {
				t.Fatalf("exit status %d, want %d; output: %s", code, tc.code, p.stderr.String())
			}
			out := p.stderr.String()
			for _, want := range tc.contains {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if tc.code == 2 && strings.Contains(out, "Config file:") {
				t.Errorf("a usage error printed the whole help:\n%s", out)
			}
			if strings.Contains(out, "flag: help requested") {
				t.Errorf("help printed the flag package's error:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(dir, "config.toml")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%q wrote a config (stat: %v): it must not start the server", tc.args, err)
			}
		})
	}
}

func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206070000-0123456789ab+dirty"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-06T07:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	cases := []struct {
		name, ver, rev string
		bi             *debug.BuildInfo
		want           string
	}{
		{"set at build time", "v1.4.0", "fedcba9876543210", nil, "pollux v1.4.0 (commit fedcba987654)"},
		{"from build info", "", "", bi, "pollux v0.0.0-20261206070000-0123456789ab+dirty (commit 0123456789ab 2026-12-06T07:00:00Z modified)"},
		{"build time wins over build info", "v2.0.0", "", bi, "pollux v2.0.0 (commit 0123456789ab 2026-12-06T07:00:00Z modified)"},
		{"nothing known", "", "", nil, "pollux (devel) (commit unknown)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatVersion(tc.ver, tc.rev, tc.bi); !strings.HasPrefix(got, tc.want+" go") {
				t.Errorf("got  %q\nwant %q followed by the Go version", got, tc.want)
			}
		})
	}
}

// TestExplicitMissingConfigIsAnError: a config named by --config or
// POLLUX_CONFIG that does not exist stops start-up, and nothing is written.
func TestExplicitMissingConfigIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		namedBy string
	}{
		{"--config", []string{"--config", "typo.toml"}, nil, "--config"},
		{"POLLUX_CONFIG", nil, map[string]string{"POLLUX_CONFIG": "typo.toml"}, "POLLUX_CONFIG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			var out bytes.Buffer
			err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), "config typo.toml (named by "+tc.namedBy+") does not exist") {
				t.Fatalf("err = %v, want the missing file named", err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 || out.Len() != 0 {
				t.Errorf("files %v, output %q: a missing named config must write and print nothing", entries, out.String())
			}
		})
	}
}

// TestConfigWarningsComeWithErrors: a file without its [basic] header fails,
// and the error shows the ignored top-level keys with their lines.
func TestConfigWarningsComeWithErrors(t *testing.T) {
	path := writeConfig(t, t.TempDir(), "# forgot the header\npollux_key = \"a-long-enough-test-key-0001\"\n")
	err := run(context.Background(), []string{"--config", path}, func(string) string { return "" }, &bytes.Buffer{})
	if err == nil {
		t.Fatal("run accepted a config without pollux_key in [basic]")
	}
	for _, want := range []string{"basic.pollux_key: must be set", "warnings:", "line 2: pollux_key: unknown top-level key; ignored: it belongs under the [basic] header"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	if strings.Contains(err.Error(), "a-long-enough-test-key-0001") {
		t.Error("the error quotes the key")
	}
}

func TestListenNetwork(t *testing.T) {
	cases := []struct{ addr, network, families string }{
		{"0.0.0.0", "tcp4", "ipv4"},
		{"127.0.0.1", "tcp4", "ipv4"},
		{"192.168.1.10", "tcp4", "ipv4"},
		{"::", "tcp", "ipv4+ipv6"},
		{"[::]", "tcp", "ipv4+ipv6"},
		{"::1", "tcp6", "ipv6"},
		{"fd00::10", "tcp6", "ipv6"},
		{"localhost", "tcp", "as resolved"},
	}
	for _, tc := range cases {
		network, families := listenNetwork(tc.addr)
		if network != tc.network || families != tc.families {
			t.Errorf("listenNetwork(%q) = %q, %q; want %q, %q", tc.addr, network, families, tc.network, tc.families)
		}
	}
}

// TestListenBindsWhatWasAsked: listen_addr = "0.0.0.0" binds every IPv4
// interface and not IPv6; "::" binds both (dual stack). The log says which.
func TestListenBindsWhatWasAsked(t *testing.T) {
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	_ = probe.Close()
	for _, tc := range []struct {
		addr, bound, ip string
		ipv6            bool
	}{
		{"0.0.0.0", "0.0.0.0", "ipv4", false},
		{"::", "[::]", "ipv4+ipv6", true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			u := newUpstreams(t)
			dir := t.TempDir()
			port := freePort(t)
			path := writeConfig(t, dir, strings.Replace(u.config(port, filepath.Join(dir, "p.db")),
				`listen_addr = "127.0.0.1"`, fmt.Sprintf("listen_addr = %q", tc.addr), 1))
			in := start(t, []string{"--config", path}, nil)
			if want := fmt.Sprintf("%s:%d", tc.bound, port); in.addr != want {
				t.Errorf("bound %s, want %s", in.addr, want)
			}
			entries := in.logs.FilterMessage("pollux listening").All()
			if len(entries) != 1 || entries[0].ContextMap()["ip"] != tc.ip {
				t.Errorf("listening log = %v, want ip=%s", entries, tc.ip)
			}
			if c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second); err != nil {
				t.Errorf("IPv4 loopback refused: %v", err)
			} else {
				_ = c.Close()
			}
			c, err := net.DialTimeout("tcp6", fmt.Sprintf("[::1]:%d", port), 2*time.Second)
			if err == nil {
				_ = c.Close()
			}
			if accepted := err == nil; accepted != tc.ipv6 {
				t.Errorf("IPv6 loopback accepted = %v, want %v", accepted, tc.ipv6)
			}
		})
	}
}

// TestHealthcheck: "pollux healthcheck" succeeds against the running
// gateway its config describes, and fails (exit 1) when nothing listens.
func TestHealthcheck(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	port := freePort(t)
	path := writeConfig(t, dir, u.config(port, filepath.Join(dir, "p.db")))
	noenv := func(string) string { return "" }

	var out bytes.Buffer
	if err := run(context.Background(), []string{"healthcheck", "--config", path}, noenv, &out); err == nil {
		t.Fatal("healthcheck passed with nothing listening")
	}
	start(t, []string{"--config", path}, nil)
	out.Reset()
	if err := run(context.Background(), []string{"healthcheck", "--config", path}, noenv, &out); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	if want := fmt.Sprintf("healthy: GET http://127.0.0.1:%d/readyz: 200", port); !strings.Contains(out.String(), want) {
		t.Errorf("output %q lacks %q", out.String(), want)
	}

	// The process exits 1 when unhealthy, and never writes a config.
	empty := t.TempDir()
	p := startProcessIn(t, empty, "healthcheck", "--config", filepath.Join(empty, "none.toml"))
	if code := p.exitCode(t); code != 1 {
		t.Errorf("healthcheck with a missing config: exit %d, want 1; %s", code, p.stderr.String())
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("healthcheck wrote %v", entries)
	}
}

func TestProbeHost(t *testing.T) {
	for addr, want := range map[string]string{"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1", "10.0.0.5": "10.0.0.5", "fd00::1": "fd00::1"} {
		if got := probeHost(addr); got != want {
			t.Errorf("probeHost(%q) = %q, want %q", addr, got, want)
		}
	}
}
