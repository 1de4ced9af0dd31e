package transport

import (
	"bytes"
	"encoding/csv"
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
//	                                      → 201 {"key": keyView, "secret": "pk-..."}; the secret is shown once
//	GET    /admin/v1/keys                 → {"keys": [keyView...]} by id
//	GET    /admin/v1/keys/{id}            → keyView
//	PATCH  /admin/v1/keys/{id}            any of the create fields → keyView; takes effect on the next request
//	DELETE /admin/v1/keys/{id}            → 204; its usage stays in the reports
//	POST   /admin/v1/keys/{id}:rotate     → {"key": keyView, "secret": "pk-..."}; the old secret stops at once
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

// keyAdminRoutes returns the member-key admin routes (full paths); they are
// mounted in the operator group.
func (s *Server) keyAdminRoutes() []route {
	a := &keysAPI{s: s}
	return []route{
		{http.MethodPost, adminRoot + "/keys", a.create},
		{http.MethodGet, adminRoot + "/keys", a.list},
		{http.MethodGet, adminRoot + "/keys/:id", a.get},
		{http.MethodPatch, adminRoot + "/keys/:id", a.patch},
		{http.MethodDelete, adminRoot + "/keys/:id", a.remove},
		{http.MethodPost, adminRoot + "/keys/:id", a.action},
		{http.MethodGet, adminRoot + "/usage", a.usage},
	}
}

// meRoutes are the self-service routes: any client key reads its own
// policy and usage.
func (s *Server) meRoutes() []route {
	a := &keysAPI{s: s}
	return []route{
		{http.MethodGet, "/v1/me", a.me},
		{http.MethodGet, codexV1 + "/me", a.me},
		{http.MethodGet, geminiV1Beta + "/me", a.me},
		{http.MethodGet, geminiV1 + "/me", a.me},
	}
}

// keysAPI serves the member-key routes.
type keysAPI struct{ s *Server }

// keyView is a member key as the admin API shows it: never its secret.
type keyView struct {
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
	Live       liveView       `json:"live"`
}

// liveView is a key's counters now.
type liveView struct {
	InFlight           int64 `json:"in_flight"`
	RequestsLastMinute int64 `json:"requests_last_minute"`
	TokensToday        int64 `json:"tokens_today"`
	TokensThisMonth    int64 `json:"tokens_this_month"`
}

func viewOf(k *keyring.Key, now time.Time) keyView {
	u := k.Usage(now)
	v := keyView{
		ID: k.ID, Name: k.Name, Note: k.Note, Disabled: k.Disabled,
		CreatedAt: k.Created, UpdatedAt: k.Updated,
		Surfaces: k.Surfaces, Models: k.Models, Limits: k.Limits,
		Live: liveView{InFlight: u.InFlight, RequestsLastMinute: u.RequestsInMin,
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

// keySecretReply is the answer of create and rotate: the only time the
// secret is shown.
type keySecretReply struct {
	Key    keyView `json:"key"`
	Secret string  `json:"secret"`
}

func (a *keysAPI) store() (KeyStore, error) {
	if a.s.keys == nil {
		return nil, &Error{Kind: KindUnavailable, Message: "member keys are not available in this process"}
	}
	return a.s.keys, nil
}

func (a *keysAPI) create(c echo.Context) error {
	keys, err := a.store()
	if err != nil {
		return err
	}
	req, err := decodeKeyRequest(c)
	if err != nil {
		return err
	}
	if req.Name == nil {
		return &Error{Kind: KindInvalidArgument, Message: "name: is required"}
	}
	var row actors.MemberKey
	if err := a.apply(&row, req); err != nil {
		return err
	}
	k, secret, err := keys.Create(c.Request().Context(), row)
	if err != nil {
		return keyStoreError(err)
	}
	a.s.log.Info("member key created", zap.String(keyRequestID, requestID(c)), zap.Int64("key_id", k.ID), zap.String(keyField, k.Name))
	return writeSecret(c, http.StatusCreated, keySecretReply{Key: viewOf(k, a.s.ring.Now()), Secret: secret})
}

func (a *keysAPI) list(c echo.Context) error {
	if _, err := a.store(); err != nil {
		return err
	}
	now := a.s.ring.Now()
	out := struct {
		Keys []keyView `json:"keys"`
	}{Keys: []keyView{}}
	for _, k := range a.s.ring.List() {
		out.Keys = append(out.Keys, viewOf(k, now))
	}
	return keysJSON(c, http.StatusOK, out)
}

func (a *keysAPI) get(c echo.Context) error {
	k, err := a.key(c.Param("id"))
	if err != nil {
		return err
	}
	return keysJSON(c, http.StatusOK, viewOf(k, a.s.ring.Now()))
}

func (a *keysAPI) patch(c echo.Context) error {
	k, err := a.key(c.Param("id"))
	if err != nil {
		return err
	}
	req, err := decodeKeyRequest(c)
	if err != nil {
		return err
	}
	var applyErr error
	updated, err := a.s.keys.Update(c.Request().Context(), k.ID, func(row *actors.MemberKey) error {
		applyErr = a.apply(row, req)
		return applyErr
	})
	if applyErr != nil {
		return applyErr
	}
	if err != nil {
		return keyStoreError(err)
	}
	a.s.log.Info("member key changed", zap.String(keyRequestID, requestID(c)), zap.Int64("key_id", k.ID), zap.String(keyField, updated.Name))
	return keysJSON(c, http.StatusOK, viewOf(updated, a.s.ring.Now()))
}

func (a *keysAPI) remove(c echo.Context) error {
	k, err := a.key(c.Param("id"))
	if err != nil {
		return err
	}
	if err := a.s.keys.Delete(c.Request().Context(), k.ID); err != nil {
		return keyStoreError(err)
	}
	a.s.log.Info("member key deleted", zap.String(keyRequestID, requestID(c)), zap.Int64("key_id", k.ID), zap.String(keyField, k.Name))
	return c.NoContent(http.StatusNoContent)
}

// action serves POST keys/{id}:rotate.
func (a *keysAPI) action(c echo.Context) error {
	idText, verb, ok := strings.Cut(c.Param("id"), ":")
	if !ok || verb != "rotate" {
		return &Error{Kind: KindNotFound, Message: "unknown key action: use POST /admin/v1/keys/{id}:rotate"}
	}
	k, err := a.key(idText)
	if err != nil {
		return err
	}
	rotated, secret, err := a.s.keys.Rotate(c.Request().Context(), k.ID)
	if err != nil {
		return keyStoreError(err)
	}
	a.s.log.Info("member key rotated", zap.String(keyRequestID, requestID(c)), zap.Int64("key_id", k.ID), zap.String(keyField, k.Name))
	return writeSecret(c, http.StatusOK, keySecretReply{Key: viewOf(rotated, a.s.ring.Now()), Secret: secret})
}

// key finds the key of a path id.
func (a *keysAPI) key(idText string) (*keyring.Key, error) {
	if _, err := a.store(); err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return nil, &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("id: %q is not a key id", idText)}
	}
	k := a.s.ring.Get(id)
	if k == nil {
		return nil, &Error{Kind: KindNotFound, Message: fmt.Sprintf("no member key has id %d", id)}
	}
	return k, nil
}

// decodeKeyRequest reads a key body strictly: unknown members and wrong
// types are a 400 naming the field.
func decodeKeyRequest(c echo.Context) (keyRequest, error) {
	body, err := readBody(c)
	if err != nil {
		return keyRequest{}, err
	}
	var req keyRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return keyRequest{}, &Error{Kind: KindInvalidArgument, Message: jsonFieldError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return keyRequest{}, &Error{Kind: KindInvalidArgument, Message: "body: must be one JSON object"}
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
			return &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("note: longer than %d bytes", maxKeyNote)}
		}
		row.Note = *req.Note
	}
	if req.Surfaces != nil {
		list, err := keyring.NormalizeSurfaces(*req.Surfaces)
		if err != nil {
			return &Error{Kind: KindInvalidArgument, Message: err.Error()}
		}
		if len(list) == len(keyring.Surfaces()) {
			list = nil
		}
		row.Surfaces = list
	}
	if req.Models != nil {
		list, err := keyring.NormalizeModels(*req.Models, a.knownModel)
		if err != nil {
			return &Error{Kind: KindInvalidArgument, Message: err.Error()}
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
			return &Error{Kind: KindInvalidArgument, Message: err.Error()}
		}
	}
	if req.ExpiresAt != nil {
		row.Expires = time.Time{}
		if *req.ExpiresAt != "" {
			t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
			if err != nil {
				return &Error{Kind: KindInvalidArgument, Message: "expires_at: must be an RFC 3339 time such as 2026-12-31T23:59:59Z, or \"\" for none"}
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
	for _, list := range a.s.modelLists {
		if slices.Contains(list, model) {
			return true
		}
	}
	return false
}

// validKeyName checks a key name: it is a metrics label and a log field.
func validKeyName(name string) error {
	if name == "" || len(name) > maxKeyName {
		return &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("name: must be 1 to %d characters", maxKeyName)}
	}
	if name == actors.OperatorKeyName {
		return &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("name: %q is reserved for the operator key", name)}
	}
	for i := 0; i < len(name); i++ {
		switch ch := name[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		case (ch == '.' || ch == '_' || ch == '-' || ch == '@' || ch == '+') && i > 0:
			// Not first: a CSV cell starting with - @ + would read as a
			// spreadsheet formula.
		default:
			return &Error{Kind: KindInvalidArgument, Message: "name: use letters, digits and . _ - @ + only, starting with a letter or digit"}
		}
	}
	return nil
}

// keyStoreError maps a KeyStore error to the client's answer.
func keyStoreError(err error) error {
	switch {
	case errors.Is(err, actors.ErrKeyNotFound):
		return &Error{Kind: KindNotFound, Message: "no such member key", Err: err}
	case errors.Is(err, actors.ErrKeyNameTaken):
		return &Error{Kind: KindConflict, Message: "name: another key has this name", Err: err}
	}
	return err
}

// writeSecret answers with a secret, which no cache may keep.
func writeSecret(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return keysJSON(c, status, v)
}

func keysJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("transport: encode reply: %w", err)
	}
	return c.Blob(status, contentTypeJSON, b)
}

