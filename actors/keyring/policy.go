package keyring

import (
	"fmt"
	"path"
	"strings"
)

// The surfaces a key may be allowed; they are the provider names.
const (
	SurfaceGeminiCLI = "geminicli"
	SurfaceCodex     = "codex"
)

// Surfaces lists every surface, in display order.
func Surfaces() []string { return []string{SurfaceGeminiCLI, SurfaceCodex} }

// Limits are a key's limits; 0 means no limit.
type Limits struct {
	RequestsPerMinute  int64 `json:"requests_per_minute"`
	ConcurrentRequests int64 `json:"concurrent_requests"`
	TokensPerDay       int64 `json:"tokens_per_day"`
	TokensPerMonth     int64 `json:"tokens_per_month"`
}

// maxRequestsPerMinute bounds the window a key keeps (8 bytes a request).
const maxRequestsPerMinute = 100_000

// FieldError is a bad value in a key's policy, named by its JSON path.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks every limit is 0 or positive (and the rate within bounds).
func (l Limits) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"requests_per_minute", l.RequestsPerMinute},
		{"concurrent_requests", l.ConcurrentRequests},
		{"tokens_per_day", l.TokensPerDay},
		{"tokens_per_month", l.TokensPerMonth},
	} {
		if f.v < 0 {
			return &FieldError{Field: "limits." + f.name, Message: "must be 0 (no limit) or a positive integer"}
		}
	}
	if l.RequestsPerMinute > maxRequestsPerMinute {
		return &FieldError{Field: "limits.requests_per_minute", Message: fmt.Sprintf("must be at most %d", maxRequestsPerMinute)}
	}
	return nil
}

// NormalizeSurfaces checks and de-duplicates a surface allow-list; an empty
// list allows every surface.
func NormalizeSurfaces(in []string) ([]string, error) {
	var out []string
	for i, s := range in {
		if s != SurfaceGeminiCLI && s != SurfaceCodex {
			return nil, &FieldError{Field: fmt.Sprintf("surfaces[%d]", i),
				Message: fmt.Sprintf("unknown surface %q: use %s", s, strings.Join(Surfaces(), " or "))}
		}
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// NormalizeModels checks a model allow-list of exact names and globs (path.Match
// syntax: *, ?, [...]); the "models/" prefix is dropped. known, when set,
// reports whether an exact name is served here; a glob must be well formed.
// An empty list allows every model.
func NormalizeModels(in []string, known func(model string) bool) ([]string, error) {
	var out []string
	for i, m := range in {
		field := fmt.Sprintf("models[%d]", i)
		m = strings.TrimPrefix(strings.TrimSpace(m), "models/")
		switch {
		case m == "":
			return nil, &FieldError{Field: field, Message: "is empty"}
		case strings.ContainsAny(m, ", \t\n"):
			return nil, &FieldError{Field: field, Message: fmt.Sprintf("%q holds a comma or a space", m)}
		case isGlob(m):
			if _, err := path.Match(m, ""); err != nil {
				return nil, &FieldError{Field: field, Message: fmt.Sprintf("%q is not a valid glob (use *, ? and [...])", m)}
			}
		case known != nil && !known(m):
			return nil, &FieldError{Field: field, Message: fmt.Sprintf("unknown model %q: not in any provider's model_list", m)}
		}
		if !contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// isGlob reports whether a model pattern uses glob syntax.
func isGlob(m string) bool { return strings.ContainsAny(m, "*?[\\") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// modelMatcher answers whether a key may use a model.
type modelMatcher struct {
	all   bool
	exact map[string]struct{}
	globs []string
}

func newModelMatcher(models []string) modelMatcher {
	if len(models) == 0 {
		return modelMatcher{all: true}
	}
	m := modelMatcher{exact: make(map[string]struct{}, len(models))}
	for _, p := range models {
		if isGlob(p) {
			m.globs = append(m.globs, p)
		} else {
			m.exact[p] = struct{}{}
		}
	}
	return m
}

func (m *modelMatcher) allows(model string) bool {
	if m.all {
		return true
	}
	model = strings.TrimPrefix(model, "models/")
	if _, ok := m.exact[model]; ok {
		return true
	}
	for _, g := range m.globs {
		if ok, _ := path.Match(g, model); ok {
			return true
		}
	}
	return false
}
