package transport

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow bounds the window a zstd request body may ask for. Encoders
// use 8 MiB or less for inputs of request size (the format's recommended
// cap for decoders is 8 MiB); a larger one is refused instead of allocated.
const zstdMaxWindow = 8 << 20

// decodeBody makes a compressed request body (Content-Encoding gzip or
// zstd, as newer Codex CLI releases send) readable as plain bytes. The
// decoded stream is capped at limit, so the body limit applies to the
// decompressed size: a decompression bomb ends in *http.MaxBytesError (413)
// after at most limit bytes, never in an out-of-memory. The compressed
// stream stays capped by limitBody as before. Content-Encoding and
// Content-Length are removed: what handlers read is the plain body.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if enc == "" || enc == "identity" || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	var decoded io.ReadCloser
	switch enc {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return err
			}
			return &Error{Kind: KindInvalidArgument, Message: "the request body is not valid gzip (Content-Encoding: gzip)", Err: err}
		}
		decoded = &decodedBody{Reader: zr, closeDecoder: zr.Close, raw: r.Body}
	case "zstd":
		zr, err := zstd.NewReader(r.Body,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(uint64(limit)+1))
		if err != nil {
			return &Error{Kind: KindInternal, Err: fmt.Errorf("transport: zstd decoder: %w", err)}
		}
		decoded = &decodedBody{Reader: zr, closeDecoder: func() error { zr.Close(); return nil }, raw: r.Body}
	default:
		return &Error{Kind: KindInvalidArgument,
			Message: fmt.Sprintf("Content-Encoding %q is not supported; send the body plain, gzip or zstd", enc)}
	}
	r.Body = http.MaxBytesReader(w, decoded, limit)
	r.Header.Del("Content-Encoding")
	r.Header.Del("Content-Length")
	r.ContentLength = -1
	return nil
}

// decodedBody is a decompressing reader over the raw body; Close releases
// the decoder and closes the raw body.
type decodedBody struct {
	io.Reader
	closeDecoder func() error
	raw          io.Closer
}

func (d *decodedBody) Close() error {
	return errors.Join(d.closeDecoder(), d.raw.Close())
}
