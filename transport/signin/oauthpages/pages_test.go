package oauthpages

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func render(t *testing.T, p *Pages, status int, page Page) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := p.Render(w, status, page); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRender(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		status int
		page   Page
		want   []string
		lack   []string
	}{
		{
			name: "start", status: http.StatusOK,
			page: Start{Provider: "Codex", AuthorizeURL: "https://auth.example/authorize?a=1&b=2", PasteURL: "/oauth/paste?provider=codex",
				CallbackHint: "http://localhost:1455/auth/callback"},
			want: []string{`href="https://auth.example/authorize?a=1&amp;b=2"`, `href="/oauth/paste?provider=codex"`,
				"<code>http://localhost:1455/auth/callback</code>", "Add a Codex account · Pollux"},
		},
		{
			name: "start with the port hint and the device way", status: http.StatusOK,
			page: Start{Provider: "Codex", AuthorizeURL: "https://auth.example/authorize", PasteURL: "/oauth/paste?provider=codex",
				CallbackHint: "http://localhost:1455/auth/callback", CallbackOrigin: "http://localhost:1455",
				PolluxOrigin: "https://pollux.example:8317", DevicePath: "/codex/auth/device"},
			want: []string{"Either change <code>http://localhost:1455</code>", "<code>https://pollux.example:8317</code>",
				`href="/oauth/paste?provider=codex"`, `href="/codex/auth/device"`},
			lack: []string{`http-equiv="refresh"`},
		},
		{
			name: "start without the port hint", status: http.StatusOK,
			page: Start{Provider: "Gemini CLI", AuthorizeURL: "https://auth.example/authorize", PasteURL: "/oauth/paste?provider=geminicli",
				CallbackHint: "http://127.0.0.1:8188/oauth2callback"},
			want: []string{"Copy the <strong>whole address</strong>"},
			lack: []string{"Either change", "device code"},
		},
		{
			name: "device", status: http.StatusOK,
			page: Device{Provider: "Codex", UserCode: "ABCD-<b>", VerificationURL: "https://auth.example/codex/device",
				Expires: "10:45 UTC", RefreshURL: "/oauth/device/ID1?a=1&b=2", RefreshSecs: 5, StatusURL: "https://pollux.example/codex/auth/device/ID1"},
			want: []string{`<meta http-equiv="refresh" content="5;url=/oauth/device/ID1?a=1&amp;b=2">`,
				`href="https://auth.example/codex/device"`, "<code>ABCD-&lt;b&gt;</code>", "until 10:45 UTC",
				"<code>https://pollux.example/codex/auth/device/ID1</code>", `role="status"`},
			lack: []string{"<b>"},
		},
		{
			name: "paste with message", status: http.StatusBadRequest,
			page: Paste{Provider: "Gemini CLI", ProviderID: "geminicli", Action: "/oauth/paste", CallbackHint: "http://localhost:8188/oauth2callback", Message: "try again"},
			want: []string{`<form method="post" action="/oauth/paste">`, `name="provider" value="geminicli"`,
				`<label for="callback_url">`, `id="callback_url" name="callback_url"`, `role="alert">try again<`},
		},
		{
			name: "paste for several flows", status: http.StatusOK,
			page: Paste{Action: "/oauth/paste", CallbackHint: "http://localhost"},
			want: []string{"<h1>Finish signing in</h1>"},
			lack: []string{`name="provider"`, `role="alert"`},
		},
		{
			name: "result escapes provider text", status: http.StatusUnprocessableEntity,
			page: Result{Title: "Account not eligible", Reason: `<script>alert(1)</script>`, URL: "javascript:alert(1)",
				Email: "e@example.com", AccountLabel: "Project", Account: "p-1", TierLabel: "Tier", Tier: "free-tier"},
			want: []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `href="#ZgotmplZ"`, `<h1 class="bad">`,
				"<dt>Project</dt><dd><code>p-1</code></dd>", "<dt>Tier</dt><dd>free-tier</dd>"},
			lack: []string{"<script>", "javascript:", "dedicated account"},
		},
		{
			name: "result with shared-login warning", status: http.StatusOK,
			page: Result{Title: "Account added", OK: true, SharedLoginWarning: true},
			want: []string{`<h1 class="ok">`, "Use a dedicated account", "signed out"},
			lack: []string{"<dl>"},
		},
		{
			name: "problem", status: http.StatusBadRequest,
			page: Problem{Title: "Sign-in expired", Message: "Start again.", Hint: "within 10 minutes"},
			want: []string{`<h1 class="bad">Sign-in expired</h1>`, `role="alert">Start again.<`, `class="hint">within 10 minutes<`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := render(t, p, tt.status, tt.page)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			body := w.Body.String()
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q:\n%s", s, body)
				}
			}
			for _, s := range append(tt.lack, "<script", "<link", " src=", "<img") {
				if strings.Contains(body, s) {
					t.Errorf("page contains %q", s)
				}
			}
			for k, want := range map[string]string{
				"Content-Type":           "text/html; charset=utf-8",
				"Cache-Control":          "no-store",
				"Referrer-Policy":        "no-referrer",
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
			} {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestStyleHash checks that the Content-Security-Policy allows exactly the
// inline stylesheet the pages carry: a mismatch would leave them unstyled.
func TestStyleHash(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	w := render(t, p, http.StatusOK, Problem{Title: "t", Message: "m"})
	body := w.Body.String()
	_, rest, ok := strings.Cut(body, "<style>")
	sheet, _, ok2 := strings.Cut(rest, "</style>")
	if !ok || !ok2 || sheet == "" {
		t.Fatalf("no inline stylesheet in:\n%s", body)
	}
	sum := sha256.Sum256([]byte(sheet))
	want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, want) || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want it to contain %q and default-src 'none'", csp, want)
	}
}
