package operations

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/keyring"
)

// The usage report (GET /admin/v1/usage) and the self-service view of one
// key (GET /v1/me); the routes are mounted with the key admin (keys.go).

// usageDims are the dimensions group_by may name, in column order.
var usageDims = [...]string{"key", "model", "provider", "day"}

// UsageRow is one row of a usage report; the dimensions not grouped by are
// left out.
type UsageRow struct {
	Key      string `json:"key,omitempty"`
	KeyID    *int64 `json:"key_id,omitempty"`
	Model    string `json:"model,omitempty"`
	Provider string `json:"provider,omitempty"`
	Day      string `json:"day,omitempty"`
	actors.KeyUsage
}

// UsageReport is the JSON answer of GET /admin/v1/usage.
type UsageReport struct {
	From    string          `json:"from"`
	To      string          `json:"to"`
	GroupBy []string        `json:"group_by"`
	Rows    []UsageRow      `json:"rows"`
	Total   actors.KeyUsage `json:"total"`
}

func (a *keysAPI) usage(c echo.Context) error {
	if _, err := a.store(); err != nil {
		return err
	}
	from, to, err := usageRange(c.QueryParam("from"), c.QueryParam("to"), a.d.Keys.Ring().Now())
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
		return failure(http.StatusBadRequest, "format: must be json or csv")
	}
	if format == "" && strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/csv") {
		format = "csv"
	}
	rows, err := a.d.Keys.Usage(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	report := summarizeUsage(rows, group, c.QueryParam("key"))
	report.From, report.To = from, to
	if format == "csv" {
		return writeUsageCSV(c, report)
	}
	return writeJSON(c, http.StatusOK, report)
}

// usageRange reads from and to (YYYY-MM-DD); to defaults to today (UTC),
// from to 30 days before to.
func usageRange(fromText, toText string, now time.Time) (string, string, error) {
	const layout = "2006-01-02"
	to := now.UTC()
	if toText != "" {
		t, err := time.Parse(layout, toText)
		if err != nil {
			return "", "", failure(http.StatusBadRequest, "to: must be a day as YYYY-MM-DD")
		}
		to = t
	}
	from := to.AddDate(0, 0, -(defaultUsageDays - 1))
	if fromText != "" {
		t, err := time.Parse(layout, fromText)
		if err != nil {
			return "", "", failure(http.StatusBadRequest, "from: must be a day as YYYY-MM-DD")
		}
		from = t
	}
	f, t := from.Format(layout), to.Format(layout)
	switch {
	case f > t:
		return "", "", failure(http.StatusBadRequest, "from: must not be after to")
	case to.Sub(from) > maxUsageDays*24*time.Hour:
		return "", "", failure(http.StatusBadRequest, fmt.Sprintf("from: the range may span at most %d days", maxUsageDays))
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
			return nil, failure(http.StatusBadRequest, fmt.Sprintf("group_by: unknown dimension %q; use key, model, provider and day", d))
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
func summarizeUsage(rows []actors.KeyUsageRow, group []string, keyName string) UsageReport {
	has := func(d string) bool { return slices.Contains(group, d) }
	type groupKey struct {
		keyID                int64
		model, provider, day string
	}
	index := map[groupKey]int{}
	report := UsageReport{GroupBy: group, Rows: []UsageRow{}}
	for _, r := range rows {
		if keyName != "" && r.KeyName != keyName {
			continue
		}
		var gk groupKey
		row := UsageRow{}
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
func writeUsageCSV(c echo.Context, report UsageReport) error {
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

// MeView is the answer of GET /v1/me.
type MeView struct {
	Key      string `json:"key"`
	Operator bool   `json:"operator"`
	// Policy is the member key's (absent for the operator key).
	Policy *MePolicy       `json:"policy,omitempty"`
	Live   *LiveView       `json:"live,omitempty"`
	Today  actors.KeyUsage `json:"today"`
	Month  actors.KeyUsage `json:"this_month"`
}

// MePolicy is a member key's policy in MeView.
type MePolicy struct {
	Surfaces  []string       `json:"surfaces"`
	Models    []string       `json:"models"`
	Limits    keyring.Limits `json:"limits"`
	ExpiresAt *time.Time     `json:"expires_at"`
}

// me serves GET /v1/me: who the calling key is, its policy and usage.
func (a *keysAPI) me(c echo.Context) error {
	if a.d.Caller == nil {
		return failure(http.StatusServiceUnavailable, "the calling key cannot be told in this process")
	}
	name, key, err := a.d.Caller(c)
	if err != nil {
		return err
	}
	out := MeView{Key: name, Operator: key == nil}
	if key != nil {
		v := viewOf(key, a.d.Keys.Ring().Now())
		out.Policy = &MePolicy{Surfaces: v.Surfaces, Models: v.Models, Limits: v.Limits, ExpiresAt: v.ExpiresAt}
		out.Live = &v.Live
	}
	if a.d.Keys != nil {
		now := a.d.Keys.Ring().Now().UTC()
		today := actors.UsageDay(now)
		month := actors.UsageDay(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC))
		rows, err := a.d.Keys.Usage(c.Request().Context(), month, today)
		if err != nil {
			return err
		}
		var keyID int64
		if key != nil {
			keyID = key.ID
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
	return writeJSON(c, http.StatusOK, out)
}
