package config

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

func TestDeployDockerDatabaseURLIsValid(t *testing.T) {
	dockerfile, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatalf("read Dockerfile: %v", err)
	}
	m := regexp.MustCompile(`POLLUX_DATABASE_URL=(\S+)`).FindSubmatch(dockerfile)
	if m == nil {
		t.Fatal("Dockerfile sets no POLLUX_DATABASE_URL")
	}
	b := Basic{DatabaseURL: string(m[1])}
	if got, want := b.DatabasePath(), "/app/data/pollux.db"; got != want {
		t.Errorf("Dockerfile database path = %q, want %q (inside the /app/data volume)", got, want)
	}
}
