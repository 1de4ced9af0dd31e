package config

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeps keeps config at the bottom of the import graph: every other
// package imports it, so it may import nothing of ours, and never Echo.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/pollux-gateway/pollux/"
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(dep, module) && dep != module+"config":
			t.Errorf("config imports %s; it may import no other Pollux package", dep)
		case strings.HasPrefix(dep, "github.com/labstack/echo"):
			t.Errorf("config imports %s; only transport may import Echo", dep)
		}
	}
}

// TestPackageDoc checks that the package comment lives in doc.go only.
func TestPackageDoc(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		hasDoc := f.Doc != nil
		switch {
		case name == "doc.go" && !hasDoc:
			t.Error("doc.go has no package comment")
		case name != "doc.go" && hasDoc:
			t.Errorf("%s has a package comment; keep it in doc.go", name)
		}
	}
}
