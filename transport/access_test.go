package transport

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pollux-gateway/pollux/config"
)

// expectedAccess classifies a mounted route by its path, independently of
// routes(): the rule the README and the config template state. A route the
// rule does not cover fails the matrix test, so every new route gets a
// decision.
func expectedAccess(path string) (access, bool) {
	switch {
	case path == "/healthz", path == "/readyz", path == statusPageRoot, path == statusPagePath,
		path == geminiCallback, path == codexCallback, path == codexCallbackAlt,
		path == oauthPastePath, strings.HasPrefix(path, deviceStatusPath+"/"):
		return accessOpen, true
	case path == "/metrics":
		return accessMonitor, true
	case strings.HasPrefix(path, adminRoot+"/"),
		strings.HasPrefix(path, geminiRoot+`/resource\:`), strings.HasPrefix(path, openAIRoot+`/resource\:`),
		path == geminiAuthPath, path == codexAuthPath, path == codexDevicePath, strings.HasPrefix(path, codexDevicePath+"/"):
		return accessOperator, true
	case strings.HasPrefix(path, geminiV1Beta+"/"), strings.HasPrefix(path, geminiV1+"/"), strings.HasPrefix(path, codexV1+"/"),
		strings.HasPrefix(path, rootV1+"/"), strings.HasPrefix(path, rootV1Beta+"/"), // /v1/me and the one base URL
		path == openAIRoot+"/backend-api/wham/usage", path == openAIRoot+"/api/codex/usage":
		return accessClient, true
	}
	return 0, false
}

const matrixAdminKey = "matrix-admin-key-0123456789abcdef"

// TestRouteKeyMatrix sends every mounted route each key, with and without
// an admin key set, and checks the key is accepted (any status but 401) or
// refused (401) exactly as the route's group says:
//
//	group     admin key set: pollux / admin      no admin key: pollux
//	open      yes / yes (and no key)             yes
//	client    yes / no                           yes
//	operator  no  / yes                          yes
//	monitor   yes / yes                          yes
func TestRouteKeyMatrix(t *testing.T) {
	param := regexp.MustCompile(`:[a-z]+`)
	for _, withAdmin := range []bool{true, false} {
		h := newHarness(t, harnessOptions{
			mutateCfg: func(c *config.Config) {
				if withAdmin {
					c.Basic.AdminKey = matrixAdminKey
				}
			},
			serverSetup: func(s *Server) {
				if err := s.EnableOAuth(context.Background(), newOAuthMemStore(), OAuthOptions{}); err != nil {
					t.Fatal(err)
				}
			},
		})
		routes := h.srv.Echo().Routes()
		if len(routes) < 40 {
			t.Fatalf("only %d routes mounted", len(routes))
		}
		for _, rt := range routes {
			want, ok := expectedAccess(rt.Path)
			if !ok {
				t.Errorf("%s %s: no access rule covers this route; decide its group in routes() and here", rt.Method, rt.Path)
				continue
			}
			if got := h.srv.access[routeID{rt.Method, rt.Path}]; got != want {
				t.Errorf("%s %s is mounted in group %d, want %d", rt.Method, rt.Path, got, want)
			}
			path := strings.ReplaceAll(param.ReplaceAllString(strings.ReplaceAll(rt.Path, `\:`, "\x00"), "x1"), "\x00", ":")
			keys := []struct {
				name string
				key  string
				ok   bool
			}{
				{"no key", "", want == accessOpen},
				{"wrong key", "wrong-key-0123456789abcdef", want == accessOpen},
				{"pollux key", harnessKey, want != accessOperator || !withAdmin},
			}
			if withAdmin {
				keys = append(keys, struct {
					name string
					key  string
					ok   bool
				}{"admin key", matrixAdminKey, want != accessClient})
			}
			for _, k := range keys {
				name := fmt.Sprintf("admin key set=%v/%s %s/%s", withAdmin, rt.Method, rt.Path, k.name)
				req, err := http.NewRequest(rt.Method, h.ts.URL+path, strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				if k.key != "" {
					req.Header.Set("Authorization", "Bearer "+k.key)
				}
				resp, err := h.ts.Client().Do(req)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				body := readAll(t, resp)
				if refused := resp.StatusCode == http.StatusUnauthorized; refused == k.ok {
					t.Errorf("%s: status %d, want the key %s; body %s", name, resp.StatusCode, map[bool]string{true: "accepted", false: "refused"}[k.ok], body)
				}
			}
		}
	}
}
