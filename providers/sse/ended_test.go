package sse

import (
	"io"
	"testing"
	"unsafe"
)

// reads is a source whose every Read returns the next of its results.
type reads []struct {
	data string
	err  error
}

func (r *reads) Read(p []byte) (int, error) {
	if len(*r) == 0 {
		return 0, io.EOF
	}
	next := (*r)[0]
	*r = (*r)[1:]
	return copy(p, next.data), next.err
}

// TestReaderEnded: Ended is true only once the source has reported its end
// in a read already made and every byte is consumed.
func TestReaderEnded(t *testing.T) {
	cases := []struct {
		name string
		src  reads
		// want is Ended after each Next, then the error of one more Next.
		want []bool
	}{
		{"end with the last event", reads{{"data: a\n\n", nil}, {"data: b\n\n", io.EOF}}, []bool{false, true}},
		{"end in a read of its own", reads{{"data: a\n\n", nil}, {"data: b\n\n", nil}}, []bool{false, false}},
		{"two events and the end in one read", reads{{"data: a\n\ndata: b\n\n", io.EOF}}, []bool{false, true}},
		{"bytes left after the event", reads{{"data: a\n\n: comment\n", io.EOF}}, []bool{false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			rd := NewReader(&src)
			for i, want := range tc.want {
				if _, err := rd.Next(); err != nil {
					t.Fatalf("Next %d: %v", i, err)
				}
				if got := rd.Ended(); got != want {
					t.Errorf("Ended after event %d = %v, want %v", i, got, want)
				}
			}
			if rd.Ended() {
				if _, err := rd.Next(); err != io.EOF {
					t.Errorf("Next after Ended = %v, want io.EOF", err)
				}
			}
		})
	}
}

// TestReaderReusesEventNames: a repeated event name is the same string, not
// a new copy per event.
func TestReaderReusesEventNames(t *testing.T) {
	src := reads{{"event: x\ndata: 1\n\nevent: y\ndata: 2\n\nevent: x\ndata: 3\n\n", io.EOF}}
	rd := NewReader(&src)
	var names []string
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		names = append(names, ev.Name)
	}
	if len(names) != 3 || names[0] != "x" || names[1] != "y" || names[2] != "x" {
		t.Fatalf("names = %q", names)
	}
	if unsafe.StringData(names[0]) != unsafe.StringData(names[2]) {
		t.Error("the repeated name was copied again")
	}
	allocs := testing.AllocsPerRun(100, func() {
		src := reads{{"event: x\ndata: 1\n\nevent: x\ndata: 2\n\nevent: x\ndata: 3\n\n", io.EOF}}
		rd := NewReader(&src)
		for {
			if _, err := rd.Next(); err != nil {
				return
			}
		}
	})
	// The source, the reader, its bufio.Reader and buffer, the one name
	// and the data buffer; a name per event would add two.
	if allocs > 6 {
		t.Errorf("allocations per stream = %v", allocs)
	}
}

// TestReaderReset: a Reader reset onto a new stream reads it as a new
// Reader would, whatever the last stream left behind (a cut line, a CR at
// the end of the buffer, a pending event).
func TestReaderReset(t *testing.T) {
	rd := NewReader(&reads{{"event: a\ndata: 1\n\ndata: part", nil}})
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	for _, next := range []string{"data: x\r", "event: b\ndata: 2\r\n\r\n", ""} {
		rd.Reset(&reads{{next, io.EOF}})
		var got []gotEvent
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			got = append(got, gotEvent{ev.Name, string(ev.Data), ev.ID})
		}
		want, _ := readAll(t, &reads{{next, io.EOF}})
		if len(got) != len(want) || (len(got) > 0 && got[0] != want[0]) {
			t.Errorf("after Reset onto %q: %v, want %v", next, got, want)
		}
	}
}
