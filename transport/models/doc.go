// Package models resolves the model names a client sends to the models a
// pool serves: each pool's model_list, its aliases ([providers.<name>.aliases])
// and its fallback chains ([providers.<name>.fallbacks]). It is pure data,
// built once from the configuration and read by every surface of the pool
// (and by whatever routes a request to a pool by its model name):
//
//	t := models.New(cfg.ModelList, cfg.Aliases, cfg.Fallbacks)
//	t.Resolve("fast")              → "gemini-2.5-flash", true
//	t.Fallbacks("gemini-2.5-pro")  → ["gemini-2.5-flash"]
//	t.Route("fast")                → Resolution{Model, Fallbacks, Alias}
//
// Config validation (config.Validate) guarantees what the table relies on:
// an alias points at a model of model_list and is not itself a model, and
// every chain lists other models of the same pool, each once. A chain is
// the whole list: the listed models' own chains are not followed, so a
// request walks at most 1+len(chain) models and no chain loops.
//
// A Table is immutable after New and safe for concurrent use; the request
// path only reads maps.
package models
