package transport

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHeadAnswersLikeGet: HEAD on /, /status, /healthz and /readyz answers
// the GET's status and content type, with no body.
func TestHeadAnswersLikeGet(t *testing.T) {
	s, _ := newTestServer(t, func(context.Context) error { return nil })
	addr, _ := startServer(t, s)
	client := newClient(t)
	for _, path := range []string{"/", "/status", "/healthz", "/readyz"} {
		get, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, get.Body)
		_ = get.Body.Close()
		head, err := client.Head("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(head.Body)
		_ = head.Body.Close()
		if head.StatusCode != get.StatusCode || head.StatusCode != http.StatusOK {
			t.Errorf("HEAD %s: %d, GET %d; want both 200", path, head.StatusCode, get.StatusCode)
		}
		if ct := head.Header.Get("Content-Type"); ct == "" || !strings.EqualFold(ct, get.Header.Get("Content-Type")) {
			t.Errorf("HEAD %s: Content-Type %q, GET's %q", path, ct, get.Header.Get("Content-Type"))
		}
		if len(body) != 0 {
			t.Errorf("HEAD %s: %d body bytes", path, len(body))
		}
	}
}
