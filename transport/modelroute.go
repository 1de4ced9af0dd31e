package transport

import (
	"slices"
	"strings"

	"github.com/pollux-gateway/pollux/providers"
)

// modelRouter is the one-base-URL's routing table: which pools serve which
// model. Built once in New from the pools' model lists; read-only after.
type modelRouter struct {
	// order is the pools in routing order (poolOrder).
	order []string
	// servedBy maps a bare model id to the pools that serve it, in order.
	servedBy map[string][]string
}

// poolOrder is the routing order of the pools: a model both pools serve
// goes to the first of them that speaks the route's format. The Gemini CLI
// pool comes first, as everywhere else Pollux lists its pools.
var poolOrder = [...]string{providers.GeminiCLI, providers.Codex}

// newModelRouter builds the table from each provider's model list (bare
// ids, as modelListsOf gives them).
func newModelRouter(lists map[string][]string) *modelRouter {
	r := &modelRouter{order: poolOrder[:], servedBy: map[string][]string{}}
	for _, p := range r.order {
		for _, id := range lists[p] {
			if id == "" || slices.Contains(r.servedBy[id], p) {
				continue
			}
			r.servedBy[id] = append(r.servedBy[id], p)
		}
	}
	return r
}

// poolForModel is the root's model→pool decision, the one place it is
// made: the first pool, in poolOrder, that serves model and that speaks
// the route's client format (speaks; nil: any pool). ok is false when no
// such pool exists; servedBy then lists the pools that serve the model at
// all, empty for a model no pool serves. A "models/" prefix is ignored, as
// the surfaces ignore it.
//
// Model aliases plug in here: an alias resolves to its target model first,
// and the target picks the pool.
func (r *modelRouter) poolForModel(model string, speaks func(provider string) bool) (provider string, servedBy []string, ok bool) {
	servedBy = r.servedBy[strings.TrimPrefix(model, "models/")]
	for _, p := range servedBy {
		if speaks == nil || speaks(p) {
			return p, servedBy, true
		}
	}
	return "", servedBy, false
}
