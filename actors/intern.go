package actors

import "unique"

// internModel returns the canonical copy of a model name: the model names
// each credential keeps (its quota report's buckets, the scheduler's
// per-model counts and cooldown keys) share one string per model instead of
// holding a copy per credential and report. unique keeps a name only while
// something holds it, so names a client makes up cost nothing for long; a
// pool pins its configured models (poolDeps.models) so theirs never change.
func internModel(m string) string { return unique.Make(m).Value() }

// pinModels returns handles that keep the canonical copies of models.
func pinModels(models []string) []unique.Handle[string] {
	out := make([]unique.Handle[string], len(models))
	for i, m := range models {
		out[i] = unique.Make(m)
	}
	return out
}
