package transport

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap/zaptest/observer"
)

// surfaceCase is one API surface with a protected route and its 401 bodies.
type surfaceCase struct {
	name        string
	path        string
	wantMissing string
	wantInvalid string
}

const missingKeyMessage = "missing API key: send it as Authorization: Bearer, x-api-key, x-goog-api-key or ?key="

var authSurfaces = []surfaceCase{
	{
		name:        "gemini",
		path:        "/geminicli/v1beta/models",
		wantMissing: `{"error":{"code":401,"message":"` + missingKeyMessage + `","status":"UNAUTHENTICATED"}}`,
		wantInvalid: `{"error":{"code":401,"message":"invalid API key","status":"UNAUTHENTICATED"}}`,
	},
	{
		name:        "gemini v1",
		path:        "/geminicli/v1/models",
		wantMissing: `{"error":{"code":401,"message":"` + missingKeyMessage + `","status":"UNAUTHENTICATED"}}`,
		wantInvalid: `{"error":{"code":401,"message":"invalid API key","status":"UNAUTHENTICATED"}}`,
	},
	{
		// The OpenAI-compatible routes beside the Gemini surface answer in
		// the OpenAI envelope, as their clients expect.
		name:        "gemini openai",
		path:        "/geminicli/v1beta/openai/models",
		wantMissing: `{"error":{"message":"` + missingKeyMessage + `","type":"authentication_error","code":"invalid_api_key","param":null}}`,
		wantInvalid: `{"error":{"message":"invalid API key","type":"authentication_error","code":"invalid_api_key","param":null}}`,
	},
	{
		name:        "openai",
		path:        "/codex/v1/models",
		wantMissing: `{"error":{"message":"` + missingKeyMessage + `","type":"authentication_error","code":"invalid_api_key","param":null}}`,
		wantInvalid: `{"error":{"message":"invalid API key","type":"authentication_error","code":"invalid_api_key","param":null}}`,
	},
}

// keyForm attaches a key to a request in one of the accepted ways.
type keyForm struct {
	name  string
	apply func(r *http.Request, key string)
}

var keyForms = []keyForm{
	{"bearer", func(r *http.Request, key string) { r.Header.Set("Authorization", "Bearer "+key) }},
	{"bearer lower case", func(r *http.Request, key string) { r.Header.Set("Authorization", "bearer "+key) }},
	{"x-goog-api-key", func(r *http.Request, key string) { r.Header.Set("x-goog-api-key", key) }},
	{"query", func(r *http.Request, key string) {
		q := r.URL.Query()
		q.Set("key", key)
		r.URL.RawQuery = q.Encode()
	}},
}

func TestKeyAuthAcceptsEveryForm(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for _, sc := range authSurfaces {
		for _, form := range keyForms {
			t.Run(sc.name+"/"+form.name, func(t *testing.T) {
				req := httptest.NewRequest(http.MethodGet, sc.path, nil)
				form.apply(req, testKey)
				rec := do(t, s, req)
				if rec.Code != http.StatusOK {
					t.Errorf("status = %d, want 200; body %s", rec.Code, rec.Body)
				}
			})
		}
	}
}

