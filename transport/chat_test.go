package transport

import (
	"net/http"
	"strings"
	"testing"
)

// TestChatWithMemberKey: a member key reaches the Chat Completions surface
// over both pools, its model allow-list applies there, the tokens are
// charged to it, and its secret appears in no log line.
func TestChatWithMemberKey(t *testing.T) {
	e := newKeysEnv(t)
	_, secret := e.createKey(`{"name":"chatter","models":["gemini-2.5-pro","gpt-5.2-codex"]}`)
	for _, c := range []struct{ path, body, want string }{
		{"/geminicli/v1beta/openai/chat/completions", `{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}]}`, `"object":"chat.completion"`},
		{"/geminicli/v1/openai/chat/completions", `{"model":"gemini-2.5-pro","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "data: [DONE]"},
		{"/codex/v1/chat/completions", `{"model":"gpt-5.2-codex","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, `"usage":{"prompt_tokens"`},
	} {
		r := e.as(secret, http.MethodPost, c.path, c.body)
		if r.status != http.StatusOK || !strings.Contains(r.body, c.want) {
			t.Errorf("POST %s: %d %s, want 200 with %s", c.path, r.status, r.body, c.want)
		}
	}
	r := e.as(secret, http.MethodPost, "/geminicli/v1beta/openai/chat/completions", `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, `"type":"permission_error"`) {
		t.Errorf("model outside the allow-list: %d %s, want 403 in the OpenAI envelope", r.status, r.body)
	}
	if r := e.send(http.MethodPost, "/codex/v1/chat/completions", `{}`, nil); r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"code":"invalid_api_key"`) {
		t.Errorf("no key: %d %s", r.status, r.body)
	}
	// Usage is charged per provider as on the native surfaces (the fakes
	// report tokens on every answer).
	providers := map[string]int64{}
	for _, row := range e.usage("?group_by=key,provider").Rows {
		if row.Key == "chatter" {
			if row.InputTokens == 0 || row.OutputTokens == 0 || row.UnknownTokens != 0 {
				t.Errorf("usage row %+v: tokens not counted", row)
			}
			providers[row.Provider] = row.Requests
		}
	}
	if providers["geminicli"] < 2 || providers["codex"] != 1 {
		t.Errorf("requests per provider %v, want geminicli >= 2 (one refused at the allow-list may count), codex 1", providers)
	}
	body := strings.TrimPrefix(secret, "pk-")
	for _, entry := range e.logs.All() {
		line := entry.Message
		for k, v := range entry.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		if strings.Contains(line, body) {
			t.Errorf("secret in a log line: %.200s", line)
		}
	}
	if len(e.logs.FilterField(zapString(keyField, "chatter")).All()) < 3 {
		t.Error("the access log does not name the key on the chat requests")
	}
}
