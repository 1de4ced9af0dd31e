package operations

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/keyring"
)

// fakeKeys is a KeyAdmin over a real in-memory key ring and canned usage
// rows: no actors, no database.
type fakeKeys struct {
	ring   *keyring.Ring
	mu     sync.Mutex
	nextID int64
	names  map[string]int64
	rows   []actors.KeyUsageRow
	// from and to are the last usage query's range.
	from, to string
}

func newFakeKeys(now time.Time) *fakeKeys {
	return &fakeKeys{ring: keyring.New(func() time.Time { return now }), names: map[string]int64{}}
}

func (f *fakeKeys) Ring() *keyring.Ring { return f.ring }

func (f *fakeKeys) Create(_ context.Context, row actors.MemberKey) (*keyring.Key, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, taken := f.names[row.Name]; taken {
		return nil, "", actors.ErrKeyNameTaken
	}
	f.nextID++
	row.ID = f.nextID
	secret := fmt.Sprintf("pk-secret-%d-0123456789abcdefghij", row.ID)
	row.Digest = keyring.Digest(secret)
	f.names[row.Name] = row.ID
	return f.ring.Put(row), secret, nil
}

func (f *fakeKeys) Update(_ context.Context, id int64, change func(*actors.MemberKey) error) (*keyring.Key, error) {
	k := f.ring.Get(id)
	if k == nil {
		return nil, actors.ErrKeyNotFound
	}
	row := k.Row()
	if err := change(&row); err != nil {
		return nil, err
	}
	return f.ring.Put(row), nil
}

func (f *fakeKeys) Rotate(_ context.Context, id int64) (*keyring.Key, string, error) {
	k := f.ring.Get(id)
	if k == nil {
		return nil, "", actors.ErrKeyNotFound
	}
	row := k.Row()
	secret := fmt.Sprintf("pk-rotated-%d-0123456789abcdefghij", id)
	row.Digest = keyring.Digest(secret)
	return f.ring.Put(row), secret, nil
}

func (f *fakeKeys) Delete(_ context.Context, id int64) error {
	if f.ring.Get(id) == nil {
		return actors.ErrKeyNotFound
	}
	f.ring.Remove(id)
	return nil
}

func (f *fakeKeys) Usage(_ context.Context, from, to string) ([]actors.KeyUsageRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.from, f.to = from, to
	return f.rows, nil
}

var keysNow = time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)

func newKeysOpsEnv(t *testing.T) (*opsEnv, *fakeKeys) {
	t.Helper()
	keys := newFakeKeys(keysNow)
	env := newOpsEnv(t, func(d *Deps) {
		d.Keys = keys
		d.ModelLists = map[string][]string{"geminicli": {"gemini-2.5-pro"}, "codex": {"gpt-5.2"}}
		d.Caller = func(c echo.Context) (string, *keyring.Key, error) {
			if name := c.Request().Header.Get("X-Test-Key"); name != "" {
				id := keys.names[name]
				return name, keys.ring.Get(id), nil
			}
			return actors.OperatorKeyName, nil, nil
		}
	})
	return env, keys
}

func TestKeyAdminValidation(t *testing.T) {
	env, _ := newKeysOpsEnv(t)
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{}`, "name:"},
		{`{"name":""}`, "name:"},
		{`{"name":"-dash"}`, "name:"},
		{`{"name":"operator"}`, "reserved"},
		{`{"name":"a","colour":"red"}`, `"colour\": unknown field`},
		{`{"name":"a","limits":{"tokens_per_day":"lots"}}`, "limits.tokens_per_day: must be an integer"},
		{`{"name":"a","models":["gpt-9"]}`, "gpt-9"},
		{`{"name":"a","surfaces":["anthropic"]}`, "anthropic"},
		{`{"name":"a","expires_at":"tomorrow"}`, "expires_at:"},
		{`{"name":"a"} {"name":"b"}`, "body: must be one JSON object"},
	} {
		code, body := env.do(http.MethodPost, "/admin/v1/keys", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.field) {
			t.Errorf("%s: %d %s, want 400 naming %q", tc.body, code, body, tc.field)
		}
	}
}

