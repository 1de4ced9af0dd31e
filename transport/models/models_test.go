package models

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testTable() *Table {
	return New([]string{"gemini-2.5-pro", "models/gemini-2.5-flash", "gemini-2.5-flash-lite"},
		map[string]string{
			"fast":              "gemini-2.5-flash",
			"claude-sonnet-4-5": "gemini-2.5-pro",
			"gemini-2.5-pro":    "gemini-2.5-flash", // shadows a model: left out
			"ghost":             "gemini-9",         // unknown model: left out
		},
		map[string][]string{
			"gemini-2.5-pro":        {"gemini-2.5-flash", "gemini-2.5-flash-lite"},
			"gemini-2.5-flash":      {"gemini-2.5-pro"},                    // mutual chains are fine: not followed
			"gemini-9":              {"gemini-2.5-pro"},                    // unknown model: left out
			"gemini-2.5-flash-lite": {"gemini-2.5-flash-lite", "gemini-9"}, // nothing left: no chain
		})
}

func TestRoute(t *testing.T) {
	tab := testTable()
	tests := []struct {
		name string
		want Resolution
		ok   bool
	}{
		{"gemini-2.5-pro", Resolution{Model: "gemini-2.5-pro", Fallbacks: []string{"gemini-2.5-flash", "gemini-2.5-flash-lite"}}, true},
		{"models/gemini-2.5-pro", Resolution{Model: "gemini-2.5-pro", Fallbacks: []string{"gemini-2.5-flash", "gemini-2.5-flash-lite"}}, true},
		{"gemini-2.5-flash", Resolution{Model: "gemini-2.5-flash", Fallbacks: []string{"gemini-2.5-pro"}}, true},
		{"fast", Resolution{Model: "gemini-2.5-flash", Fallbacks: []string{"gemini-2.5-pro"}, Alias: "fast"}, true},
		{"models/fast", Resolution{Model: "gemini-2.5-flash", Fallbacks: []string{"gemini-2.5-pro"}, Alias: "fast"}, true},
		{"claude-sonnet-4-5", Resolution{Model: "gemini-2.5-pro", Fallbacks: []string{"gemini-2.5-flash", "gemini-2.5-flash-lite"}, Alias: "claude-sonnet-4-5"}, true},
		{"gemini-2.5-flash-lite", Resolution{Model: "gemini-2.5-flash-lite"}, true},
		{"ghost", Resolution{}, false},
		{"gemini-9", Resolution{}, false},
		{"", Resolution{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tab.Route(tt.name)
			if ok != tt.ok {
				t.Fatalf("Route(%q) ok = %v, want %v", tt.name, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Route(%q) (-want +got):\n%s", tt.name, diff)
			}
			model, ok := tab.Resolve(tt.name)
			if ok != tt.ok || model != tt.want.Model {
				t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.name, model, ok, tt.want.Model, tt.ok)
			}
		})
	}
}

func TestListings(t *testing.T) {
	tab := testTable()
	if diff := cmp.Diff([]Alias{{"claude-sonnet-4-5", "gemini-2.5-pro"}, {"fast", "gemini-2.5-flash"}}, tab.Aliases()); diff != "" {
		t.Errorf("Aliases (-want +got):\n%s", diff)
	}
	wantNames := []string{"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "claude-sonnet-4-5", "fast"}
	if diff := cmp.Diff(wantNames, tab.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	wantChains := map[string][]string{"gemini-2.5-pro": {"gemini-2.5-flash", "gemini-2.5-flash-lite"}, "gemini-2.5-flash": {"gemini-2.5-pro"}}
	if diff := cmp.Diff(wantChains, tab.Chains()); diff != "" {
		t.Errorf("Chains (-want +got):\n%s", diff)
	}
	// Copies: changing them leaves the table alone.
	tab.Chains()["gemini-2.5-pro"][0] = "x"
	tab.Aliases()[0].Model = "x"
	if got := tab.Fallbacks("gemini-2.5-pro")[0]; got != "gemini-2.5-flash" {
		t.Errorf("chain changed through a copy: %q", got)
	}
	if got, _ := tab.Resolve("claude-sonnet-4-5"); got != "gemini-2.5-pro" {
		t.Errorf("alias changed through a copy: %q", got)
	}
}

func TestAllowed(t *testing.T) {
	tab := testTable()
	if tab.Allowed(nil) != nil {
		t.Fatal("Allowed(nil) is not nil")
	}
	onlyFlash := tab.Allowed(func(m string) bool { return m == "gemini-2.5-flash" })
	onlyAlias := tab.Allowed(func(m string) bool { return m == "claude-sonnet-4-5" })
	for _, tt := range []struct {
		allow func(string) bool
		name  string
		want  bool
	}{
		{onlyFlash, "gemini-2.5-flash", true},
		{onlyFlash, "fast", true}, // an alias of an allowed model
		{onlyFlash, "gemini-2.5-pro", false},
		{onlyFlash, "claude-sonnet-4-5", false},
		{onlyAlias, "claude-sonnet-4-5", true}, // the alias itself is listed
		{onlyAlias, "gemini-2.5-pro", false},   // its model is not
	} {
		if got := tt.allow(tt.name); got != tt.want {
			t.Errorf("allowed(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
