package operations

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/keyring"
)

// Member-key admin API (admin key, or the Pollux key when none is set) and
// the self-service route (any client key):
//
//	POST   /admin/v1/keys                 {name, note?, surfaces?, models?, limits?, expires_at?, disabled?}
//	                                      → 201 {"key": KeyView, "secret": "pk-..."}; the secret is shown once
//	GET    /admin/v1/keys                 → {"keys": [KeyView...]} by id
//	GET    /admin/v1/keys/{id}            → KeyView
//	PATCH  /admin/v1/keys/{id}            any of the create fields → KeyView; takes effect on the next request
//	DELETE /admin/v1/keys/{id}            → 204; its usage stays in the reports
//	POST   /admin/v1/keys/{id}:rotate     → {"key": KeyView, "secret": "pk-..."}; the old secret stops at once
//	GET    /admin/v1/usage?from=&to=&group_by=key,model,provider,day[&key=name][&format=csv]
//	                                      → {"from","to","group_by","rows":[...],"total"}; CSV with
//	                                        Accept: text/csv or format=csv
//	GET    /v1/me (also <surface>/me)     → the calling key's policy, live counters and usage today
//	                                        and this month
//
// Limits of 0 mean none; surfaces and models of [] allow all. Models are
// exact names from a provider's model_list or globs (gemini-2.5-*). Bad
// input is a 400 that names the field.

// maxKeyName and maxKeyNote bound a key's name and note.
const (
	maxKeyName = 64
	maxKeyNote = 512
	// maxUsageDays bounds the range of one usage report.
	maxUsageDays = 366
	// defaultUsageDays is the range of a usage report without from.
	defaultUsageDays = 30
)

// mountKeyAdmin mounts the member-key admin routes.
func (a *API) mountKeyAdmin(add Add) {
	k := &keysAPI{a}
	add(http.MethodPost, adminRoot+"/keys", k.create)
	add(http.MethodGet, adminRoot+"/keys", k.list)
	add(http.MethodGet, adminRoot+"/keys/:id", k.get)
	add(http.MethodPatch, adminRoot+"/keys/:id", k.patch)
	add(http.MethodDelete, adminRoot+"/keys/:id", k.remove)
	add(http.MethodPost, adminRoot+"/keys/:id", k.action)
	add(http.MethodGet, adminRoot+"/usage", k.usage)
}

// mountMe mounts the self-service routes: any client key reads its own
// policy and usage, at /v1/me and under each surface's API root.
func (a *API) mountMe(add Add) {
	k := &keysAPI{a}
	for _, path := range []string{"/v1/me", codexRoot + "/v1/me", geminiRoot + "/v1beta/me", geminiRoot + "/v1/me"} {
		add(http.MethodGet, path, k.me)
	}
}

// keysAPI serves the member-key routes.
type keysAPI struct{ *API }

