package responses

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/transport/models"
)

// model is one OpenAI model object.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// AliasOf and Fallbacks are Pollux's own members (clients ignore
	// members they do not know): the model an alias serves, and the
	// fallback chain of the model that serves this id.
	AliasOf   string   `json:"alias_of,omitempty"`
	Fallbacks []string `json:"fallbacks,omitempty"`
}

type modelList struct {
	Object string  `json:"object"`
	Data   []model `json:"data"`
}

// Models serves a static OpenAI-style model list. The JSON bodies are
// encoded once, in NewModels.
type Models struct {
	list []byte
	byID map[string][]byte
	// all is the list, for ListAllowed.
	all modelList
}

// NewModels builds the model objects for ids, each owned by ownedBy and
// created at created (Pollux uses its start time). Duplicates and empty ids
// are dropped, order is kept.
func NewModels(ids []string, ownedBy string, created time.Time) *Models {
	return newModels(ids, nil, ownedBy, created)
}

// NewModelsOf is NewModels for a pool's model names: its models, then its
// aliases, each alias naming its model (alias_of) and every entry its
// fallback chain (fallbacks).
func NewModelsOf(t *models.Table, ownedBy string, created time.Time) *Models {
	return newModels(t.Names(), t, ownedBy, created)
}

func newModels(ids []string, t *models.Table, ownedBy string, created time.Time) *Models {
	m := &Models{byID: make(map[string][]byte, len(ids))}
	all := modelList{Object: "list", Data: []model{}}
	for _, id := range ids {
		if _, dup := m.byID[id]; dup || id == "" {
			continue
		}
		obj := model{ID: id, Object: "model", Created: created.Unix(), OwnedBy: ownedBy}
		if t != nil {
			if target, ok := t.Resolve(id); ok {
				if target != id {
					obj.AliasOf = target
				}
				obj.Fallbacks = t.Fallbacks(target)
			}
		}
		m.byID[id] = mustJSON(obj)
		all.Data = append(all.Data, obj)
	}
	m.list = mustJSON(all)
	m.all = all
	return m
}

// Join is one list of the models of ms, in order, each keeping its owner
// (the root's list of every pool); a model already listed is not repeated.
func Join(ms ...*Models) *Models {
	out := &Models{byID: map[string][]byte{}, all: modelList{Object: "list", Data: []model{}}}
	for _, m := range ms {
		for _, md := range m.all.Data {
			if _, dup := out.byID[md.ID]; dup {
				continue
			}
			out.byID[md.ID] = m.byID[md.ID]
			out.all.Data = append(out.all.Data, md)
		}
	}
	out.list = mustJSON(out.all)
	return out
}

// List serves GET models.
func (m *Models) List(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, m.list)
}

// ListAllowed is List showing only the models allow accepts, for a key
// limited to some models; it encodes the list per call.
func (m *Models) ListAllowed(c echo.Context, allow func(id string) bool) error {
	out := modelList{Object: m.all.Object, Data: []model{}}
	for _, md := range m.all.Data {
		if allow(md.ID) {
			out.Data = append(out.Data, md)
		}
	}
	return c.JSONBlob(http.StatusOK, mustJSON(out))
}

// Get serves GET models/{id}.
func (m *Models) Get(c echo.Context) error {
	id := c.Param("id")
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	body, ok := m.byID[id]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("model %q does not exist", id))
	}
	return c.JSONBlob(http.StatusOK, body)
}

// mustJSON encodes values made only of strings and ints, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("responses: encode model: " + err.Error())
	}
	return b
}
