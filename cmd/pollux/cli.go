package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/pollux-gateway/pollux/config"
)

// Set at build time, e.g.
//
//	go build -ldflags "-X main.version=v1.4.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/pollux
//
// When empty, the module version and VCS revision the Go toolchain stamped
// into the binary are used.
var (
	version string
	commit  string
)

// printHelp writes "pollux --help".
func printHelp(w io.Writer) {
	var env strings.Builder
	for _, ev := range config.EnvOverrides() {
		fmt.Fprintf(&env, "  %-20s %s\n", ev.Name, ev.Key)
	}
	d := config.Default().Basic
	fmt.Fprintf(w, `Pollux pools Gemini Code Assist seats and ChatGPT (Codex) accounts and serves
them as the Gemini v1beta API (/geminicli) and the OpenAI Responses API
(/codex/v1).

Usage:
  pollux [--config PATH]             run the gateway
  pollux import --from PATH [--config PATH]
                                     import an original Pollux database kept
                                     in another file (with Pollux stopped)
  pollux healthcheck [--config PATH] [--timeout 5s]
                                     exit 0 when the local gateway answers
                                     /readyz (for container health checks)
  pollux --version, pollux version   print the version and commit
  pollux --help, pollux help         print this help

Config file:
  --config PATH, else $POLLUX_CONFIG, else ./config.toml.
  First run: when neither --config nor POLLUX_CONFIG is given and
  ./config.toml does not exist, Pollux writes it from the built-in commented
  template with a new random pollux_key (file mode 0600), prints the key
  once, and starts. A file named by --config or POLLUX_CONFIG must exist.

Environment (each overrides its key in the file when set and non-empty):
%s  POLLUX_CONFIG        the config file, when --config is not given
  GOMEMLIMIT           Go soft memory limit (default 44MiB)
  GOGC                 Go collector target percentage (default 200)

Default address: %s:%d (every IPv4 interface; listen_addr = "::" for IPv6
too). Status page: http://HOST:%d/ . Database: ./data.db.
`, env.String(), d.ListenAddr, d.ListenPort, d.ListenPort)
}

// versionLine is the text of "pollux --version".
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return formatVersion(version, commit, bi)
}

// formatVersion renders the version line from the values set at build time
// and, for what they leave empty, the build information.
func formatVersion(ver, rev string, bi *debug.BuildInfo) string {
	modified, when := false, ""
	if bi != nil {
		if ver == "" && bi.Main.Version != "" {
			ver = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if ver == "" {
		ver = "(devel)"
	}
	c := "unknown"
	if rev != "" {
		c = rev
		if len(c) > 12 {
			c = c[:12]
		}
		if when != "" {
			c += " " + when
		}
		if modified {
			c += " modified"
		}
	}
	return fmt.Sprintf("pollux %s (commit %s) %s %s/%s", ver, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// configError formats a config that failed to load together with its
// warnings: an ignored key often explains the error (a file without its
// [basic] header reports only that pollux_key is not set).
func configError(path string, warnings []config.Warning, err error) error {
	if len(warnings) == 0 {
		return fmt.Errorf("config %s:\n%w", path, err)
	}
	var b strings.Builder
	for _, w := range warnings {
		b.WriteString("\n  ")
		b.WriteString(w.String())
	}
	return fmt.Errorf("config %s:\n%w\nwarnings:%s", path, err, b.String())
}
