package storage_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps storage below the actors and the transport: it may not
// import either, nor the HTTP framework.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not on PATH: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", ".", "./storagetest").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	banned := []string{
		"github.com/pollux-gateway/pollux/actors",
		"github.com/pollux-gateway/pollux/transport",
		"github.com/labstack/echo",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("storage depends on %s", dep)
			}
		}
	}
}
