package gemini

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/transport/models"
)

// Limits advertised for every served model. Code Assist does not report them;
// these are the published limits of the current Gemini Pro and Flash models.
const (
	inputTokenLimit  = 1048576
	outputTokenLimit = 65536
)

// model is one Gemini v1beta Model resource.
type model struct {
	Name                       string   `json:"name"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	Description                string   `json:"description"`
	InputTokenLimit            int      `json:"inputTokenLimit"`
	OutputTokenLimit           int      `json:"outputTokenLimit"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

type modelList struct {
	Models []model `json:"models"`
}

// Models serves the static model resources of the Gemini surface. The JSON
// bodies are encoded once, in NewModels.
type Models struct {
	list []byte
	byID map[string][]byte
	// all is the list's models, for ListAllowed.
	all []model
}

// NewModels builds the model resources for ids (bare ids such as
// "gemini-2.5-pro"); duplicates and empty ids are dropped, order is kept.
func NewModels(ids []string) *Models { return newModels(ids, nil) }

// NewModelsOf is NewModels for a pool's model names: its models, then its
// aliases; an alias's version is its model, and the description names the
// alias's model and the fallback chain.
func NewModelsOf(t *models.Table) *Models { return newModels(t.Names(), t) }

func newModels(ids []string, t *models.Table) *Models {
	m := &Models{byID: make(map[string][]byte, len(ids))}
	all := modelList{Models: []model{}}
	for _, id := range ids {
		id = strings.TrimPrefix(id, "models/")
		if _, dup := m.byID[id]; dup || id == "" {
			continue
		}
		res := model{
			Name:                       "models/" + id,
			Version:                    id,
			DisplayName:                id,
			Description:                "Gemini model " + id + ", served by Pollux from its Gemini CLI credential pool.",
			InputTokenLimit:            inputTokenLimit,
			OutputTokenLimit:           outputTokenLimit,
			SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens"},
		}
		if t != nil {
			describe(&res, id, t)
		}
		m.byID[id] = mustJSON(res)
		all.Models = append(all.Models, res)
	}
	m.list = mustJSON(all)
	m.all = all.Models
	return m
}

// describe names an alias's model and a fallback chain in a model
// resource.
func describe(res *model, id string, t *models.Table) {
	target, ok := t.Resolve(id)
	if !ok {
		return
	}
	if target != id {
		res.Version = target
		res.DisplayName = id + " (" + target + ")"
		res.Description = "Alias of the Gemini model " + target + ", served by Pollux from its Gemini CLI credential pool."
	}
	if chain := t.Fallbacks(target); len(chain) > 0 {
		res.Description += " While every credential for " + target + " is rate-limited, " +
			strings.Join(chain, ", then ") + " serves instead (the answer's modelVersion says which)."
	}
}

// List serves GET models. All models fit in one page, so pageToken is
// ignored and no nextPageToken is returned; pageSize is validated only.
func (m *Models) List(c echo.Context) error {
	if ps := c.QueryParam("pageSize"); ps != "" {
		if n, err := strconv.Atoi(ps); err != nil || n < 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "pageSize must be a non-negative integer")
		}
	}
	return c.JSONBlob(http.StatusOK, m.list)
}

// ListAllowed is List showing only the models (bare ids) allow accepts, for
// a key limited to some models; it encodes the list per call.
func (m *Models) ListAllowed(c echo.Context, allow func(id string) bool) error {
	if ps := c.QueryParam("pageSize"); ps != "" {
		if n, err := strconv.Atoi(ps); err != nil || n < 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "pageSize must be a non-negative integer")
		}
	}
	out := modelList{Models: []model{}}
	for _, md := range m.all {
		if allow(strings.TrimPrefix(md.Name, "models/")) {
			out.Models = append(out.Models, md)
		}
	}
	return c.JSONBlob(http.StatusOK, mustJSON(out))
}

// Get serves GET models/{id}; id may carry the "models/" prefix, escaped or
// as a second path segment.
func (m *Models) Get(c echo.Context) error {
	id := c.Param("id")
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	id = strings.TrimPrefix(id, "models/")
	body, ok := m.byID[id]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("models/%s is not found", id))
	}
	return c.JSONBlob(http.StatusOK, body)
}

// mustJSON encodes values made only of strings, ints and slices of them,
// which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("gemini: encode model: " + err.Error())
	}
	return b
}
