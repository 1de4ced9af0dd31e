package relay

import (
	"bytes"
	"errors"
	"io"
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
//
// A body put back with Reread is returned as it is, without a copy.
func ReadBody(r *http.Request) ([]byte, error) {
	if rb, ok := r.Body.(*rereadBody); ok {
		rest := rb.all[len(rb.all)-rb.Len():]
		_, _ = rb.Seek(0, io.SeekEnd)
		return rest, nil
	}
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

// Reread puts a body already read by ReadBody back into r, for a handler
// that looked into the body before handing the request on (the root's
// model routing): the next ReadBody returns body itself, without reading
// or copying it again, and any other reader reads it from the start.
func Reread(r *http.Request, body []byte) {
	rb := &rereadBody{all: body}
	rb.Reset(body)
	r.Body = rb
	r.ContentLength = int64(len(body))
}

// rereadBody is a request body already in memory (Reread).
type rereadBody struct {
	bytes.Reader
	all []byte
}

func (*rereadBody) Close() error { return nil }
