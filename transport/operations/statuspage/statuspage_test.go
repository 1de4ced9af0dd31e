package statuspage

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get sends one request to a fresh handler.
func get(t *testing.T, method string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, "/status", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// inline returns the contents of the document's only element of the tag.
func inline(t *testing.T, doc, tag string) string {
	t.Helper()
	open, end := "<"+tag+">", "</"+tag+">"
	if n := strings.Count(doc, "<"+tag); n != 1 {
		t.Fatalf("the page has %d <%s> elements, want 1", n, tag)
	}
	_, rest, ok := strings.Cut(doc, open)
	if !ok {
		t.Fatalf("no %s in the page (an element with attributes?)", open)
	}
	content, _, ok := strings.Cut(rest, end)
	if !ok {
		t.Fatalf("no %s in the page", end)
	}
	if strings.TrimSpace(content) == "" {
		t.Fatalf("<%s> is empty: the embedded file was not inlined", tag)
	}
	return content
}

func sha256Source(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// cspDirectives splits a policy into its directives.
func cspDirectives(policy string) map[string]string {
	out := map[string]string{}
	for d := range strings.SplitSeq(policy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if name != "" {
			out[name] = value
		}
	}
	return out
}

func TestPageHeaders(t *testing.T) {
	resp, doc := get(t, http.MethodGet, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	for name, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	csp := cspDirectives(resp.Header.Get("Content-Security-Policy"))
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      sha256Source(inline(t, doc, "script")),
		"style-src":       sha256Source(inline(t, doc, "style")),
		"connect-src":     "'self'",
		"img-src":         "data:",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		"frame-ancestors": "'none'",
	}
	for name, w := range want {
		if got := csp[name]; got != w {
			t.Errorf("CSP %s = %q, want %q", name, got, w)
		}
	}
	for name, v := range csp {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected CSP directive %s %s", name, v)
		}
	}
}

// TestPageSelfContained checks that the page loads nothing from elsewhere
// and covers every credential state the admin API reports.
func TestPageSelfContained(t *testing.T) {
	_, doc := get(t, http.MethodGet, nil)
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|<script[^>]*\ssrc=|<link[^>]*stylesheet|@import|url\(`)
	if m := external.FindAllString(doc, -1); len(m) > 0 {
		t.Errorf("the page refers to external resources: %q", m)
	}
	for _, slot := range []string{styleSlot, scriptSlot} {
		if strings.Contains(doc, slot) {
			t.Errorf("the page still holds the empty %s", slot)
		}
	}
	for _, status := range []string{"active", "cooling", "needs_reauth", "ineligible", "banned", "disabled"} {
		if !strings.Contains(doc, status+":") || !strings.Contains(doc, ".s-"+status) {
			t.Errorf("the page has no label or badge style for status %q", status)
		}
	}
	for _, needle := range []string{"/admin/v1/credentials", "/admin/v1/pool", "/admin/v1/jobs/", "/resource:add?wait=true",
		"sessionStorage", "aria-live", `name="viewport"`} {
		if !strings.Contains(doc, needle) {
			t.Errorf("the page lacks %q", needle)
		}
	}
	if strings.Contains(doc, "innerHTML") || strings.Contains(doc, "console.") {
		t.Errorf("the page uses innerHTML or logs to the console")
	}
}

func TestPageMethods(t *testing.T) {
	_, full := get(t, http.MethodGet, nil)
	etag := Handler().(*page).etag
	cases := []struct {
		name       string
		method     string
		header     http.Header
		wantStatus int
		wantBody   string
	}{
		{name: "GET", method: http.MethodGet, wantStatus: http.StatusOK, wantBody: full},
		{name: "HEAD", method: http.MethodHead, wantStatus: http.StatusOK},
		{name: "revalidation", method: http.MethodGet, header: http.Header{"If-None-Match": {etag}}, wantStatus: http.StatusNotModified},
		{name: "stale etag", method: http.MethodGet, header: http.Header{"If-None-Match": {`"other"`}}, wantStatus: http.StatusOK, wantBody: full},
		{name: "POST", method: http.MethodPost, wantStatus: http.StatusMethodNotAllowed, wantBody: "method not allowed\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.method, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if body != tc.wantBody {
				t.Errorf("body has %d bytes, want %d", len(body), len(tc.wantBody))
			}
			if tc.wantStatus == http.StatusMethodNotAllowed {
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q, want GET, HEAD", got)
				}
			}
		})
	}
}
