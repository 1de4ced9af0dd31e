package geminicli

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// TestDecodingTransport: Pollux sends Node's Accept-Encoding, so Go no
// longer decodes for it; whatever of gzip, deflate and br the server picks
// reaches the caller decoded, streamed or not.
func TestDecodingTransport(t *testing.T) {
	const payload = `{"response":{"candidates":[{"content":{"parts":[{"text":"hello"}]}}]}}`
	encode := map[string]func(io.Writer) io.WriteCloser{
		"gzip":     func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
		"deflate":  func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) },
		"br":       func(w io.Writer) io.WriteCloser { return brotli.NewWriter(w) },
		"identity": nil,
		"":         nil,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := r.URL.Query().Get("enc")
		if r.Header.Get("Accept-Encoding") != nodeFetchAcceptEncoding {
			http.Error(w, "wrong Accept-Encoding", http.StatusBadRequest)
			return
		}
		newWriter := encode[enc]
		if newWriter == nil {
			if enc != "" {
				w.Header().Set("Content-Encoding", enc)
			}
			io.WriteString(w, payload)
			return
		}
		var buf bytes.Buffer
		zw := newWriter(&buf)
		io.WriteString(zw, payload)
		zw.Close()
		w.Header().Set("Content-Encoding", enc)
		w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	hc := withNodeTransport(srv.Client())
	for enc := range encode {
		t.Run("enc="+enc, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/?enc="+enc, nil)
			req.Header.Set("Accept-Encoding", nodeFetchAcceptEncoding)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || string(got) != payload {
				t.Errorf("status %d body %q, want 200 %q", resp.StatusCode, got, payload)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
				t.Errorf("Content-Encoding %q left on a decoded body", ce)
			}
		})
	}
}

// TestDecodingTransportRefusesUnaskedEncoding: an encoding Pollux never
// accepted is an error, not bytes passed off as JSON.
func TestDecodingTransportRefusesUnaskedEncoding(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "zstd")
		io.WriteString(w, "\x28\xb5\x2f\xfd")
	}))
	t.Cleanup(srv.Close)
	_, err := withNodeTransport(srv.Client()).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "Content-Encoding") {
		t.Fatalf("err = %v, want the unaccepted encoding named", err)
	}
}