// KeyView is a member key as the admin API shows it: never its secret.
type KeyView struct {
	ID         int64          `json:"id"`
	Name       string         `json:"name"`
	Note       string         `json:"note"`
	Disabled   bool           `json:"disabled"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	LastUsedAt *time.Time     `json:"last_used_at"`
	ExpiresAt  *time.Time     `json:"expires_at"`
	Surfaces   []string       `json:"surfaces"`
	Models     []string       `json:"models"`
	Limits     keyring.Limits `json:"limits"`
	Live       LiveView       `json:"live"`
}

// LiveView is a key's counters now.
type LiveView struct {
	InFlight           int64 `json:"in_flight"`
	RequestsLastMinute int64 `json:"requests_last_minute"`
	TokensToday        int64 `json:"tokens_today"`
	TokensThisMonth    int64 `json:"tokens_this_month"`
}

func viewOf(k *keyring.Key, now time.Time) KeyView {
	u := k.Usage(now)
	v := KeyView{
		ID: k.ID, Name: k.Name, Note: k.Note, Disabled: k.Disabled,
		CreatedAt: k.Created, UpdatedAt: k.Updated,
		Surfaces: k.Surfaces, Models: k.Models, Limits: k.Limits,
		Live: LiveView{InFlight: u.InFlight, RequestsLastMinute: u.RequestsInMin,
			TokensToday: u.TokensToday, TokensThisMonth: u.TokensThisMonth},
	}
	if len(v.Surfaces) == 0 {
		v.Surfaces = keyring.Surfaces()
	}
	if v.Models == nil {
		v.Models = []string{}
	}
	if t := k.LastUsed(); !t.IsZero() {
		v.LastUsedAt = &t
	}
	if !k.Expires.IsZero() {
		t := k.Expires
		v.ExpiresAt = &t
	}
	return v
}

// keyRequest is the body of POST and PATCH; absent members stay as they are.
type keyRequest struct {
	Name     *string     `json:"name"`
	Note     *string     `json:"note"`
	Surfaces *[]string   `json:"surfaces"`
	Models   *[]string   `json:"models"`
	Limits   *limitsBody `json:"limits"`
	// ExpiresAt is RFC 3339; "" clears it.
	ExpiresAt *string `json:"expires_at"`
	Disabled  *bool   `json:"disabled"`
}

// limitsBody is the limits object; absent members stay as they are.
type limitsBody struct {
	RequestsPerMinute  *int64 `json:"requests_per_minute"`
	ConcurrentRequests *int64 `json:"concurrent_requests"`
	TokensPerDay       *int64 `json:"tokens_per_day"`
	TokensPerMonth     *int64 `json:"tokens_per_month"`
}

// KeySecretReply is the answer of create and rotate: the only time the
// secret is shown.
type KeySecretReply struct {
	Key    KeyView `json:"key"`
	Secret string  `json:"secret"`
}

func (a *keysAPI) store() (KeyAdmin, error) {
	if a.d.Keys == nil {
		return nil, failure(http.StatusServiceUnavailable, "member keys are not available in this process")
	}
	return a.d.Keys, nil
}

func (a *keysAPI) create(c echo.Context) error {
	keys, err := a.store()
	if err != nil {
		return err
	}
	req, err := a.decodeKeyRequest(c)
	if err != nil {
		return err
	}
	if req.Name == nil {
		return failure(http.StatusBadRequest, "name: is required")
	}
	var row actors.MemberKey
	if err := a.apply(&row, req); err != nil {
		return err
	}
	k, secret, err := keys.Create(c.Request().Context(), row)
	if err != nil {
		return keyStoreError(err)
	}
	a.log.Info("member key created", zap.String(keyRequestID, a.d.RequestID(c)), zap.Int64("key_id", k.ID), zap.String(keyName, k.Name))
	return writeSecret(c, http.StatusCreated, KeySecretReply{Key: viewOf(k, a.d.Keys.Ring().Now()), Secret: secret})
}

func (a *keysAPI) list(c echo.Context) error {
	if _, err := a.store(); err != nil {
		return err
	}
	now := a.d.Keys.Ring().Now()
	out := struct {
		Keys []KeyView `json:"keys"`
	}{Keys: []KeyView{}}
	for _, k := range a.d.Keys.Ring().List() {
		out.Keys = append(out.Keys, viewOf(k, now))
	}
	return writeJSON(c, http.StatusOK, out)
}

func (a *keysAPI) get(c echo.Context) error {
	k, err := a.key(c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, viewOf(k, a.d.Keys.Ring().Now()))
}

func (a *keysAPI) patch(c echo.Context) error {
	k, err := a.key(c.Param("id"))
	if err != nil {
		return err
	}
	req, err := a.decodeKeyRequest(c)
	if err != nil {
		return err
	}
	var applyErr error
	updated, err := a.d.Keys.Update(c.Request().Context(), k.ID, func(row *actors.MemberKey) error {
		applyErr = a.apply(row, req)
		return applyErr
	})
	if applyErr != nil {
		return applyErr
	}
	if err != nil {
		return keyStoreError(err)
	}
	a.log.Info("member key changed", zap.String(keyRequestID, a.d.RequestID(c)), zap.Int64("key_id", k.ID), zap.String(keyName, updated.Name))
	return writeJSON(c, http.StatusOK, viewOf(updated, a.d.Keys.Ring().Now()))
}

func (a *keysAPI) remove(c echo.Context) error {
	k, err := a.key(c.Param("id"))
	if err != nil {
		return err
	}
	if err := a.d.Keys.Delete(c.Request().Context(), k.ID); err != nil {
		return keyStoreError(err)
	}
	a.log.Info("member key deleted", zap.String(keyRequestID, a.d.RequestID(c)), zap.Int64("key_id", k.ID), zap.String(keyName, k.Name))
	return c.NoContent(http.StatusNoContent)
}

// action serves POST keys/{id}:rotate.
func (a *keysAPI) action(c echo.Context) error {
	idText, verb, ok := strings.Cut(c.Param("id"), ":")
	if !ok || verb != "rotate" {
		return failure(http.StatusNotFound, "unknown key action: use POST /admin/v1/keys/{id}:rotate")
	}
	k, err := a.key(idText)
	if err != nil {
		return err
	}
	rotated, secret, err := a.d.Keys.Rotate(c.Request().Context(), k.ID)
	if err != nil {
		return keyStoreError(err)
	}
	a.log.Info("member key rotated", zap.String(keyRequestID, a.d.RequestID(c)), zap.Int64("key_id", k.ID), zap.String(keyName, k.Name))
	return writeSecret(c, http.StatusOK, KeySecretReply{Key: viewOf(rotated, a.d.Keys.Ring().Now()), Secret: secret})
}

// key finds the key of a path id.
func (a *keysAPI) key(idText string) (*keyring.Key, error) {
	if _, err := a.store(); err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return nil, failure(http.StatusBadRequest, fmt.Sprintf("id: %q is not a key id", idText))
	}
	k := a.d.Keys.Ring().Get(id)
	if k == nil {
		return nil, failure(http.StatusNotFound, fmt.Sprintf("no member key has id %d", id))
	}
	return k, nil
}

// decodeKeyRequest reads a key body strictly: unknown members and wrong
// types are a 400 naming the field.
func (a *keysAPI) decodeKeyRequest(c echo.Context) (keyRequest, error) {
	body, err := a.d.ReadBody(c)
	if err != nil {
		return keyRequest{}, err
	}
	var req keyRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return keyRequest{}, failure(http.StatusBadRequest, jsonFieldError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return keyRequest{}, failure(http.StatusBadRequest, "body: must be one JSON object")
	}
	return req, nil
}

// jsonFieldError renders a decode error with the field it is about.
func jsonFieldError(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("%s: must be %s, not %s", te.Field, jsonTypeName(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: unknown field ") + ": unknown field"
	}
	return "body: not a valid JSON object: " + err.Error()
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int64":
		return "an integer"
	case "slice":
		return "an array of strings"
	case "struct", "ptr":
		return "an object"
	}
	return "a " + kind
}

// apply checks a request's members and writes them into row.
func (a *keysAPI) apply(row *actors.MemberKey, req keyRequest) error {
	if req.Name != nil {
		if err := validKeyName(*req.Name); err != nil {
			return err
		}
		row.Name = *req.Name
	}
	if req.Note != nil {
		if len(*req.Note) > maxKeyNote {
			return failure(http.StatusBadRequest, fmt.Sprintf("note: longer than %d bytes", maxKeyNote))
		}
		row.Note = *req.Note
	}
	if req.Surfaces != nil {
		list, err := keyring.NormalizeSurfaces(*req.Surfaces)
		if err != nil {
			return failure(http.StatusBadRequest, err.Error())
		}
		if len(list) == len(keyring.Surfaces()) {
			list = nil
		}
		row.Surfaces = list
	}
	if req.Models != nil {
		list, err := keyring.NormalizeModels(*req.Models, a.knownModel)
		if err != nil {
			return failure(http.StatusBadRequest, err.Error())
		}
		row.Models = list
	}
	if l := req.Limits; l != nil {
		set := func(dst *int64, v *int64) {
			if v != nil {
				*dst = *v
			}
		}
		set(&row.RequestsPerMinute, l.RequestsPerMinute)
		set(&row.ConcurrentRequests, l.ConcurrentRequests)
		set(&row.TokensPerDay, l.TokensPerDay)
		set(&row.TokensPerMonth, l.TokensPerMonth)
		lim := keyring.Limits{RequestsPerMinute: row.RequestsPerMinute, ConcurrentRequests: row.ConcurrentRequests,
			TokensPerDay: row.TokensPerDay, TokensPerMonth: row.TokensPerMonth}
		if err := lim.Validate(); err != nil {
			return failure(http.StatusBadRequest, err.Error())
		}
	}
	if req.ExpiresAt != nil {
		row.Expires = time.Time{}
		if *req.ExpiresAt != "" {
			t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
			if err != nil {
				return failure(http.StatusBadRequest, "expires_at: must be an RFC 3339 time such as 2026-12-31T23:59:59Z, or \"\" for none")
			}
			row.Expires = t.UTC()
		}
	}
	if req.Disabled != nil {
		row.Disabled = *req.Disabled
	}
	return nil
}

// knownModel reports whether any provider's model_list has model.
func (a *keysAPI) knownModel(model string) bool {
	for _, list := range a.d.ModelLists {
		if slices.Contains(list, model) {
			return true
		}
	}
	return false
}

// validKeyName checks a key name: it is a metrics label and a log field.
func validKeyName(name string) error {
	if name == "" || len(name) > maxKeyName {
		return failure(http.StatusBadRequest, fmt.Sprintf("name: must be 1 to %d characters", maxKeyName))
	}
	if name == actors.OperatorKeyName {
		return failure(http.StatusBadRequest, fmt.Sprintf("name: %q is reserved for the operator key", name))
	}
	for i := 0; i < len(name); i++ {
		switch ch := name[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		case (ch == '.' || ch == '_' || ch == '-' || ch == '@' || ch == '+') && i > 0:
			// Not first: a CSV cell starting with - @ + would read as a
			// spreadsheet formula.
		default:
			return failure(http.StatusBadRequest, "name: use letters, digits and . _ - @ + only, starting with a letter or digit")
		}
	}
	return nil
}

// keyStoreError maps a KeyStore error to the client's answer.
func keyStoreError(err error) error {
	switch {
	case errors.Is(err, actors.ErrKeyNotFound):
		return failure(http.StatusNotFound, "no such member key")
	case errors.Is(err, actors.ErrKeyNameTaken):
		return failure(http.StatusConflict, "name: another key has this name")
	}
	return err
}

// writeSecret answers with a secret, which no cache may keep.
func writeSecret(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return writeJSON(c, status, v)
}