// usageDims are the dimensions group_by may name, in column order.
var usageDims = [...]string{"key", "model", "provider", "day"}

// usageRow is one row of a usage report; the dimensions not grouped by are
// left out.
type usageRow struct {
	Key      string `json:"key,omitempty"`
	KeyID    *int64 `json:"key_id,omitempty"`
	Model    string `json:"model,omitempty"`
	Provider string `json:"provider,omitempty"`
	Day      string `json:"day,omitempty"`
	actors.KeyUsage
}

// usageReport is the JSON answer of GET /admin/v1/usage.
type usageReport struct {
	From    string          `json:"from"`
	To      string          `json:"to"`
	GroupBy []string        `json:"group_by"`
	Rows    []usageRow      `json:"rows"`
	Total   actors.KeyUsage `json:"total"`
}

func (a *keysAPI) usage(c echo.Context) error {
	if _, err := a.store(); err != nil {
		return err
	}
	from, to, err := usageRange(c.QueryParam("from"), c.QueryParam("to"), a.s.ring.Now())
	if err != nil {
		return err
	}
	group, err := usageGroupBy(c.QueryParam("group_by"))
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	switch format {
	case "", "json", "csv":
	default:
		return &Error{Kind: KindInvalidArgument, Message: "format: must be json or csv"}
	}
	if format == "" && strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/csv") {
		format = "csv"
	}
	rows, err := a.s.keys.Usage(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	report := summarizeUsage(rows, group, c.QueryParam("key"))
	report.From, report.To = from, to
	if format == "csv" {
		return writeUsageCSV(c, report)
	}
	return keysJSON(c, http.StatusOK, report)
}

