package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEventSize bounds one event (all its lines) so a broken upstream
// cannot make the reader buffer without limit.
const DefaultMaxEventSize = 16 << 20

// readBufferSize is the reader's buffer. Most events are far smaller; a
// longer line is gathered across refills, so this bounds memory per open
// stream, not event size.
const readBufferSize = 4 << 10

// ErrEventTooLarge is returned when one event exceeds the reader's limit.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one dispatched event. Data holds the data lines joined with "\n".
// The slices are only valid until the next call to Reader.Next.
type Event struct {
	// Name is the value of the "event:" field, empty when absent.
	Name string
	// Data is the concatenated "data:" field values.
	Data []byte
	// ID is the value of the "id:" field, empty when absent.
	ID string
}

// Reader reads events from a stream. It is not safe for concurrent use.
type Reader struct {
	// src is the stream, noting when it reported its end.
	src     endSource
	br      *bufio.Reader
	max     int
	data    []byte
	line    []byte
	hasData bool
	// names are the event names seen on this stream, so a repeated name
	// costs no new string (a stream repeats a handful of names).
	names  [8]string
	nnames int
	// skipLF: the last line ended with a CR at the end of the buffer; a LF
	// that follows completes that CRLF.
	skipLF bool
}

// NewReader returns a Reader over r with DefaultMaxEventSize.
func NewReader(r io.Reader) *Reader {
	rd := &Reader{src: endSource{r: r}, max: DefaultMaxEventSize}
	rd.br = bufio.NewReaderSize(&rd.src, readBufferSize)
	return rd
}

// Reset makes r read a new stream from src, as NewReader would, keeping its
// buffers and the event names it has seen (so a reused Reader allocates
// nothing for them).
func (r *Reader) Reset(src io.Reader) {
	r.src = endSource{r: src}
	r.br.Reset(&r.src)
	r.max = DefaultMaxEventSize
	r.data, r.line = keepSmall(r.data), keepSmall(r.line)
	r.hasData, r.skipLF = false, false
}

// keepSmall empties b, or drops it when a large event grew it.
func keepSmall(b []byte) []byte {
	if cap(b) > 64<<10 {
		return nil
	}
	return b[:0]
}

// endSource notes when its reader reported io.EOF.
type endSource struct {
	r     io.Reader
	ended bool
}

func (s *endSource) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.ended = true
	}
	return n, err
}

// SetMaxEventSize changes the per-event size limit.
func (r *Reader) SetMaxEventSize(n int) { r.max = n }

// Next returns the next event. Comment lines and events without data and
// name are skipped. At a clean end of stream it returns io.EOF; a stream that
// ends inside a line returns io.ErrUnexpectedEOF. A final event whose lines
// are complete but which lacks the closing blank line is still dispatched.
func (r *Reader) Next() (Event, error) {
	var ev Event
	r.data = r.data[:0]
	r.hasData = false
	size := 0
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && (r.hasData || ev.Name != "") {
				ev.Data = r.data
				return ev, nil
			}
			return Event{}, err
		}
		size += len(line)
		if size > r.max {
			return Event{}, ErrEventTooLarge
		}
		if len(line) == 0 {
			if r.hasData || ev.Name != "" {
				ev.Data = r.data
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData = true
		case "event":
			ev.Name = r.name(value)
		case "id":
			ev.ID = string(value)
		}
	}
}

// Ready reports whether a whole further event is already buffered, so the
// next Next will not wait on the network. A relay uses it to write events
// that arrived together and flush once: the flush still happens as soon as
// nothing more is immediately available.
func (r *Reader) Ready() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(n)
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\r\r"))
}

// name returns b as a string, the same string as an earlier event's name
// when it is one.
func (r *Reader) name(b []byte) string {
	for _, n := range r.names[:r.nnames] {
		if n == string(b) {
			return n
		}
	}
	n := string(b)
	if r.nnames < len(r.names) {
		r.names[r.nnames] = n
		r.nnames++
	}
	return n
}

// Ended reports whether the stream has already reported its end and every
// byte read from it was consumed: the next Next returns io.EOF without
// waiting on the network. A relay uses it to send a stream's last event
// together with the end of its own response. It is false while the end is
// not yet known (the source has not said so in a read that already
// returned), so it never waits.
func (r *Reader) Ended() bool {
	return r.src.ended && r.br.Buffered() == 0
}

// readLine returns one line without its terminator: CRLF, LF or a lone CR,
// as the SSE specification allows. The slice is valid until the next call.
// io.EOF means the stream ended cleanly at a line boundary;
// io.ErrUnexpectedEOF means it ended inside a line.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	if r.skipLF {
		// The last line ended with a CR that was the last byte buffered:
		// a LF now belongs to that CRLF.
		r.skipLF = false
		if b, err := r.br.Peek(1); err == nil && b[0] == '\n' {
			_, _ = r.br.Discard(1)
		}
	}
	for {
		n := r.br.Buffered()
		if n == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					if len(r.line) == 0 {
						return nil, io.EOF
					}
					return nil, io.ErrUnexpectedEOF
				}
				return nil, fmt.Errorf("sse: read: %w", err)
			}
			n = r.br.Buffered()
		}
		b, _ := r.br.Peek(n)
		end := bytes.IndexByte(b, '\n')
		lim := len(b)
		if end >= 0 {
			lim = end
		}
		skip := 1
		if cr := bytes.IndexByte(b[:lim], '\r'); cr >= 0 {
			end = cr
			switch {
			case cr+1 < len(b) && b[cr+1] == '\n':
				skip = 2
			case cr+1 == len(b):
				r.skipLF = true
			}
		}
		if end < 0 {
			r.line = append(r.line, b...)
			_, _ = r.br.Discard(n)
			if len(r.line) > r.max {
				return nil, ErrEventTooLarge
			}
			continue
		}
		line := b[:end]
		if len(r.line) > 0 {
			r.line = append(r.line, line...)
			line = r.line
		}
		// Discard leaves the buffer's bytes in place until the next read,
		// so line stays valid until the next call, as documented.
		_, _ = r.br.Discard(end + skip)
		return line, nil
	}
}
