package relay

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRereadReturnsTheSameBytes: a body put back with Reread is what the
// next ReadBody returns, the same memory (no second copy of a large body),
// and a plain reader still reads it whole.
func TestRereadReturnsTheSameBytes(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(`{"model":"m","messages":[]}`))
	body, err := ReadBody(r)
	if err != nil {
		t.Fatal(err)
	}
	Reread(r, body)
	if r.ContentLength != int64(len(body)) {
		t.Errorf("ContentLength = %d, want %d", r.ContentLength, len(body))
	}
	again, err := ReadBody(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(body) || &again[0] != &body[0] {
		t.Errorf("ReadBody after Reread = %q (copied: %v), want the same bytes", again, &again[0] != &body[0])
	}
	if rest, err := ReadBody(r); err != nil || len(rest) != 0 {
		t.Errorf("a second ReadBody = %q, %v; want the body consumed", rest, err)
	}

	Reread(r, body)
	head := make([]byte, 9)
	if _, err := io.ReadFull(r.Body, head); err != nil {
		t.Fatal(err)
	}
	rest, err := ReadBody(r)
	if err != nil || string(head)+string(rest) != string(body) {
		t.Errorf("partly read then ReadBody = %q + %q, %v; want the rest of %q", head, rest, err, body)
	}
	if err := r.Body.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
