package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// pool is one provider section as the alias and fallback checks see it.
type pool struct {
	prefix string
	p      Provider
}

// serves reports whether name is a model or an alias of the pool, and which.
func (q pool) serves(name string) (what string, ok bool) {
	if slices.Contains(q.p.ModelList, name) {
		return "a model", true
	}
	if _, ok := q.p.Aliases[name]; ok {
		return "an alias", true
	}
	return "", false
}

// aliases checks [<prefix>.aliases] of own against its model_list and
// against the names of other.
func (v *validator) aliases(own, other pool) {
	p := own.p
	for _, name := range slices.Sorted(maps.Keys(p.Aliases)) {
		target := p.Aliases[name]
		key := own.prefix + ".aliases." + name
		if msg := checkModelName(name); msg != "" {
			v.fail(key, "alias name %s", msg)
			continue
		}
		if slices.Contains(p.ModelList, name) {
			v.fail(key, "alias %q shadows the model %q of model_list: an alias must be a new name", name, name)
			continue
		}
		if what, ok := other.serves(name); ok {
			v.fail(key, "alias %q is also %s of %s: a name must mean one model across the pools", name, what, other.prefix)
			continue
		}
		switch {
		case strings.TrimSpace(target) == "":
			v.fail(key, "must name a model of model_list")
		case slices.Contains(p.ModelList, target):
		case p.Aliases[target] != "":
			v.fail(key, "points at the alias %q: point it at a model (%q points at %q)", target, target, p.Aliases[target])
		case slices.Contains(other.p.ModelList, target):
			v.fail(key, "points at %q, a model of %s: an alias points at a model of its own pool", target, other.prefix)
		default:
			v.fail(key, "points at %q, which is not in %s.model_list", target, own.prefix)
		}
	}
}

// fallbacks checks [<prefix>.fallbacks] of own: every key and chain member
// a model of its model_list.
func (v *validator) fallbacks(own, other pool) {
	p := own.p
	for _, model := range slices.Sorted(maps.Keys(p.Fallbacks)) {
		chain := p.Fallbacks[model]
		key := own.prefix + ".fallbacks." + model
		if msg := own.modelOf(model, other); msg != "" {
			v.fail(key, "%s", msg)
			continue
		}
		if len(chain) == 0 {
			v.fail(key, "must list at least one model to fall back to")
			continue
		}
		seen := make(map[string]bool, len(chain))
		for i, m := range chain {
			item := fmt.Sprintf("%s[%d]", key, i)
			switch {
			case m == model:
				v.fail(item, "%q falls back to itself", m)
			case seen[m]:
				v.fail(item, "%q is listed twice", m)
			default:
				if msg := own.modelOf(m, other); msg != "" {
					v.fail(item, "%s", msg)
				}
			}
			seen[m] = true
		}
	}
}

// modelOf returns why name is not a model of q's model_list, "" when it is.
func (q pool) modelOf(name string, other pool) string {
	switch {
	case slices.Contains(q.p.ModelList, name):
		return ""
	case strings.TrimSpace(name) == "":
		return "must name a model of model_list, not be empty"
	case q.p.Aliases[name] != "":
		return fmt.Sprintf("%q is an alias: name its model %q (an alias follows its model's chain)", name, q.p.Aliases[name])
	case slices.Contains(other.p.ModelList, name):
		return fmt.Sprintf("%q is a model of %s: fallbacks stay within one pool", name, other.prefix)
	}
	return fmt.Sprintf("%q is not in %s.model_list", name, q.prefix)
}

// checkModelName returns why name cannot name a model in a request, "" when
// it can.
func checkModelName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "must not be empty"
	case strings.ContainsFunc(name, unicode.IsSpace):
		return fmt.Sprintf("%q must not contain white space", name)
	case strings.HasPrefix(name, "models/"):
		return fmt.Sprintf("%q: write the bare name, without the \"models/\" prefix", name)
	case strings.ContainsAny(name, "/:?#"):
		return fmt.Sprintf("%q must not contain '/', ':', '?' or '#' (it goes into the Gemini URL path)", name)
	}
	return ""
}
