package transport

import (
	"slices"
	"testing"
)

func TestPoolForModel(t *testing.T) {
	r := newModelRouter(map[string][]string{
		"geminicli": {"gemini-2.5-pro", "shared", "", "gemini-2.5-pro"},
		"codex":     {"gpt-5.2", "shared"},
	})
	only := func(p string) func(string) bool { return func(q string) bool { return q == p } }
	for _, tc := range []struct {
		name, model  string
		speaks       func(string) bool
		want         string
		ok           bool
		wantServedBy []string
	}{
		{"gemini model", "gemini-2.5-pro", nil, "geminicli", true, []string{"geminicli"}},
		{"models/ prefix", "models/gemini-2.5-pro", nil, "geminicli", true, []string{"geminicli"}},
		{"codex model", "gpt-5.2", nil, "codex", true, []string{"codex"}},
		{"both pools: the first in order", "shared", nil, "geminicli", true, []string{"geminicli", "codex"}},
		{"both pools, only codex speaks", "shared", only("codex"), "codex", true, []string{"geminicli", "codex"}},
		{"wrong surface", "gemini-2.5-pro", only("codex"), "", false, []string{"geminicli"}},
		{"unknown", "nope", nil, "", false, nil},
		{"empty", "", nil, "", false, nil},
		{"case matters", "GPT-5.2", nil, "", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, servedBy, ok := r.poolForModel(tc.model, tc.speaks)
			if got != tc.want || ok != tc.ok || !slices.Equal(servedBy, tc.wantServedBy) {
				t.Errorf("poolForModel(%q) = %q, %v, %v; want %q, %v, %v", tc.model, got, servedBy, ok, tc.want, tc.wantServedBy, tc.ok)
			}
		})
	}
}
