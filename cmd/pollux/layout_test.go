package main

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/pollux-gateway/pollux"

// TestImportRules enforces the dependency direction of ARCHITECTURE.md:
// cmd → transport → actors → providers → config, actors → storage; and
// nothing outside transport (and cmd, which wires it) imports Echo.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := map[string][]string{
		"providers": {"/actors", "/transport", "/storage", "/cmd"},
		"storage":   {"/actors", "/transport", "/providers", "/cmd"},
		"config":    {"/actors", "/transport", "/providers", "/storage", "/cmd"},
		"actors":    {"/transport", "/cmd"},
		"transport": {"/cmd"},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		rel, ok := strings.CutPrefix(pkg, module+"/")
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rel, "/")
		for _, imp := range strings.Fields(imports) {
			for _, bad := range forbidden[top] {
				if strings.HasPrefix(imp, module+bad) {
					t.Errorf("%s imports %s: %s must not depend on %s", rel, imp, top, strings.TrimPrefix(bad, "/"))
				}
			}
			if strings.HasPrefix(imp, "github.com/labstack/echo") && top != "transport" && top != "cmd" {
				t.Errorf("%s imports Echo; only transport may", rel)
			}
		}
	}
}

// TestPackageDocs checks every package of the module has exactly one
// package comment, in its doc.go.
func TestPackageDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "artifacts") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		isDoc := filepath.Base(path) == "doc.go"
		switch {
		case isDoc && f.Doc == nil:
			t.Errorf("%s has no package comment", path)
		case !isDoc && f.Doc != nil:
			t.Errorf("%s has a package comment; keep it in doc.go", path)
		}
		if !isDoc {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), "doc.go")); err != nil {
				t.Errorf("package %s has no doc.go", filepath.Dir(path))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
