package transport

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func gzipped(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func zstded(t testing.TB, r io.Reader) string {
	t.Helper()
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestCompressedRequestBodies: gzip and zstd request bodies (newer Codex
// CLI releases compress theirs) are served on every surface, and what goes
// upstream is the plain body (issue 11).
func TestCompressedRequestBodies(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("gz-g1")
	h.addCodex("gz-c1")
	gemReq := `{"contents":[{"role":"user","parts":[{"text":"compressed hello"}]}]}`
	codexReq := `{"model":"gpt-5.2-codex","input":"compressed hello","stream":false}`
	encode := map[string]func(string) string{
		"gzip": func(s string) string { return gzipped(t, s) },
		"zstd": func(s string) string { return zstded(t, strings.NewReader(s)) },
	}
	for _, enc := range []string{"gzip", "zstd"} {
		t.Run(enc+"/gemini", func(t *testing.T) {
			before := len(h.gfake.RequestsTo("/v1internal:generateContent"))
			resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", encode[enc](gemReq),
				map[string]string{"Content-Encoding": enc})
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			reqs := h.gfake.RequestsTo("/v1internal:generateContent")
			if len(reqs) != before+1 || !bytes.Contains(reqs[len(reqs)-1].Body, []byte("compressed hello")) {
				t.Fatal("the upstream did not get the decompressed body")
			}
		})
		t.Run(enc+"/codex", func(t *testing.T) {
			resp := h.do(http.MethodPost, "/codex/v1/responses", encode[enc](codexReq), map[string]string{"Content-Encoding": enc})
			if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
		t.Run(enc+"/resource:add", func(t *testing.T) {
			resp := h.do(http.MethodPost, geminiAddPath, encode[enc](`[]`), map[string]string{"Content-Encoding": enc})
			if body := readAll(t, resp); resp.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("unsupported encoding", func(t *testing.T) {
		resp := h.do(http.MethodPost, "/codex/v1/responses", codexReq, map[string]string{"Content-Encoding": "br"})
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `is not supported; send the body plain, gzip or zstd`) || !strings.Contains(body, `"type"`) {
			t.Fatalf("status %d: %s; want 400 in the OpenAI envelope", resp.StatusCode, body)
		}
	})
	t.Run("corrupt gzip", func(t *testing.T) {
		resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", "not gzip at all",
			map[string]string{"Content-Encoding": "gzip"})
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"status":"INVALID_ARGUMENT"`) {
			t.Fatalf("status %d: %s; want 400 in the Gemini envelope", resp.StatusCode, body)
		}
	})
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestCompressedBodyLimitIsDecompressedSize: the body limit applies to the
// decompressed size. A 1 GiB zstd bomb (a few KiB on the wire) and a gzip
// one get 413, and the process does not allocate anything near the
// decompressed size.
func TestCompressedBodyLimitIsDecompressedSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1 GiB zstd bomb")
	}
	// A 4 MiB limit: what refusing a bomb costs must scale with the limit,
	// not with the bomb.
	const limit = 4 << 20
	h := newHarness(t, harnessOptions{serverSetup: func(s *Server) { s.bodyLimit = limit }})
	const giB = 1 << 30
	// Both formats decode concatenated frames (members) as one stream, so
	// a bomb is one compressed MiB of zeros repeated: cheap to build even
	// under the race detector.
	mib := io.LimitReader(zeros{}, 1<<20)
	zframe := zstded(t, mib)
	var gz bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := io.Copy(gw, io.LimitReader(zeros{}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_ = gw.Close()
	bombs := map[string]string{
		"zstd": strings.Repeat(zframe, giB>>20),
		"gzip": strings.Repeat(gz.String(), giB>>20),
	}
	for enc, bomb := range bombs {
		t.Run(enc, func(t *testing.T) {
			t.Logf("%s bomb: %d bytes on the wire", enc, len(bomb))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			resp := h.do(http.MethodPost, "/codex/v1/responses", bomb, map[string]string{"Content-Encoding": enc})
			body := readAll(t, resp)
			runtime.ReadMemStats(&after)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d: %s; want 413", resp.StatusCode, body)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d MiB in all while refusing it (body limit %d MiB)", allocated>>20, limit>>20)
			// Reading up to the limit into a growing buffer costs about
			// twice the limit, plus the decoder's window and the race
			// detector's dropped pools; decompressing the bomb would cost
			// more than 1 GiB.
			if allocated > 64<<20 {
				t.Errorf("allocated %d MiB for a bomb: memory is not flat", allocated>>20)
			}
		})
	}
}
