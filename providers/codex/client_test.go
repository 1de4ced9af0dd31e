package codex

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/sse"
)

func TestModels(t *testing.T) {
	h := newHarness(t, "gpt-5-codex", "gpt-5")
	m := h.client.Models()
	m[0] = "changed"
	if diff := cmp.Diff([]string{"gpt-5-codex", "gpt-5"}, h.client.Models()); diff != "" {
		t.Errorf("Models is not a copy (-want +got):\n%s", diff)
	}
}

func TestSendHeaders(t *testing.T) {
	body := []byte(`{"model":"gpt-5-codex","input":"hi","temperature":0.2}`)
	tests := []struct {
		name   string
		method string
		in     http.Header
		want   map[string]string // header → value; "" means absent
	}{
		{
			name:   "codex cli headers",
			method: MethodResponses,
			in: http.Header{
				"Authorization":         {"Bearer pollux-client-key"},
				"Session-Id":            {"sess-1"},
				"Thread-Id":             {"thread-1"},
				"Originator":            {"codex_exec"},
				"User-Agent":            {"codex_exec/0.99.0 (Mac OS 15.1.0; arm64) iTerm.app/3.5.0"},
				"X-Client-Request-Id":   {"req-1"},
				"X-Codex-Turn-Metadata": {`{"turn":1}`},
				"X-Codex-Window-Id":     {"win-1"},
				"X-Codex-Beta-Features": {"feat"},
				"Cookie":                {"c=1"},
				"X-Forwarded-For":       {"10.0.0.1"},
				"Openai-Organization":   {"org-x"},
				"Accept":                {"application/json"},
				"X-Api-Key":             {"pollux-client-key"},
			},
			want: map[string]string{
				"Accept":                "text/event-stream",
				"Content-Type":          "application/json",
				"Originator":            "codex_exec",
				"Version":               "0.99.0",
				"User-Agent":            "codex_exec/0.99.0 (Mac OS 15.1.0; arm64) iTerm.app/3.5.0",
				"Session_id":            "sess-1",
				"Session-Id":            "",
				"Thread-Id":             "thread-1",
				"X-Client-Request-Id":   "req-1",
				"X-Codex-Turn-Metadata": `{"turn":1}`,
				"X-Codex-Window-Id":     "win-1",
				"X-Codex-Beta-Features": "feat",
				"Cookie":                "",
				"X-Forwarded-For":       "",
				"Openai-Organization":   "",
				"X-Api-Key":             "",
			},
		},
		{
			name:   "sdk client without extras",
			method: MethodResponses,
			in:     http.Header{"Authorization": {"Bearer pollux-client-key"}, "Session_id": {"sess-underscore"}},
			want: map[string]string{
				"Originator": "codex_cli_rs",
				"Version":    "9.9.9",
				"User-Agent": "codex_cli_rs/9.9.9 (Ubuntu 24.04; x86_64) unknown",
				"Session_id": "sess-underscore",
				"Thread-Id":  "",
			},
		},
		{
			name:   "compact",
			method: MethodCompact,
			in:     nil,
			want:   map[string]string{"Accept": "application/json", "Originator": "codex_cli_rs", "Session_id": "", "User-Agent": "codex_cli_rs/9.9.9 (Ubuntu 24.04; x86_64) unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.client.platform = testPlatform
			cred := h.onboarded(t)
			resp, err := h.client.Send(t.Context(), grantOf(cred), &providers.Call{Model: "gpt-5-codex", Method: tt.method, Body: body, Header: tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatal(err)
			}
			if err := resp.Body.Close(); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			path := fakeupstream.Responses
			if tt.method == MethodCompact {
				path = fakeupstream.Compact
			}
			reqs := h.fake.RequestsTo(path)
			if len(reqs) != 1 {
				t.Fatalf("requests to %s = %d, want 1", path, len(reqs))
			}
			got := reqs[0]
			if string(got.Body) != string(body) {
				t.Errorf("body = %s, want it sent as given (Send must not normalise)", got.Body)
			}
			if a := got.Header.Get("Authorization"); a != "Bearer "+cred.AccessToken.Reveal() {
				t.Errorf("Authorization is not the leased token (client key forwarded?)")
			}
			if v := got.Header.Get("chatgpt-account-id"); v != testAccount.ID {
				t.Errorf("chatgpt-account-id = %q, want %q", v, testAccount.ID)
			}
			for name, want := range tt.want {
				if v := got.Header.Get(name); v != want {
					t.Errorf("%s = %q, want %q", name, v, want)
				}
			}
		})
	}
}

func TestSendUnknownMethod(t *testing.T) {
	h := newHarness(t)
	_, err := h.client.Send(t.Context(), providers.Grant{}, &providers.Call{Method: "generateContent"})
	if err == nil {
		t.Fatal("Send accepted an unknown method")
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests sent for an unknown method", n)
	}
}

// TestSendStreamsIncrementally: Send hands back the response while the
// upstream is still holding events, and each event can be read as soon as it
// is sent.
func TestSendStreamsIncrementally(t *testing.T) {
	h := newHarness(t)
	cred := h.onboarded(t)
	gate := make(chan struct{})
	h.fake.Push(fakeupstream.Responses, fakeupstream.Reply{Stream: &fakeupstream.Stream{Events: []fakeupstream.Event{
		{Name: "response.created", Data: `{"type":"response.created","response":{"id":"r1"}}`},
		{Name: "response.completed", Data: `{"type":"response.completed","response":{"id":"r1","output":[]}}`, Gate: gate},
	}}})
	resp, err := h.client.Send(t.Context(), grantOf(cred), &providers.Call{Model: "m", Method: MethodResponses, Body: []byte(`{"model":"m"}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := resp.Body.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, ok := ParseRateLimits(resp.Header); !ok {
		t.Error("no rate-limit headers on the stream")
	}
	rd := sse.NewReader(resp.Body)
	ev, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if info := InspectEvent(ev); info.Type != "response.created" || info.Terminal {
		t.Fatalf("first event = %+v, want a non-terminal response.created", info)
	}
	close(gate)
	ev, err = rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if info := InspectEvent(ev); !info.Completed {
		t.Fatalf("second event = %+v, want response.completed", info)
	}
}

func TestFetchUsage(t *testing.T) {
	h := newHarness(t)
	cred := h.onboarded(t)
	got, err := h.client.FetchUsage(t.Context(), grantOf(cred))
	if err != nil {
		t.Fatal(err)
	}
	want := UsageStatus{
		PlanType: "plus",
		Allowed:  true,
		Limits: RateLimits{
			Primary:   Window{UsedPercent: 12, WindowMinutes: 300, ResetAt: testNow.Add(time.Hour)},
			Secondary: Window{UsedPercent: 3, WindowMinutes: 10080, ResetAt: testNow.Add(24 * time.Hour)},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}

	h.fake.InvalidateAccess(testAccount.ID)
	_, err = h.client.FetchUsage(t.Context(), grantOf(cred))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Outcome.Kind != providers.KindAuthExpired {
		t.Fatalf("err = %v, want an UpstreamError of kind auth_expired", err)
	}
}

// TestFakeRejectsForeignAccount: the fake checks chatgpt-account-id against
// the token, so header mistakes show up as 401s.
func TestFakeRejectsForeignAccount(t *testing.T) {
	h := newHarness(t)
	cred := h.onboarded(t)
	g := grantOf(cred)
	g.Account = "someone-else"
	resp, err := h.client.Send(t.Context(), g, &providers.Call{Model: "m", Method: MethodResponses, Body: []byte(`{"model":"m"}`)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", resp.StatusCode)
	}
	if got := h.client.Classify(resp.StatusCode, resp.Header, body); got.Kind != providers.KindAuthExpired {
		t.Errorf("Classify = %v, want auth_expired", got.Kind)
	}
}
