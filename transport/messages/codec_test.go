package messages

import (
	"errors"
	"strings"
	"testing"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// TestStreamCodecEnd: how a stream ended decides the credential's outcome
// and the Anthropic error event that closes the client's stream.
func TestStreamCodecEnd(t *testing.T) {
	overloaded := &providers.Outcome{Kind: providers.KindOverloaded, Status: 503}
	for _, tc := range []struct {
		name      string
		done      bool
		fail      *providers.Outcome
		how       error
		kind      providers.Kind
		tailError string // the error event's type; "" for no tail
	}{
		{"finished", true, nil, nil, providers.KindOK, ""},
		{"ended without message_stop", false, nil, nil, providers.KindTransient, "api_error"},
		{"broken upstream", false, nil, errors.New("unexpected EOF"), providers.KindTransient, "api_error"},
		{"malformed event", false, nil, errBadEvent, providers.KindTransient, "api_error"},
		{"client gone", false, nil, relay.ErrClientGone, providers.KindAbandoned, ""},
		{"shutting down", false, nil, relay.ErrShuttingDown, providers.KindAbandoned, "overloaded_error"},
		{"upstream failure in the stream", false, overloaded, nil, providers.KindOverloaded, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := &streamCodec{tr: &codexStream{}, status: 200, done: tc.done, fail: tc.fail}
			end := sc.End(tc.how)
			if end.Outcome.Kind != tc.kind {
				t.Errorf("outcome %v, want %v", end.Outcome.Kind, tc.kind)
			}
			tail := string(end.Tail)
			switch {
			case tc.tailError == "" && tail != "":
				t.Errorf("tail %q, want none", tail)
			case tc.tailError != "" && (!strings.HasPrefix(tail, "event: error\n") || !strings.Contains(tail, `"type":"`+tc.tailError+`"`)):
				t.Errorf("tail %q, want an error event of type %s", tail, tc.tailError)
			}
		})
	}
}

// TestStreamCodecFailureEvent: an upstream failure event becomes an
// Anthropic error event and ends the stream.
func TestStreamCodecFailureEvent(t *testing.T) {
	sc := &streamCodec{status: 200}
	sc.tr = testTranslator(PoolCodex, &sc.sink)
	ev := sse.Event{Name: "response.failed", Data: []byte(`{"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_is_overloaded","message":"overloaded, retry later"}}}`)}
	out, done, err := sc.Event(ev, nil)
	if err != nil || !done {
		t.Fatalf("done %v err %v", done, err)
	}
	if !strings.Contains(string(out), "event: error\n") || !strings.Contains(string(out), "overloaded, retry later") {
		t.Errorf("out = %s", out)
	}
	if end := sc.End(nil); end.Outcome.Kind == providers.KindOK || len(end.Tail) != 0 {
		t.Errorf("end = %+v, want the failure's outcome and no second error event", end)
	}
}

// TestCollectorKeepsBadArguments: tool arguments that are not JSON do not
// fail the unary answer.
func TestCollectorKeepsBadArguments(t *testing.T) {
	var col collector
	b := builder{out: &col, model: "m", id: "msg_x"}
	b.toolStart("call_1", "f")
	b.toolArgs(`{"a":`)
	b.finish(stopEndTurn, usage{})
	if got := string(col.msg.Content[0].Input); got != `{"_raw_arguments":"{\"a\":"}` {
		t.Errorf("input = %s", got)
	}
	if *col.msg.StopReason != stopToolUse {
		t.Errorf("stop reason %s, want tool_use", *col.msg.StopReason)
	}
}
