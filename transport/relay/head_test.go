package relay

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/sse"
)

// wordHead serves at "out", rejects at "fail", holds anything else.
type wordHead struct{}

func (wordHead) Judge(ev sse.Event) (bool, *Rejection) {
	switch string(ev.Data) {
	case "out":
		return true, nil
	case "fail":
		return false, &Rejection{Outcome: providers.Outcome{Kind: providers.KindOverloaded}, Err: errTold}
	}
	return false, nil
}

func (wordHead) Cut(status int) *Rejection {
	return &Rejection{Outcome: providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "cut"}}
}

// TestHoldHead: a served head comes back replayed in full before the rest;
// a failure or an end before output rejects; a head past its bounds is
// served as it is.
func TestHoldHead(t *testing.T) {
	lim := HeadLimits{Events: 3, Bytes: 64, Wait: time.Minute}
	cases := []struct {
		name       string
		stream     string
		wantReject string
	}{
		{"output after the head", "data: hold\n\ndata: out\n\ndata: more\n\n", ""},
		{"failure at the head", "data: hold\n\ndata: fail\n\n", "overloaded"},
		{"ends before output", "data: hold\n\n", "transient"},
		{"more events than the bound", "data: hold\n\ndata: hold\n\ndata: hold\n\ndata: fail\n\n", ""},
		{"more bytes than the bound", "data: " + strings.Repeat("x", 80) + "\n\ndata: fail\n\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// One byte per read: the byte bound is checked between reads.
			body := io.NopCloser(iotest.OneByteReader(strings.NewReader(tc.stream)))
			resp, err := HoldHead(wordHead{}, lim)(&http.Response{StatusCode: 200, Body: body})
			var rej *Rejection
			if tc.wantReject != "" {
				if !errors.As(err, &rej) || rej.Outcome.Kind.String() != tc.wantReject {
					t.Fatalf("err = %v, want a %s rejection", err, tc.wantReject)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want the stream served", err)
			}
			got, _ := io.ReadAll(resp.Body)
			if string(got) != tc.stream {
				t.Errorf("replayed %q, want %q", got, tc.stream)
			}
		})
	}
}

// TestHoldHeadWaitBound: a head that stays silent is served once the wait
// bound passes, and what was read and what follows reach the client in
// order. Runs on synctest's clock.
func TestHoldHeadWaitBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() { _, _ = io.WriteString(pw, "data: hold\n\n") }()
		start := time.Now()
		resp, err := HoldHead(wordHead{}, HeadLimits{Events: 8, Bytes: 1 << 10, Wait: 5 * time.Second})(&http.Response{StatusCode: 200, Body: pr})
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("held back for %v, want the 5 s bound", waited)
		}
		go func() {
			_, _ = io.WriteString(pw, "data: out\n\n")
			_ = pw.Close()
		}()
		got, err := io.ReadAll(resp.Body)
		if err != nil || string(got) != "data: hold\n\ndata: out\n\n" {
			t.Errorf("relayed %q (%v), want both events in order", got, err)
		}
		_ = resp.Body.Close()
	})
}

// TestHoldHeadReplaysTheEnd: when holding the head read the whole body,
// the replay's last bytes come with io.EOF, so the relay knows the stream
// ended with its last event; otherwise the rest follows from the body.
func TestHoldHeadReplaysTheEnd(t *testing.T) {
	lim := HeadLimits{Events: 3, Bytes: 1 << 10, Wait: time.Minute}
	for _, tc := range []struct {
		name    string
		body    io.Reader
		wantEnd bool
	}{
		{"head read the end", iotest.DataErrReader(strings.NewReader("data: out\n\ndata: more\n\n")), true},
		{"body continues", io.MultiReader(strings.NewReader("data: out\n\n"), iotest.OneByteReader(strings.NewReader("data: more\n\n"))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := HoldHead(wordHead{}, lim)(&http.Response{StatusCode: 200, Body: io.NopCloser(tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			rd := sse.NewReader(resp.Body)
			var got []string
			for {
				ev, err := rd.Next()
				if err != nil {
					break
				}
				got = append(got, string(ev.Data))
				if len(got) == 2 && rd.Ended() != tc.wantEnd {
					t.Errorf("Ended after the last event = %v, want %v", rd.Ended(), tc.wantEnd)
				}
			}
			if strings.Join(got, ",") != "out,more" {
				t.Errorf("events = %q, want out, more", got)
			}
		})
	}
}
