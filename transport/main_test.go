package transport

import (
	"fmt"
	"io"
	"os"
	"testing"
)

// TestMain says once, visibly, when the browser tests will be skipped.
func TestMain(m *testing.M) {
	if os.Getenv(guardChildEnv) != "" {
		os.Exit(runGuardChild())
	}
	if _, err := os.Stat(chromiumPath); err != nil && os.Getenv("CI") == "" {
		noteSkip(fmt.Sprintf("transport: %s not found: the headless-browser tests (status page, sign-in over plain HTTP) are SKIPPED; install it with: apt-get install -y chromium\n", chromiumPath))
	}
	os.Exit(m.Run())
}

// noteSkip writes note where the person running the tests sees it. "go
// test ./..." shows nothing a passing package prints, so the note goes to
// the terminal when there is one, and to stderr (seen with -v, or when the
// package fails) otherwise.
func noteSkip(note string) {
	var w io.Writer = os.Stderr
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer func() { _ = tty.Close() }()
		w = tty
	}
	_, _ = io.WriteString(w, note)
}
