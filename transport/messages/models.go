package messages

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/transport/models"
)

// HeaderVersion is the header every Anthropic client sends; a model list
// asked with it answers in Anthropic's format.
const HeaderVersion = "anthropic-version"

type modelInfo struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

type modelPage struct {
	Data    []modelInfo `json:"data"`
	HasMore bool        `json:"has_more"`
	FirstID *string     `json:"first_id"`
	LastID  *string     `json:"last_id"`
}

// Models serves a pool's model list in Anthropic's format.
type Models struct {
	all []modelInfo
}

// NewModels lists ids (duplicates and empty ids dropped, order kept), each
// created at created.
func NewModels(ids []string, created time.Time) *Models { return newModels(ids, nil, created) }

// NewModelsOf is NewModels for a pool's model names: its models, then its
// aliases, whose display name names their model.
func NewModelsOf(t *models.Table, created time.Time) *Models { return newModels(t.Names(), t, created) }

func newModels(ids []string, t *models.Table, created time.Time) *Models {
	m := &Models{}
	seen := map[string]bool{}
	at := created.UTC().Format(time.RFC3339)
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		name := id
		if t != nil {
			if target, ok := t.Resolve(id); ok && target != id {
				name = id + " (alias of " + target + ")"
			}
		}
		m.all = append(m.all, modelInfo{Type: "model", ID: id, DisplayName: name, CreatedAt: at})
	}
	return m
}

// Negotiate returns handlers for GET models and GET models/{id} that answer
// in Anthropic's format when the request carries anthropic-version and
// hand the request to list and get otherwise. filter, when it returns a
// function, limits the list to the models the request's key may see.
func (m *Models) Negotiate(list, get echo.HandlerFunc, filter func(c echo.Context) func(id string) bool) (echo.HandlerFunc, echo.HandlerFunc) {
	l := func(c echo.Context) error {
		if c.Request().Header.Get(HeaderVersion) == "" {
			return list(c)
		}
		var allow func(string) bool
		if filter != nil {
			allow = filter(c)
		}
		page := modelPage{Data: []modelInfo{}}
		for _, mi := range m.all {
			if allow == nil || allow(mi.ID) {
				page.Data = append(page.Data, mi)
			}
		}
		if n := len(page.Data); n > 0 {
			page.FirstID, page.LastID = &page.Data[0].ID, &page.Data[n-1].ID
		}
		return c.JSON(http.StatusOK, page)
	}
	g := func(c echo.Context) error {
		if c.Request().Header.Get(HeaderVersion) == "" {
			return get(c)
		}
		id := c.Param("id")
		if u, err := url.PathUnescape(id); err == nil {
			id = u
		}
		for _, mi := range m.all {
			if mi.ID == id {
				body, err := json.Marshal(mi)
				if err != nil {
					return err
				}
				return c.Blob(http.StatusOK, contentTypeJSON, body)
			}
		}
		return WriteError(c.Response(), http.StatusNotFound, fmt.Sprintf("model: %s not found", id), 0)
	}
	return l, g
}
