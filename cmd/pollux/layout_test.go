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
// nothing outside transport (and cmd, which wires it) imports Echo. Inside
// transport it enforces the shape of transport/doc.go (see
// transportImportError).
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
		"transport": {"/cmd", "/storage"},
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
			if impRel, ok := strings.CutPrefix(imp, module+"/"); ok {
				if msg := transportImportError(rel, impRel); msg != "" {
					t.Errorf("%s imports %s: %s", rel, impRel, msg)
				}
			}
		}
	}
}

// transportSurfaces are the packages under transport that each serve one
// client surface; sub-packages belong to their surface.
var transportSurfaces = []string{"gemini", "responses", "chat", "messages", "signin", "operations"}

// transportShared are the packages under transport any surface may import:
// the relay kernel, the OpenAI error envelope both OpenAI-shaped surfaces
// write, and the pools' model names. The rule holds whether or not the
// package exists yet.
var transportShared = []string{"relay", "openaierr", "models"}

// transportImportError says what is wrong with package pkg importing imp
// (both relative to the module), "" when nothing is. Inside transport:
//
//   - the root package transport assembles the surfaces: nothing else
//     imports a surface package (cmd imports only the root);
//   - no surface imports another surface, or the root;
//   - a surface may import the shared packages (the relay kernel).
func transportImportError(pkg, imp string) string {
	impSurface, impIsSurface := transportPart(imp, transportSurfaces)
	pkgSurface, pkgIsSurface := transportPart(pkg, transportSurfaces)
	_, pkgIsShared := transportPart(pkg, transportShared)
	switch {
	case impIsSurface && pkg != "transport" && !(pkgIsSurface && pkgSurface == impSurface):
		if pkgIsSurface {
			return "a surface package must not import another surface"
		}
		return "only the root package transport assembles the surface packages"
	case (pkgIsSurface || pkgIsShared) && imp == "transport":
		return "the root package transport assembles its parts; they must not import it"
	}
	return ""
}

// transportPart reports which of parts (packages directly under
// transport) pkg is, or lies below.
func transportPart(pkg string, parts []string) (string, bool) {
	rest, ok := strings.CutPrefix(pkg, "transport/")
	if !ok {
		return "", false
	}
	first, _, _ := strings.Cut(rest, "/")
	for _, p := range parts {
		if first == p {
			return p, true
		}
	}
	return "", false
}

// TestTransportImportRule checks the rule's verdicts on imports that do
// not exist in the tree (yet), so a broken rule cannot pass by default.
func TestTransportImportRule(t *testing.T) {
	for _, tc := range []struct {
		pkg, imp string
		bad      bool
	}{
		{"transport", "transport/gemini", false},
		{"transport", "transport/operations", false},
		{"transport/signin", "transport/relay", false},
		{"transport/responses", "transport/relay", false},
		{"transport/signin/oauthpages", "transport/signin", false},
		{"transport/signin", "transport/signin/oauthpages", false},
		{"transport/operations", "transport/operations/statuspage", false},
		{"transport/operations", "transport/signin", true},
		{"transport/gemini", "transport/responses", true},
		{"transport/responses/codec", "transport/gemini", true},
		{"transport/relay", "transport/gemini", true},
		{"cmd/pollux", "transport/operations", true},
		{"transport/operations", "transport", true},
		{"transport/relay", "transport", true},
		{"transport/signin/oauthpages", "transport/operations", true},
	} {
		if got := transportImportError(tc.pkg, tc.imp) != ""; got != tc.bad {
			t.Errorf("%s importing %s: refused = %v, want %v", tc.pkg, tc.imp, got, tc.bad)
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
