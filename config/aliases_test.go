package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateAliasesAndFallbacks(t *testing.T) {
	const g, c = "providers.geminicli", "providers.codex"
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string
	}{
		{"valid aliases and chains", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"fast": "gemini-2.5-flash", "claude-sonnet-4-5": "gemini-2.5-pro"}
			cf.Providers.GeminiCLI.Fallbacks = map[string][]string{"gemini-2.5-pro": {"gemini-2.5-flash"}, "gemini-2.5-flash": {"gemini-2.5-pro"}}
			cf.Providers.Codex.Aliases = map[string]string{"codex": "gpt-5.2-codex"}
			cf.Providers.Codex.Fallbacks = map[string][]string{"gpt-5.2-codex": {"gpt-5.2"}}
		}, nil},
		{"alias shadows a model", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"gemini-2.5-pro": "gemini-2.5-flash"}
		}, []string{g + `.aliases.gemini-2.5-pro: alias "gemini-2.5-pro" shadows the model "gemini-2.5-pro" of model_list: an alias must be a new name`}},
		{"alias to an unknown model", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"fast": "gemini-9"}
		}, []string{g + `.aliases.fast: points at "gemini-9", which is not in providers.geminicli.model_list`}},
		{"alias to an empty name", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"fast": " "}
		}, []string{g + `.aliases.fast: must name a model of model_list`}},
		{"alias to another pool's model", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"fast": "gpt-5.2"}
		}, []string{g + `.aliases.fast: points at "gpt-5.2", a model of providers.codex: an alias points at a model of its own pool`}},
		{"alias chain", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"fast": "quick", "quick": "gemini-2.5-flash"}
		}, []string{g + `.aliases.fast: points at the alias "quick": point it at a model ("quick" points at "gemini-2.5-flash")`}},
		{"alias cycle", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"a": "b", "b": "a"}
		}, []string{
			g + `.aliases.a: points at the alias "b": point it at a model ("b" points at "a")`,
			g + `.aliases.b: points at the alias "a": point it at a model ("a" points at "b")`,
		}},
		{"alias naming another pool's model", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"gpt-5.2": "gemini-2.5-pro"}
		}, []string{g + `.aliases.gpt-5.2: alias "gpt-5.2" is also a model of providers.codex: a name must mean one model across the pools`}},
		{"alias in both pools", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"fast": "gemini-2.5-flash"}
			cf.Providers.Codex.Aliases = map[string]string{"fast": "gpt-5.2"}
		}, []string{
			g + `.aliases.fast: alias "fast" is also an alias of providers.codex: a name must mean one model across the pools`,
			c + `.aliases.fast: alias "fast" is also an alias of providers.geminicli: a name must mean one model across the pools`,
		}},
		{"alias name unusable in a path", func(cf *Config) {
			cf.Providers.GeminiCLI.Aliases = map[string]string{"a/b": "gemini-2.5-pro", "models/x": "gemini-2.5-pro", "a b": "gemini-2.5-pro"}
		}, []string{
			g + `.aliases.a b: alias name "a b" must not contain white space`,
			g + `.aliases.a/b: alias name "a/b" must not contain '/', ':', '?' or '#' (it goes into the Gemini URL path)`,
			g + `.aliases.models/x: alias name "models/x": write the bare name, without the "models/" prefix`,
		}},
		{"fallback to itself", func(cf *Config) {
			cf.Providers.GeminiCLI.Fallbacks = map[string][]string{"gemini-2.5-pro": {"gemini-2.5-flash", "gemini-2.5-pro"}}
		}, []string{g + `.fallbacks.gemini-2.5-pro[1]: "gemini-2.5-pro" falls back to itself`}},
		{"fallback listed twice", func(cf *Config) {
			cf.Providers.GeminiCLI.Fallbacks = map[string][]string{"gemini-2.5-pro": {"gemini-2.5-flash", "gemini-2.5-flash"}}
		}, []string{g + `.fallbacks.gemini-2.5-pro[1]: "gemini-2.5-flash" is listed twice`}},
		{"empty chain", func(cf *Config) {
			cf.Providers.GeminiCLI.Fallbacks = map[string][]string{"gemini-2.5-pro": {}}
		}, []string{g + `.fallbacks.gemini-2.5-pro: must list at least one model to fall back to`}},
		{"fallback to another pool", func(cf *Config) {
			cf.Providers.Codex.Fallbacks = map[string][]string{"gpt-5.2": {"gemini-2.5-flash"}}
		}, []string{c + `.fallbacks.gpt-5.2[0]: "gemini-2.5-flash" is a model of providers.geminicli: fallbacks stay within one pool`}},
		{"fallback to an unknown model", func(cf *Config) {
			cf.Providers.Codex.Fallbacks = map[string][]string{"gpt-5.2": {"gpt-9"}}
		}, []string{c + `.fallbacks.gpt-5.2[0]: "gpt-9" is not in providers.codex.model_list`}},
		{"fallback for an unknown model", func(cf *Config) {
			cf.Providers.Codex.Fallbacks = map[string][]string{"gpt-9": {"gpt-5.2"}}
		}, []string{c + `.fallbacks.gpt-9: "gpt-9" is not in providers.codex.model_list`}},
		{"fallback keyed or listed by alias", func(cf *Config) {
			cf.Providers.Codex.Aliases = map[string]string{"codex": "gpt-5.2-codex"}
			cf.Providers.Codex.Fallbacks = map[string][]string{"codex": {"gpt-5.2"}, "gpt-5.2": {"codex"}}
		}, []string{
			c + `.fallbacks.codex: "codex" is an alias: name its model "gpt-5.2-codex" (an alias follows its model's chain)`,
			c + `.fallbacks.gpt-5.2[0]: "codex" is an alias: name its model "gpt-5.2-codex" (an alias follows its model's chain)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := valid()
			tt.modify(&cf)
			if diff := cmp.Diff(tt.want, fieldErrors(t, cf.Validate())); diff != "" {
				t.Errorf("Validate errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadAliasesAndFallbacks: the tables load from the file, and a
// problem in them is reported at its line.
func TestLoadAliasesAndFallbacks(t *testing.T) {
	doc := `[basic]
pollux_key = "k"

[providers.geminicli]
model_list = ["gemini-2.5-pro", "gemini-2.5-flash"]

[providers.geminicli.aliases]
fast = "gemini-2.5-flash"
"claude-sonnet-4-5" = "gemini-2.5-pro"

[providers.geminicli.fallbacks]
"gemini-2.5-pro" = ["gemini-2.5-flash"]
`
	cf, warns := mustParse(t, doc)
	if len(warns) != 0 {
		t.Errorf("warnings = %v, want none", warns)
	}
	g := cf.Providers.GeminiCLI
	if diff := cmp.Diff(map[string]string{"fast": "gemini-2.5-flash", "claude-sonnet-4-5": "gemini-2.5-pro"}, g.Aliases); diff != "" {
		t.Errorf("aliases (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{"gemini-2.5-pro": {"gemini-2.5-flash"}}, g.Fallbacks); diff != "" {
		t.Errorf("fallbacks (-want +got):\n%s", diff)
	}
	if err := cf.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}

	path := writeFile(t, strings.Replace(doc, `fast = "gemini-2.5-flash"`, `fast = "gemini-3-pro"`, 1))
	_, _, err := Load(path, envFrom(nil))
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Load error = %v, want a *FieldError", err)
	}
	if fe.Key != "providers.geminicli.aliases.fast" || fe.Line != 8 {
		t.Errorf("FieldError = %+v, want providers.geminicli.aliases.fast at line 8", fe)
	}
}
