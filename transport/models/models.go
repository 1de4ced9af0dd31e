package models

import (
	"maps"
	"slices"
	"strings"
)

// Table is one pool's model names: its models, aliases and fallback chains.
type Table struct {
	models    []string
	served    map[string]bool
	aliases   map[string]string
	fallbacks map[string][]string
	// aliasList is Aliases' answer, sorted by name.
	aliasList []Alias
}

// Alias is one alias and the model it points at.
type Alias struct {
	Name, Model string
}

// Resolution is what a requested model name resolves to.
type Resolution struct {
	// Model is the model the request is served with first.
	Model string
	// Fallbacks are the models that serve the request next, in order,
	// while every credential for the one before is cooling beyond the
	// request's patience. Nil for none.
	Fallbacks []string
	// Alias is the alias the request named, "" when it named a model.
	Alias string
}

// New builds the table of a pool serving models (bare ids; a "models/"
// prefix is dropped), with aliases (name → model) and fallback chains
// (model → models). Entries that config.Validate refuses are left out
// rather than trusted: an alias to a model not served, a chain of a model
// not served, chain members not served or repeated. The maps are copied.
func New(models []string, aliases map[string]string, fallbacks map[string][]string) *Table {
	t := &Table{served: make(map[string]bool, len(models))}
	for _, m := range models {
		m = strings.TrimPrefix(m, "models/")
		if m == "" || t.served[m] {
			continue
		}
		t.served[m] = true
		t.models = append(t.models, m)
	}
	for _, name := range slices.Sorted(maps.Keys(aliases)) {
		target := strings.TrimPrefix(aliases[name], "models/")
		if name == "" || t.served[name] || !t.served[target] {
			continue
		}
		if t.aliases == nil {
			t.aliases = make(map[string]string, len(aliases))
		}
		t.aliases[name] = target
		t.aliasList = append(t.aliasList, Alias{Name: name, Model: target})
	}
	for model, chain := range fallbacks {
		if !t.served[model] {
			continue
		}
		var keep []string
		for _, m := range chain {
			if t.served[m] && m != model && !slices.Contains(keep, m) {
				keep = append(keep, m)
			}
		}
		if len(keep) == 0 {
			continue
		}
		if t.fallbacks == nil {
			t.fallbacks = make(map[string][]string, len(fallbacks))
		}
		t.fallbacks[model] = keep
	}
	return t
}

// Resolve returns the model that serves name: name itself when the pool
// serves it, an alias's model, or ok false for a name the pool does not
// know. A "models/" prefix is ignored.
func (t *Table) Resolve(name string) (model string, ok bool) {
	name = strings.TrimPrefix(name, "models/")
	if t.served[name] {
		return name, true
	}
	model, ok = t.aliases[name]
	return model, ok
}

// Fallbacks returns the fallback chain of model (a model, not an alias),
// nil for none. The slice is the table's: do not modify it.
func (t *Table) Fallbacks(model string) []string { return t.fallbacks[model] }

// Route resolves name and returns its model and that model's chain; ok is
// false for a name the pool does not know.
func (t *Table) Route(name string) (r Resolution, ok bool) {
	model, ok := t.Resolve(name)
	if !ok {
		return Resolution{}, false
	}
	r = Resolution{Model: model, Fallbacks: t.fallbacks[model]}
	if bare := strings.TrimPrefix(name, "models/"); bare != model {
		r.Alias = bare
	}
	return r, true
}

// Models returns the pool's models, in model_list order.
func (t *Table) Models() []string { return slices.Clone(t.models) }

// Aliases returns the pool's aliases, sorted by name.
func (t *Table) Aliases() []Alias { return slices.Clone(t.aliasList) }

// Names returns every name the pool accepts: its models in model_list
// order, then its aliases sorted by name (what a model list shows).
func (t *Table) Names() []string {
	out := slices.Clone(t.models)
	for _, a := range t.aliasList {
		out = append(out, a.Name)
	}
	return out
}

// Chains returns every fallback chain, keyed by model (copies).
func (t *Table) Chains() map[string][]string {
	out := make(map[string][]string, len(t.fallbacks))
	for m, c := range t.fallbacks {
		out[m] = slices.Clone(c)
	}
	return out
}

// Allowed wraps a model allow-list for the names of this pool: a model is
// allowed when allow accepts it; an alias when allow accepts the alias
// itself or its model. A nil allow stays nil (everything is allowed).
func (t *Table) Allowed(allow func(string) bool) func(string) bool {
	if allow == nil {
		return nil
	}
	return func(name string) bool {
		if allow(name) {
			return true
		}
		model, ok := t.aliases[strings.TrimPrefix(name, "models/")]
		return ok && allow(model)
	}
}

// Join is one table of the names of ts, in order (the root's list of every
// pool): a model or alias already named by an earlier table is not taken
// again, and a model keeps the first table's chain.
func Join(ts ...*Table) *Table {
	var ms []string
	aliases := map[string]string{}
	fallbacks := map[string][]string{}
	for _, t := range ts {
		ms = append(ms, t.models...)
		for _, a := range t.aliasList {
			if _, dup := aliases[a.Name]; !dup {
				aliases[a.Name] = a.Model
			}
		}
		for m, c := range t.fallbacks {
			if _, dup := fallbacks[m]; !dup {
				fallbacks[m] = c
			}
		}
	}
	return New(ms, aliases, fallbacks)
}