func TestKeyAuthRejects(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for _, sc := range authSurfaces {
		cases := []struct {
			name  string
			apply func(r *http.Request)
			want  string
		}{
			{"missing", func(*http.Request) {}, sc.wantMissing},
			{"basic scheme is not a key", func(r *http.Request) { r.SetBasicAuth("u", testKey) }, sc.wantMissing},
			{"empty bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, sc.wantMissing},
			{"empty query key", func(r *http.Request) { r.URL.RawQuery = "key=" }, sc.wantMissing},
		}
		for _, form := range keyForms {
			cases = append(cases, struct {
				name  string
				apply func(r *http.Request)
				want  string
			}{"wrong " + form.name, func(r *http.Request) { form.apply(r, testKey+"x") }, sc.wantInvalid})
		}
		for _, tc := range cases {
			t.Run(sc.name+"/"+tc.name, func(t *testing.T) {
				req := httptest.NewRequest(http.MethodGet, sc.path, nil)
				tc.apply(req)
				rec := do(t, s, req)
				if rec.Code != http.StatusUnauthorized {
					t.Fatalf("status = %d, want 401", rec.Code)
				}
				if got := rec.Header().Get("Content-Type"); got != contentTypeJSON {
					t.Errorf("Content-Type = %q, want %q", got, contentTypeJSON)
				}
				assertJSON(t, rec.Body.Bytes(), tc.want)
			})
		}
	}
}

func TestKeyAuthOneGoodKeySuffices(t *testing.T) {
	s, _ := newTestServer(t, nil)
	req := httptest.NewRequest(http.MethodGet, "/geminicli/v1beta/models?key=wrong", nil)
	req.Header.Set("x-goog-api-key", testKey)
	if rec := do(t, s, req); rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200 when x-goog-api-key is right and ?key= wrong", rec.Code)
	}
}

