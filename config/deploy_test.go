package config

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// deployDir is the deploy folder, relative to this package.
const deployDir = "../deploy"

func TestDeployExampleIsIdentical(t *testing.T) {
	got, err := os.ReadFile(filepath.Join(deployDir, "config.toml.example"))
	if err != nil {
		t.Fatalf("read deploy example: %v", err)
	}
	if !bytes.Equal(got, ExampleTOML()) {
		t.Errorf("deploy/config.toml.example differs from config/example.toml; " +
			"edit config/example.toml, then run: cp config/example.toml deploy/config.toml.example")
	}
}

func TestDeploySystemdStopTimeoutCoversDrain(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(deployDir, "pollux.service"))
	if err != nil {
		t.Fatalf("read unit: %v", err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("pollux.service sets no TimeoutStopSec=<seconds>")
	}
	stop, _ := strconv.Atoi(string(m[1]))
	if drain := Default().Basic.ShutdownTimeoutSecs; stop <= drain {
		t.Errorf("TimeoutStopSec=%d does not exceed the default shutdown_timeout_secs=%d: systemd would kill Pollux mid-drain", stop, drain)
	}
}

// TestDeployDockerKeepsConfigDatabase: the image and the compose example
// once set POLLUX_DATABASE_URL, which overrides the file, so a mounted
// config's database_url (and a mounted data.db) was ignored (issue 11).
// Neither sets it now, and the working directory is the data volume, so the
// default relative database lands in it.
func TestDeployDockerKeepsConfigDatabase(t *testing.T) {
	comment := regexp.MustCompile(`(?m)^\s*#.*$`)
	for _, name := range []string{"Dockerfile", "docker-compose.yml.example"} {
		b, err := os.ReadFile(filepath.Join(deployDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if code := comment.ReplaceAll(b, nil); bytes.Contains(code, []byte("POLLUX_DATABASE_URL")) {
			t.Errorf("%s sets POLLUX_DATABASE_URL: it would override a mounted config's database_url", name)
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	workdirs := regexp.MustCompile(`(?m)^WORKDIR\s+(\S+)$`).FindAllSubmatch(dockerfile, -1)
	if len(workdirs) == 0 {
		t.Fatal("Dockerfile sets no WORKDIR")
	}
	workdir := string(workdirs[len(workdirs)-1][1])
	db := filepath.Join(workdir, Default().Basic.DatabasePath())
	if !strings.HasPrefix(db, "/app/data/") {
		t.Errorf("default database in the image = %q, want it inside the /app/data volume", db)
	}
	if !bytes.Contains(dockerfile, []byte(`VOLUME ["/app/data"]`)) {
		t.Error("Dockerfile declares no /app/data volume")
	}
}

// TestDeployDockerignoreKeepsSecretsOut: configs, .env files and databases
// never enter the build context (they were once copied into the builder
// stage), checked by matching the real paths against .dockerignore with
// Docker's rules for these patterns.
func TestDeployDockerignoreKeepsSecretsOut(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	ignored := func(path string) bool {
		for _, p := range patterns {
			if strings.HasPrefix(p, "!") {
				t.Fatalf("negated pattern %q: this check does not model it", p)
			}
			if ok, _ := filepath.Match(p, path); ok {
				return true
			}
			// "**/" matches any number of leading directories, none included.
			if rest, ok := strings.CutPrefix(p, "**/"); ok {
				parts := strings.Split(path, "/")
				for i := range parts {
					if ok, _ := filepath.Match(rest, strings.Join(parts[i:], "/")); ok {
						return true
					}
				}
			}
		}
		return false
	}
	for _, path := range []string{
		"deploy/config.toml", "deploy/.env", "config.toml", ".env",
		"data.db", "data.db-wal", "data.db-shm", "data.db.lock",
		"deploy/data.db", "deploy/data/pollux.db", "cmd/pollux/data.db",
	} {
		if !ignored(path) {
			t.Errorf(".dockerignore lets %s into the build context", path)
		}
	}
	for _, path := range []string{"go.mod", "cmd/pollux/main.go", "config/example.toml", "deploy/config.toml.example"} {
		if ignored(path) {
			t.Errorf(".dockerignore keeps %s out, but the build needs it", path)
		}
	}
}

// TestDeployHealthChecks: the image and the compose example check health
// with the binary's own probe.
func TestDeployHealthChecks(t *testing.T) {
	comment := regexp.MustCompile(`(?m)^\s*#.*$`)
	for name, want := range map[string]*regexp.Regexp{
		"Dockerfile":                 regexp.MustCompile(`(?m)^HEALTHCHECK .*\\\n\s+CMD \["/usr/local/bin/pollux", "healthcheck"\]$`),
		"docker-compose.yml.example": regexp.MustCompile(`(?m)^    healthcheck:\n      test: \["CMD", "/usr/local/bin/pollux", "healthcheck"\]$`),
	} {
		b, err := os.ReadFile(filepath.Join(deployDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !want.Match(comment.ReplaceAll(b, nil)) {
			t.Errorf("%s has no health check running pollux healthcheck", name)
		}
	}
}

// TestDeploySystemdUnitVerifies runs systemd-analyze verify on the unit
// when the tool is installed, with ExecStart pointed at a stand-in binary
// (verify checks that the command exists).
func TestDeploySystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile(filepath.Join(deployDir, "pollux.service"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pollux")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/bin/pollux")) {
		t.Fatal("pollux.service does not run /usr/local/bin/pollux")
	}
	path := filepath.Join(dir, "pollux.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/pollux"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
