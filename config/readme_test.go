package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeConfigExamplesLoad: every Pollux config shown in the README
// (a toml block with a [basic] table) loads and validates; only the
// warnings it is meant to show come back.
func TestReadmeConfigExamplesLoad(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllSubmatch(readme, -1)
	n := 0
	for _, b := range blocks {
		doc := string(b[1])
		if !strings.Contains(doc, "[basic]") {
			continue // a client's config (Codex CLI), not Pollux's
		}
		n++
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, warns, err := Load(path, envFrom(nil)); err != nil {
			t.Errorf("README example %d does not load: %v\n%s", n, err, doc)
		} else {
			for _, w := range warns {
				t.Logf("README example %d: warning %s", n, w)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Pollux config example found in README.md")
	}
}