// usageRange reads from and to (YYYY-MM-DD); to defaults to today (UTC),
// from to 30 days before to.
func usageRange(fromText, toText string, now time.Time) (string, string, error) {
	const layout = "2006-01-02"
	to := now.UTC()
	if toText != "" {
		t, err := time.Parse(layout, toText)
		if err != nil {
			return "", "", &Error{Kind: KindInvalidArgument, Message: "to: must be a day as YYYY-MM-DD"}
		}
		to = t
	}
	from := to.AddDate(0, 0, -(defaultUsageDays - 1))
	if fromText != "" {
		t, err := time.Parse(layout, fromText)
		if err != nil {
			return "", "", &Error{Kind: KindInvalidArgument, Message: "from: must be a day as YYYY-MM-DD"}
		}
		from = t
	}
	f, t := from.Format(layout), to.Format(layout)
	switch {
	case f > t:
		return "", "", &Error{Kind: KindInvalidArgument, Message: "from: must not be after to"}
	case to.Sub(from) > maxUsageDays*24*time.Hour:
		return "", "", &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("from: the range may span at most %d days", maxUsageDays)}
	}
	return f, t, nil
}

// usageGroupBy reads group_by; empty means every dimension.
func usageGroupBy(text string) ([]string, error) {
	if text == "" {
		return usageDims[:], nil
	}
	var out []string
	for _, d := range strings.Split(text, ",") {
		d = strings.TrimSpace(d)
		if !slices.Contains(usageDims[:], d) {
			return nil, &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("group_by: unknown dimension %q; use key, model, provider and day", d)}
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	// Column order is fixed, whatever order group_by named them in.
	slices.SortFunc(out, func(x, y string) int { return slices.Index(usageDims[:], x) - slices.Index(usageDims[:], y) })
	return out, nil
}

// summarizeUsage sums rows by the group dimensions (and keeps only key
// name keyName when set).
func summarizeUsage(rows []actors.KeyUsageRow, group []string, keyName string) usageReport {
	has := func(d string) bool { return slices.Contains(group, d) }
	type groupKey struct {
		keyID                int64
		model, provider, day string
	}
	index := map[groupKey]int{}
	report := usageReport{GroupBy: group, Rows: []usageRow{}}
	for _, r := range rows {
		if keyName != "" && r.KeyName != keyName {
			continue
		}
		var gk groupKey
		row := usageRow{}
		if has("key") {
			id := r.KeyID
			gk.keyID, row.Key, row.KeyID = r.KeyID, r.KeyName, &id
		}
		if has("model") {
			gk.model, row.Model = r.Model, r.Model
		}
		if has("provider") {
			gk.provider, row.Provider = r.Provider, r.Provider
		}
		if has("day") {
			gk.day, row.Day = r.Day, r.Day
		}
		i, ok := index[gk]
		if !ok {
			i = len(report.Rows)
			index[gk] = i
			report.Rows = append(report.Rows, row)
		}
		report.Rows[i].Add(r.KeyUsage)
		report.Total.Add(r.KeyUsage)
	}
	return report
}

// writeUsageCSV answers a usage report as CSV: the group columns, then the
// counters.
func writeUsageCSV(c echo.Context, report usageReport) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := append(slices.Clone(report.GroupBy), "requests", "errors", "input_tokens", "output_tokens",
		"cached_tokens", "reasoning_tokens", "unknown_tokens")
	_ = w.Write(header)
	for _, r := range report.Rows {
		var rec []string
		for _, d := range report.GroupBy {
			switch d {
			case "key":
				rec = append(rec, r.Key)
			case "model":
				rec = append(rec, r.Model)
			case "provider":
				rec = append(rec, r.Provider)
			case "day":
				rec = append(rec, r.Day)
			}
		}
		for _, n := range []int64{r.Requests, r.Errors, r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens, r.UnknownTokens} {
			rec = append(rec, strconv.FormatInt(n, 10))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("transport: encode csv: %w", err)
	}
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="pollux-usage-%s-%s.csv"`, report.From, report.To))
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

// meView is the answer of GET /v1/me.
type meView struct {
	Key      string `json:"key"`
	Operator bool   `json:"operator"`
	// Policy is the member key's (absent for the operator key).
	Policy *mePolicy       `json:"policy,omitempty"`
	Live   *liveView       `json:"live,omitempty"`
	Today  actors.KeyUsage `json:"today"`
	Month  actors.KeyUsage `json:"this_month"`
}

type mePolicy struct {
	Surfaces  []string       `json:"surfaces"`
	Models    []string       `json:"models"`
	Limits    keyring.Limits `json:"limits"`
	ExpiresAt *time.Time     `json:"expires_at"`
}

// me serves GET /v1/me: who the calling key is, its policy and usage.
func (a *keysAPI) me(c echo.Context) error {
	info := requestInfoOf(c)
	id := identity{name: info.keyName()}
	if id.name == "" {
		var err error
		if id, err = a.s.identify(c.Request()); err != nil {
			return err
		}
		if info != nil {
			info.team.name, info.team.key = id.name, id.key
		}
	} else {
		id.key = info.team.key
	}
	out := meView{Key: id.name, Operator: id.key == nil}
	if id.key != nil {
		v := viewOf(id.key, a.s.ring.Now())
		out.Policy = &mePolicy{Surfaces: v.Surfaces, Models: v.Models, Limits: v.Limits, ExpiresAt: v.ExpiresAt}
		out.Live = &v.Live
	}
	if a.s.keys != nil {
		now := a.s.ring.Now().UTC()
		today := actors.UsageDay(now)
		month := actors.UsageDay(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC))
		rows, err := a.s.keys.Usage(c.Request().Context(), month, today)
		if err != nil {
			return err
		}
		var keyID int64
		if id.key != nil {
			keyID = id.key.ID
		}
		for _, r := range rows {
			if r.KeyID != keyID {
				continue
			}
			out.Month.Add(r.KeyUsage)
			if r.Day == today {
				out.Today.Add(r.KeyUsage)
			}
		}
	}
	return keysJSON(c, http.StatusOK, out)
}
