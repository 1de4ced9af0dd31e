package relay_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/pollux-gateway/pollux"

// TestSurfaceImportRules enforces the shape of transport's API side: a
// surface is a package under transport that imports the relay; surfaces
// import the relay and no other surface (nor the root transport package);
// the relay imports no surface; none of them imports storage.
func TestSurfaceImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", module+"/transport/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const (
		root      = module + "/transport"
		kernel    = root + "/relay"
		storage   = module + "/storage"
		underRoot = root + "/"
	)
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imps, _ := strings.Cut(line, ": ")
		imports[pkg] = strings.Fields(imps)
	}
	isKernel := func(p string) bool { return p == kernel || strings.HasPrefix(p, kernel+"/") }
	var surfaces []string
	for pkg, imps := range imports {
		if strings.HasPrefix(pkg, underRoot) && !isKernel(pkg) && slices.Contains(imps, kernel) {
			surfaces = append(surfaces, pkg)
		}
	}
	for _, want := range []string{root + "/gemini", root + "/responses"} {
		if !slices.Contains(surfaces, want) {
			t.Errorf("%s does not import the relay; every API surface relays through it", want)
		}
	}
	for pkg, imps := range imports {
		switch {
		case isKernel(pkg):
			for _, imp := range imps {
				if imp == root || (strings.HasPrefix(imp, underRoot) && !isKernel(imp)) {
					t.Errorf("%s imports %s: the relay imports no surface", pkg, imp)
				}
				if imp == storage {
					t.Errorf("%s imports storage", pkg)
				}
			}
		case slices.Contains(surfaces, pkg):
			for _, imp := range imps {
				if imp == root || (slices.Contains(surfaces, imp) && imp != pkg) {
					t.Errorf("%s imports %s: a surface imports no other surface", pkg, imp)
				}
				if imp == storage {
					t.Errorf("%s imports storage", pkg)
				}
			}
		}
	}
}
