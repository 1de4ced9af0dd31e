package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type gotEvent struct {
	Name, Data, ID string
}

func readAll(t *testing.T, r io.Reader) ([]gotEvent, error) {
	t.Helper()
	rd := NewReader(r)
	var out []gotEvent
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, gotEvent{ev.Name, string(ev.Data), ev.ID})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []gotEvent
		wantErr error
	}{
		{"lf", "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n", []gotEvent{{"", `{"a":1}`, ""}, {"", `{"b":2}`, ""}}, nil},
		{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []gotEvent{{"", "x", ""}, {"", "y", ""}}, nil},
		{"named", "event: response.created\ndata: {}\n\n", []gotEvent{{"response.created", "{}", ""}}, nil},
		{"multi-line data", "data: a\ndata: b\n\n", []gotEvent{{"", "a\nb", ""}}, nil},
		{"comments skipped", ": keep-alive\n\n: x\ndata: z\n\n", []gotEvent{{"", "z", ""}}, nil},
		{"no space after colon", "data:v\n\n", []gotEvent{{"", "v", ""}}, nil},
		{"id", "id: 7\ndata: v\n\n", []gotEvent{{"", "v", "7"}}, nil},
		{"final event without blank line", "data: a\n\ndata: b\n", []gotEvent{{"", "a", ""}, {"", "b", ""}}, nil},
		{"cut inside a line", "data: a\n\ndata: {\"tru", []gotEvent{{"", "a", ""}}, io.ErrUnexpectedEOF},
		{"empty", "", nil, nil},
		{"lone cr", "data: x\r\rdata: y\r\r", []gotEvent{{"", "x", ""}, {"", "y", ""}}, nil},
		{"lone cr multi-line", "event: e\rdata: a\rdata: b\r\r", []gotEvent{{"e", "a\nb", ""}}, nil},
		{"mixed endings", "data: a\r\n\rdata: b\n\r\ndata: c\r\n\n", []gotEvent{{"", "a", ""}, {"", "b", ""}, {"", "c", ""}}, nil},
		{"cr then blank crlf", "data: a\r\r\n", []gotEvent{{"", "a", ""}}, nil},
		{"final event cr without blank line", "data: a\r", []gotEvent{{"", "a", ""}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []struct {
				name string
				wrap func(io.Reader) io.Reader
			}{
				{"whole", func(r io.Reader) io.Reader { return r }},
				{"one byte per read", iotest.OneByteReader},
			} {
				got, err := readAll(t, mode.wrap(strings.NewReader(tt.in)))
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("%s: err = %v, want %v", mode.name, err, tt.wantErr)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: events (-want +got):\n%s", mode.name, diff)
				}
			}
		})
	}
}

func TestReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	got, err := readAll(t, strings.NewReader("data: "+long+"\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Data != long {
		t.Fatalf("got %d events, want one with a %d byte payload", len(got), len(long))
	}
}

func TestReaderTooLarge(t *testing.T) {
	rd := NewReader(strings.NewReader("data: " + strings.Repeat("x", 100) + "\n\n"))
	rd.SetMaxEventSize(50)
	if _, err := rd.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
}

func TestAppendEventRoundTrip(t *testing.T) {
	tests := []struct {
		name, event, data string
		wire              string
	}{
		{"plain", "", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"named", "response.completed", `{}`, "event: response.completed\ndata: {}\n\n"},
		{"multi-line", "", "a\nb", "data: a\ndata: b\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := string(AppendEvent(nil, tt.event, []byte(tt.data)))
			if wire != tt.wire {
				t.Fatalf("wire = %q, want %q", wire, tt.wire)
			}
			got, err := readAll(t, strings.NewReader(wire))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]gotEvent{{tt.event, tt.data, ""}}, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	if got := string(AppendComment(nil, "keep-alive")); got != ": keep-alive\n\n" {
		t.Errorf("comment = %q", got)
	}
}

func TestReaderReady(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"two events in one read", "data: a\n\ndata: b\n\n", true},
		{"second event partial", "data: a\n\ndata: b", false},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", true},
		{"one event only", "data: a\n\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader(tt.in))
			if _, err := rd.Next(); err != nil {
				t.Fatal(err)
			}
			if got := rd.Ready(); got != tt.want {
				t.Errorf("Ready() = %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkReader reads a typical Responses stream (LF endings).
func BenchmarkReader(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		sb.WriteString("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hello world\",\"sequence_number\":12}\n\n")
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(strings.NewReader(in))
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}
