package sse

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzReader: any byte stream reads without a panic, one byte per read
// gives the same events as the whole input at once, and no event holds
// more data than the input.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"data: x\n\n", "data: x\r\n\r\n", "data: x\r\rdata: y\r\r", "event: e\ndata: a\ndata: b\n\n",
		": keep-alive\n\n", "data:{\"a\":1}\n\nid: 3\ndata: z\n", "data: cut", "\r\n\r\n\n\r", "",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		read := func(r io.Reader) ([]string, error) {
			rd := NewReader(r)
			rd.SetMaxEventSize(1 << 16)
			var out []string
			for {
				ev, err := rd.Next()
				if err != nil {
					if errors.Is(err, io.EOF) {
						return out, nil
					}
					return out, err
				}
				if len(ev.Data) > len(in) {
					t.Fatalf("event data of %d bytes from %d input bytes", len(ev.Data), len(in))
				}
				out = append(out, ev.Name+"\x00"+string(ev.Data)+"\x00"+ev.ID)
			}
		}
		whole, errWhole := read(bytes.NewReader(in))
		bytewise, errBytes := read(iotest.OneByteReader(bytes.NewReader(in)))
		if !errors.Is(errWhole, errBytes) && (errWhole == nil) != (errBytes == nil) {
			t.Fatalf("errors differ: whole %v, byte-wise %v", errWhole, errBytes)
		}
		if len(whole) != len(bytewise) {
			t.Fatalf("whole gave %d events, byte-wise %d", len(whole), len(bytewise))
		}
		for i := range whole {
			if whole[i] != bytewise[i] {
				t.Fatalf("event %d differs: %q vs %q", i, whole[i], bytewise[i])
			}
		}
	})
}
