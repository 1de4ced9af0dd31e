package fakeupstream

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func postForm(t *testing.T, ts *httptest.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := ts.Client().Post(ts.URL+string(Token), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := resp.Body.Close(); err != nil {
			t.Error(err)
		}
	}()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("token answer %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, body
}

func TestTokenEndpoint(t *testing.T) {
	s := New()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.AddAccount("rt-0", Account{ID: "acct", Sub: "sub", Email: "e@example.com", PlanType: "pro"})
	refresh := func(rt string) (int, map[string]any) {
		return postForm(t, ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {ClientID}})
	}

	status, body := refresh("rt-0")
	if status != http.StatusOK {
		t.Fatalf("first refresh: status %d, body %v", status, body)
	}
	next, _ := body["refresh_token"].(string)
	if next == "" || next == "rt-0" || s.RefreshToken("acct") != next {
		t.Fatalf("refresh did not rotate: got %q", next)
	}
	if s.Refreshes("acct") != 1 {
		t.Errorf("Refreshes = %d, want 1", s.Refreshes("acct"))
	}

	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string // the nested code or the flat error
	}{
		{"reused", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-0"}, "client_id": {ClientID}}, 401, "refresh_token_reused"},
		{"unknown", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}, "client_id": {ClientID}}, 400, "invalid_grant"},
		{"wrong client", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}, "client_id": {"other"}}, 401, "invalid_client"},
		{"unknown code", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "client_id": {ClientID}}, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := postForm(t, ts, tt.form)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			code, _ := body["error"].(string)
			if nested, ok := body["error"].(map[string]any); ok {
				code, _ = nested["code"].(string)
			}
			if code != tt.wantError {
				t.Errorf("error = %q, want %q", code, tt.wantError)
			}
		})
	}
	if s.RefreshToken("acct") != next {
		t.Error("a failed request changed the live refresh token")
	}
}

func TestPushQueueOrder(t *testing.T) {
	s := New()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.Push(Token, Reply{Status: 503, Body: `{"n":1}`}, Reply{Status: 500, Body: `{"n":2}`})
	for _, want := range []int{503, 500, 400} {
		resp, err := ts.Client().Post(ts.URL+string(Token), "application/x-www-form-urlencoded", strings.NewReader("grant_type=refresh_token&client_id="+ClientID))
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Errorf("status = %d, want %d", resp.StatusCode, want)
		}
	}
	if n := len(s.RequestsTo(Token)); n != 3 {
		t.Errorf("recorded %d token requests, want 3", n)
	}
}
