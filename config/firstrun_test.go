package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
)

// fixedRandom returns a reader of 32 copies of b, the bytes EnsureFile reads.
func fixedRandom(b byte) io.Reader {
	return bytes.NewReader(bytes.Repeat([]byte{b}, 32))
}

func TestExampleDecodesStrictly(t *testing.T) {
	fc := newFileConfig()
	err := toml.NewDecoder(bytes.NewReader(ExampleTOML())).DisallowUnknownFields().Decode(&fc)
	if err != nil {
		var missing *toml.StrictMissingError
		if errors.As(err, &missing) {
			t.Fatalf("example.toml has keys Config does not know:\n%s", missing.String())
		}
		t.Fatalf("decode example.toml: %v", err)
	}
}

func TestExampleMatchesDefaults(t *testing.T) {
	c, warns, err := Parse(bytes.NewReader(ExampleTOML()), "example.toml")
	if err != nil {
		t.Fatalf("Parse(example.toml): %v", err)
	}
	if len(warns) != 0 {
		t.Errorf("example.toml warnings: %v", warns)
	}
	want := Default()
	want.Basic.PolluxKey = examplePlaceholder
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("example.toml does not show the defaults (-Default() +example):\n%s", diff)
	}

	// As shipped, the placeholder key fails validation; with a key set the
	// example is valid.
	if err := c.Validate(); err == nil {
		t.Error("example.toml with the placeholder key validates, want an error")
	}
	c.Basic.PolluxKey = "pollux-real-key"
	if err := c.Validate(); err != nil {
		t.Errorf("example.toml with a key: Validate = %v", err)
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	example := string(ExampleTOML())
	keys := []string{
		"listen_addr", "listen_port", "database_url", "loglevel", "log_format", "pollux_key",
		"admin_key", "insecure_cookie", "metrics_public", "shutdown_timeout_secs",
		"proxy", "retry_max_times", "max_concurrent_per_credential", "queue_timeout_secs",
		"model_list", "custom_api_url", "oauth_auth_url", "oauth_token_url", "oauth_tps",
	}
	for _, k := range keys {
		if !strings.Contains(example, "\n"+k+" = ") {
			t.Errorf("example.toml does not set %s", k)
		}
	}
	if n := strings.Count(example, placeholderLine); n != 1 {
		t.Errorf("example.toml holds %q %d times, want exactly 1 (EnsureFile replaces it)", placeholderLine, n)
	}
}

func TestExampleTOMLReturnsCopy(t *testing.T) {
	b := ExampleTOML()
	b[0] = 'X'
	if ExampleTOML()[0] == 'X' {
		t.Error("editing the result of ExampleTOML changed the embedded file")
	}
}

func TestEnsureFileCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	created, key, err := EnsureFile(path, fixedRandom(0xAB))
	if err != nil {
		t.Fatalf("EnsureFile: %v", err)
	}
	if !created {
		t.Fatal("created = false on a missing file")
	}
	if !strings.HasPrefix(key.Reveal(), "pollux-") || len(key.Reveal()) != len("pollux-")+43 {
		t.Errorf("key %q: want pollux- and 43 base64url characters", key.Reveal())
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}

	c, warns, err := Load(path, envFrom(nil))
	if err != nil {
		t.Fatalf("Load(generated file): %v", err)
	}
	if len(warns) != 0 {
		t.Errorf("generated file warnings: %v", warns)
	}
	if !c.Basic.PolluxKey.Matches(key.Reveal()) {
		t.Error("pollux_key in the file differs from the returned key")
	}

	// Apart from the key line, the file is the example.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(ExampleTOML()), placeholderLine, `pollux_key = "`+key.Reveal()+`"`, 1)
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("generated file (-want +got):\n%s", diff)
	}
}

func TestEnsureFileKeepsExisting(t *testing.T) {
	path := writeFile(t, "# operator's file\n")
	created, key, err := EnsureFile(path, fixedRandom(1))
	if err != nil {
		t.Fatalf("EnsureFile: %v", err)
	}
	if created || !key.IsZero() {
		t.Errorf("EnsureFile on an existing file = (%v, %q), want (false, \"\")", created, key.Reveal())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "# operator's file\n" {
		t.Errorf("existing file changed to %q", data)
	}
}

func TestEnsureFileSecondCallDoesNotOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	_, first, err := EnsureFile(path, fixedRandom(1))
	if err != nil {
		t.Fatal(err)
	}
	created, _, err := EnsureFile(path, fixedRandom(2))
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second EnsureFile reported created = true")
	}
	c, _, err := Load(path, envFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Basic.PolluxKey.Matches(first.Reveal()) {
		t.Error("second EnsureFile replaced the first key")
	}
}

func TestEnsureFileConcurrentStartsCreateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	const n = 8
	results := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], _, errs[i] = EnsureFile(path, fixedRandom(byte(i)))
		})
	}
	wg.Wait()
	createdCount := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("EnsureFile #%d: %v", i, errs[i])
		}
		if results[i] {
			createdCount++
		}
	}
	if createdCount != 1 {
		t.Errorf("%d calls created the file, want exactly 1", createdCount)
	}
}

func TestEnsureFileDifferentRandomDifferentKey(t *testing.T) {
	dir := t.TempDir()
	_, a, err := EnsureFile(filepath.Join(dir, "a.toml"), fixedRandom(1))
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := EnsureFile(filepath.Join(dir, "b.toml"), fixedRandom(2))
	if err != nil {
		t.Fatal(err)
	}
	if a.Reveal() == b.Reveal() {
		t.Errorf("different random input gave the same key %q", a.Reveal())
	}
}

func TestEnsureFileErrors(t *testing.T) {
	tests := []struct {
		name   string
		path   func(t *testing.T) string
		random io.Reader
	}{
		{"short random", func(t *testing.T) string { return filepath.Join(t.TempDir(), "c.toml") }, bytes.NewReader(make([]byte, 5))},
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "no", "c.toml") }, fixedRandom(1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			created, key, err := EnsureFile(path, tc.random)
			if err == nil {
				t.Fatal("EnsureFile succeeded, want an error")
			}
			if created || !key.IsZero() {
				t.Errorf("EnsureFile = (%v, %q), want (false, \"\") on error", created, key.Reveal())
			}
			if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("file exists after a failed EnsureFile (stat: %v)", statErr)
			}
		})
	}
}