func TestKeyAdminLifecycle(t *testing.T) {
	env, keys := newKeysOpsEnv(t)
	rec := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		req := newRequest(method, path, body)
		w := serve(env, req)
		return w.Code, w.Header(), w.Body.String()
	}
	code, hdr, body := rec(http.MethodPost, "/admin/v1/keys", `{"name":"alice","models":["gemini-2.5-*"],"limits":{"requests_per_minute":10}}`)
	if code != http.StatusCreated || hdr.Get(echo.HeaderCacheControl) != "no-store" {
		t.Fatalf("create: %d %v %s", code, hdr, body)
	}
	var created KeySecretReply
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "pk-secret-") || created.Key.Name != "alice" || created.Key.Limits.RequestsPerMinute != 10 ||
		len(created.Key.Surfaces) != 2 || created.Key.Models[0] != "gemini-2.5-*" {
		t.Errorf("created = %+v", created)
	}
	if code, body := env.do(http.MethodPost, "/admin/v1/keys", `{"name":"alice"}`); code != http.StatusConflict {
		t.Errorf("duplicate name: %d %s, want 409", code, body)
	}
	id := created.Key.ID
	path := fmt.Sprintf("/admin/v1/keys/%d", id)
	code, body = env.do(http.MethodPatch, path, `{"note":"laptop","limits":{"tokens_per_day":500}}`)
	if code != http.StatusOK || !strings.Contains(body, `"note":"laptop"`) || !strings.Contains(body, `"requests_per_minute":10`) ||
		!strings.Contains(body, `"tokens_per_day":500`) {
		t.Errorf("patch: %d %s, want the note and both limits", code, body)
	}
	if strings.Contains(body, created.Secret) {
		t.Error("a key view shows the secret")
	}
	code, hdr, body = rec(http.MethodPost, path+":rotate", "")
	if code != http.StatusOK || hdr.Get(echo.HeaderCacheControl) != "no-store" || !strings.Contains(body, "pk-rotated-") {
		t.Errorf("rotate: %d %s", code, body)
	}
	if k, _ := keys.ring.Authorize(keyring.Digest(created.Secret)); k != nil {
		t.Error("the old secret still authorizes after the rotation")
	}
	if code, body := env.do(http.MethodPost, path+":explode", ""); code != http.StatusNotFound {
		t.Errorf("unknown action: %d %s", code, body)
	}
	if code, _ := env.do(http.MethodDelete, path, ""); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	for _, p := range []string{path, "/admin/v1/keys/x"} {
		if code, body := env.do(http.MethodGet, p, ""); code != http.StatusNotFound && code != http.StatusBadRequest {
			t.Errorf("GET %s after delete: %d %s", p, code, body)
		}
	}
	if _, body := env.do(http.MethodGet, "/admin/v1/keys", ""); body != `{"keys":[]}` {
		t.Errorf("list after delete: %s", body)
	}
}

func TestUsageReport(t *testing.T) {
	env, keys := newKeysOpsEnv(t)
	keys.rows = []actors.KeyUsageRow{
		{KeyID: 1, KeyName: "alice", Provider: "geminicli", Model: "m1", Day: "2026-12-05", KeyUsage: actors.KeyUsage{Requests: 2, InputTokens: 10}},
		{KeyID: 1, KeyName: "alice", Provider: "geminicli", Model: "m2", Day: "2026-12-06", KeyUsage: actors.KeyUsage{Requests: 1, InputTokens: 5}},
		{KeyID: 0, KeyName: "operator", Provider: "codex", Model: "c1", Day: "2026-12-06", KeyUsage: actors.KeyUsage{Requests: 4, Errors: 1}},
	}
	code, body := env.do(http.MethodGet, "/admin/v1/usage?group_by=provider,key", "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var rep UsageReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if keys.to != "2026-12-06" || keys.from != "2026-11-07" || rep.From != keys.from || rep.To != keys.to {
		t.Errorf("range %s..%s (report %s..%s), want the 30 days to today", keys.from, keys.to, rep.From, rep.To)
	}
	if strings.Join(rep.GroupBy, ",") != "key,provider" || len(rep.Rows) != 2 || rep.Rows[0].Key != "alice" ||
		rep.Rows[0].Requests != 3 || rep.Rows[0].InputTokens != 15 || rep.Total.Requests != 7 || rep.Total.Errors != 1 {
		t.Errorf("report = %+v", rep)
	}
	req := newRequest(http.MethodGet, "/admin/v1/usage?group_by=day&key=alice", "")
	req.Header.Set(echo.HeaderAccept, "text/csv")
	w := serve(env, req)
	if want := "day,requests,errors,input_tokens,output_tokens,cached_tokens,reasoning_tokens,unknown_tokens\n" +
		"2026-12-05,2,0,10,0,0,0,0\n2026-12-06,1,0,5,0,0,0,0\n"; w.Body.String() != want {
		t.Errorf("csv:\n%s\nwant\n%s", w.Body.String(), want)
	}
	for _, q := range []string{"?group_by=week", "?from=2026-12-07&to=2026-12-06", "?from=2020-01-01", "?format=xml"} {
		if code, body := env.do(http.MethodGet, "/admin/v1/usage"+q, ""); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", q, code, body)
		}
	}
}

func TestMe(t *testing.T) {
	env, keys := newKeysOpsEnv(t)
	if code, body := env.do(http.MethodPost, "/admin/v1/keys", `{"name":"bob","surfaces":["codex"]}`); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	keys.rows = []actors.KeyUsageRow{
		{KeyID: 1, KeyName: "bob", Day: "2026-12-01", KeyUsage: actors.KeyUsage{Requests: 3}},
		{KeyID: 1, KeyName: "bob", Day: "2026-12-06", KeyUsage: actors.KeyUsage{Requests: 2}},
		{KeyID: 0, KeyName: "operator", Day: "2026-12-06", KeyUsage: actors.KeyUsage{Requests: 9}},
	}
	req := newRequest(http.MethodGet, "/codex/v1/me", "")
	req.Header.Set("X-Test-Key", "bob")
	var me MeView
	if err := json.Unmarshal(serve(env, req).Body.Bytes(), &me); err != nil {
		t.Fatal(err)
	}
	if me.Key != "bob" || me.Operator || me.Policy == nil || me.Policy.Surfaces[0] != "codex" ||
		me.Month.Requests != 5 || me.Today.Requests != 2 || keys.from != "2026-12-01" || keys.to != "2026-12-06" {
		t.Errorf("me = %+v (usage %s..%s)", me, keys.from, keys.to)
	}
	_, body := env.do(http.MethodGet, "/v1/me", "")
	var op MeView
	if err := json.Unmarshal([]byte(body), &op); err != nil || op.Key != actors.OperatorKeyName || !op.Operator ||
		op.Policy != nil || op.Today.Requests != 9 {
		t.Errorf("operator me = %s", body)
	}
}
