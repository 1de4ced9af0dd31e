package transport

import (
	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/models"
)

// modelTablesOf builds each pool's model names: model_list, aliases and
// fallback chains (package models).
func modelTablesOf(p config.Providers) map[string]*models.Table {
	return map[string]*models.Table{
		providers.GeminiCLI: models.New(p.GeminiCLI.ModelList, p.GeminiCLI.Aliases, p.GeminiCLI.Fallbacks),
		providers.Codex:     models.New(p.Codex.ModelList, p.Codex.Aliases, p.Codex.Fallbacks),
	}
}

// resolver returns the model resolution of a pool's surfaces: the model a
// requested name is served with, and its fallback chain as far as the
// request's member key may use it. A key limited to some models is
// checked, by Admit, on the name it sent (an alias passes when the key
// allows the alias or its model); a fallback it may not use is left out of
// its chain, so a request is only ever served by a model its key allows.
func (s *Server) resolver(provider string) func(c echo.Context, name string) (models.Resolution, bool) {
	t := s.modelTables[provider]
	return func(c echo.Context, name string) (models.Resolution, bool) {
		r, ok := t.Route(name)
		if !ok || len(r.Fallbacks) == 0 {
			return r, ok
		}
		if allow := modelFilter(c); allow != nil {
			var keep []string
			for _, m := range r.Fallbacks {
				if allow(m) {
					keep = append(keep, m)
				}
			}
			r.Fallbacks = keep
		}
		return r, true
	}
}

// aliasModel returns the model an alias of either pool points at; ok is
// false for a name that is no alias. Alias names are unique across the
// pools and never a model's name (config.Validate).
func (s *Server) aliasModel(name string) (string, bool) {
	for _, t := range s.modelTables {
		if model, ok := t.Resolve(name); ok && model != name {
			return model, true
		}
	}
	return "", false
}

// listFilter is modelFilter for a pool's model lists: an alias is shown
// to a limited key when the key may use it (the alias or its model).
func (s *Server) listFilter(provider string) func(c echo.Context) func(string) bool {
	t := s.modelTables[provider]
	return func(c echo.Context) func(string) bool { return t.Allowed(modelFilter(c)) }
}

// acceptedNames maps each provider to the names its requests may use: its
// models, then its aliases (what a member key's allow-list may name).
func (s *Server) acceptedNames() map[string][]string {
	out := make(map[string][]string, len(s.modelTables))
	for p, t := range s.modelTables {
		out[p] = t.Names()
	}
	return out
}

// metricModelOf is the model label of a request: the model that served
// it, else the model its name stands for (an alias that was not served
// still counts under its model, not as "other").
func (s *Server) metricModelOf(info *requestInfo) string {
	if info.served != "" {
		return info.served
	}
	if model, ok := s.aliasModel(info.model); ok {
		return model
	}
	return info.model
}
