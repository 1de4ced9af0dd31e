package relay

import (
	"bytes"
	"errors"
	"net/http"
	"os"
)

// bodyPrealloc caps the buffer ReadBody sizes from Content-Length.
const bodyPrealloc = 50 << 20

// ReadBody reads a request body once, into a buffer sized by
// Content-Length, so every attempt can replay it. A body over the server's
// limit comes back as the *http.MaxBytesError (answered 413), a client that
// left as its context error (499), anything else as a KindInvalidArgument
// *Error (400).
func ReadBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= bodyPrealloc {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, err
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Before the context check: the failed read also cancels it.
			return nil, &Error{Kind: KindInvalidArgument, Message: "the request body arrived too slowly", Err: err}
		case r.Context().Err() != nil:
			return nil, r.Context().Err()
		}
		return nil, &Error{Kind: KindInvalidArgument, Message: "could not read the request body", Err: err}
	}
	return buf.Bytes(), nil
}