func TestKeyAuthStripsKeyFromRequest(t *testing.T) {
	s, _ := newTestServer(t, nil)
	type seen struct {
		Authorization string `json:"authorization"`
		GoogAPIKey    string `json:"goog"`
		Query         string `json:"query"`
	}
	s.Echo().GET("/geminicli/v1beta/__inspect", func(c echo.Context) error {
		r := c.Request()
		return c.JSON(http.StatusOK, seen{r.Header.Get("Authorization"), r.Header.Get("x-goog-api-key"), r.URL.RawQuery})
	})
	// %6B is an escaped "k": the query is checked as decoded.
	req := httptest.NewRequest(http.MethodGet, "/geminicli/v1beta/__inspect?alt=sse&%6Bey="+testKey, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("x-goog-api-key", testKey)
	rec := do(t, s, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	assertJSON(t, rec.Body.Bytes(), `{"authorization":"","goog":"","query":"alt=sse"}`)
}

func TestPlainRoutesNeedNoKey(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		t.Run(path, func(t *testing.T) {
			rec := do(t, s, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("status = %d, want 200", rec.Code)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	s, _ := newTestServer(t, nil)
	long := strings.Repeat("a", 128)
	cases := []struct {
		name string
		sent string
		kept bool
	}{
		{"sane", "abc-123_X.y", true},
		{"128 characters", long, true},
		{"129 characters", long + "a", false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"non-ascii", "é", false},
		{"absent", "", false},
	}
	generated := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			if tc.sent != "" {
				req.Header.Set("X-Request-Id", tc.sent)
			}
			got := do(t, s, req).Header().Get("X-Request-Id")
			if tc.kept {
				if got != tc.sent {
					t.Errorf("X-Request-Id = %q, want the client's %q", got, tc.sent)
				}
				return
			}
			if got == tc.sent || !saneRequestID(got) {
				t.Errorf("X-Request-Id = %q, want a fresh sane id", got)
			}
			if prev, dup := generated[got]; dup {
				t.Errorf("generated id %q repeated (also for case %q)", got, prev)
			}
			generated[got] = tc.name
		})
	}
}

// logText is everything one log entry would print.
func logText(e observer.LoggedEntry) string {
	return fmt.Sprintf("%s %s %s %v", e.Message, e.LoggerName, e.Stack, e.ContextMap())
}

func TestAccessLog(t *testing.T) {
	s, logs := newTestServer(t, nil)
	s.Echo().GET("/geminicli/v1beta/__panic", func(echo.Context) error { panic("boom") })
	const queryMarker = "qmarker"
	wrongKey := "pk-wrong-" + testKey
	cases := []struct {
		name       string
		method     string
		target     string
		header     string
		wantStatus int
	}{
		{"ok via query key", http.MethodGet, "/geminicli/v1beta/models?" + queryMarker + "=1&key=" + testKey, "", 200},
		{"ok via header key", http.MethodGet, "/codex/v1/models?" + queryMarker + "=1", testKey, 200},
		{"wrong query key", http.MethodGet, "/geminicli/v1/models?key=" + wrongKey + "&" + queryMarker + "=1", "", 401},
		{"wrong header key", http.MethodGet, "/codex/v1/models?" + queryMarker + "=1", wrongKey, 401},
		{"unknown route", http.MethodGet, "/geminicli/v1beta/nope?" + queryMarker + "=1&key=" + testKey, "", 404},
		{"panic", http.MethodGet, "/geminicli/v1beta/__panic?" + queryMarker + "=1&key=" + testKey, "", 500},
		{"plain", http.MethodPost, "/healthz?" + queryMarker + "=1", testKey, 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs.TakeAll()
			req := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.header != "" {
				req.Header.Set("x-goog-api-key", tc.header)
				req.Header.Set("Authorization", "Bearer "+tc.header)
			}
			rec := do(t, s, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			entries := logs.TakeAll()
			for _, e := range entries {
				text := logText(e)
				for _, secret := range []string{testKey, queryMarker} {
					if strings.Contains(text, secret) {
						t.Errorf("log line leaks %q: %s", secret, text)
					}
				}
			}
			var lines []observer.LoggedEntry
			for _, e := range entries {
				if e.Message == "request" {
					lines = append(lines, e)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("got %d access log lines, want 1", len(lines))
			}
			fields := lines[0].ContextMap()
			// A panic's line is written while unwinding, before recoverPanics
			// writes the 500 body: it counts the handler's bytes only.
			wantBytes := int64(rec.Body.Len())
			if tc.wantStatus == http.StatusInternalServerError {
				wantBytes = 0
			}
			want := map[string]any{
				keyRequestID: rec.Header().Get("X-Request-Id"),
				keyMethod:    tc.method,
				keyPath:      req.URL.Path,
				keyStatus:    int64(tc.wantStatus),
				keyBytesOut:  wantBytes,
				keyRemoteIP:  "192.0.2.1",
			}
			got := map[string]any{}
			for k := range want {
				got[k] = fields[k]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("access log fields (-want +got):\n%s", diff)
			}
			if _, ok := fields[keyDuration]; !ok {
				t.Errorf("access log has no %s field: %v", keyDuration, fields)
			}
		})
	}
}

func TestBodyLimitDeclaredLength(t *testing.T) {
	s, _ := newTestServer(t, nil)
	read := func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, strconv.Itoa(len(b)))
	}
	for _, p := range []string{"/geminicli/v1beta/__read", "/codex/v1/__read", "/__read"} {
		s.Echo().POST(p, read)
	}
	cases := []struct {
		name string
		path string
		want string
	}{
		{"gemini", "/geminicli/v1beta/__read", `{"error":{"code":413,"message":"request body is larger than 52428800 bytes","status":"INVALID_ARGUMENT"}}`},
		{"openai", "/codex/v1/__read", `{"error":{"message":"request body is larger than 52428800 bytes","type":"invalid_request_error","code":"request_too_large","param":null}}`},
		{"plain", "/__read", `{"error":{"status":413,"message":"request body is larger than 52428800 bytes"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.ContentLength = defaultBodyLimit + 1
			rec := do(t, s, req)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413; body %s", rec.Code, rec.Body)
			}
			assertJSON(t, rec.Body.Bytes(), tc.want)
		})
		t.Run(tc.name+"/at the limit", func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+testKey)
			if rec := do(t, s, req); rec.Code != http.StatusOK || rec.Body.String() != "2" {
				t.Errorf("got %d %q, want 200 \"2\"", rec.Code, rec.Body)
			}
		})
	}
}

// opaqueReader hides the length of its contents, so the client sends the
// body chunked.
type opaqueReader struct{ r io.Reader }

func (o opaqueReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBodyLimitChunked(t *testing.T) {
	const limit = 1024
	s, _ := newTestServer(t, nil)
	s.bodyLimit = limit
	lengths := make(chan int64, 1)
	s.Echo().POST("/codex/v1/__read", func(c echo.Context) error {
		lengths <- c.Request().ContentLength
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, strconv.Itoa(len(b)))
	})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	cases := []struct {
		name       string
		size       int
		wantStatus int
		wantBody   string
	}{
		{"at the limit", limit, 200, "1024"},
		{"over the limit", 4 * limit, 413, `{"error":{"message":"request body is larger than 1024 bytes","type":"invalid_request_error","code":"request_too_large","param":null}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := opaqueReader{bytes.NewReader(bytes.Repeat([]byte("x"), tc.size))}
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/codex/v1/__read", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if cl := <-lengths; cl != -1 {
				t.Errorf("server saw Content-Length %d, want -1 (chunked)", cl)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, got)
			}
			if tc.wantStatus == http.StatusOK {
				if string(got) != tc.wantBody {
					t.Errorf("body = %q, want %q", got, tc.wantBody)
				}
				return
			}
			assertJSON(t, got, tc.wantBody)
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	s, logs := newTestServer(t, nil)
	for _, p := range []string{"/geminicli/v1beta/__panic", "/codex/v1/__panic", "/__panic"} {
		s.Echo().GET(p, func(echo.Context) error { panic("boom") })
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	cases := []struct {
		name string
		path string
		want string
	}{
		{"gemini", "/geminicli/v1beta/__panic", `{"error":{"code":500,"message":"internal error","status":"INTERNAL"}}`},
		{"openai", "/codex/v1/__panic", `{"error":{"message":"internal error","type":"server_error","code":"internal_error","param":null}}`},
		{"plain", "/__panic", `{"error":{"status":500,"message":"internal error"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs.TakeAll()
			req, _ := http.NewRequest(http.MethodGet, ts.URL+tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500", resp.StatusCode)
			}
			assertJSON(t, body, tc.want)

			panics := logs.FilterMessage("panic serving request").All()
			if len(panics) != 1 {
				t.Fatalf("got %d panic log lines, want 1", len(panics))
			}
			if fields := panics[0].ContextMap(); fields["panic"] != "boom" || !strings.Contains(fmt.Sprint(fields["stack"]), "TestPanicRecovery") {
				t.Errorf("panic log fields = %v, want panic=boom and a stack through the handler", fields)
			}

			// The server keeps serving.
			if got := get(ts.Client(), ts.URL+"/healthz"); got.err != nil || got.status != http.StatusOK {
				t.Errorf("healthz after panic = %d (err %v), want 200", got.status, got.err)
			}
		})
	}
}

func TestPanicMidBodyAbortsConnection(t *testing.T) {
	cases := []struct {
		name      string
		value     any
		wantLines int
	}{
		{"http.ErrAbortHandler passes through", http.ErrAbortHandler, 0},
		{"other panic after commit", "boom", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := newTestServer(t, nil)
			s.Echo().GET("/__partial", func(c echo.Context) error {
				if _, err := c.Response().Write([]byte("partial")); err != nil {
					return err
				}
				if err := http.NewResponseController(c.Response()).Flush(); err != nil {
					return err
				}
				panic(tc.value)
			})
			ts := httptest.NewServer(s.Handler())
			t.Cleanup(ts.Close)
			got := get(ts.Client(), ts.URL+"/__partial")
			if got.err == nil {
				t.Errorf("read = %d %q with no error, want the body cut short", got.status, got.body)
			}
			if n := logs.FilterMessage("panic serving request").Len(); n != tc.wantLines {
				t.Errorf("got %d panic log lines, want %d", n, tc.wantLines)
			}
			lines := logs.FilterMessage("request").All()
			if len(lines) != 1 || lines[0].ContextMap()[keyStatus] != int64(http.StatusOK) || lines[0].ContextMap()["panic"] != true {
				t.Errorf("access log = %v, want one line with status 200 and panic=true", lines)
			}
		})
	}
}
