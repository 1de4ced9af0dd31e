package relay

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
)

// Reply is an accepted upstream answer on a leased credential. Its handler
// defers Finish at once and calls Settle with the verdict once it knows it;
// a reply left unsettled (the client went away, a panic) is reported
// abandoned.
type Reply struct {
	Resp     *http.Response
	Lease    *actors.Lease
	Attempts int

	relay  *Relay
	cancel context.CancelCauseFunc
	record Record
	reqID  string
	// sent is when the serving attempt's upstream call began.
	sent      time.Time
	seenEvent bool
	done      bool
	// unread: the codec ended the stream before the upstream's end was
	// read (Finish drains the rest of an HTTP/1 body).
	unread  bool
	outcome providers.Outcome
	// windows are the account's usage windows read from the answer's
	// headers; Finish hands them to the credential.
	windows []providers.QuotaWindow
	// input and output are the reply's usage tokens (SetUsage).
	input, output int64
}

func (r *Reply) requestID() string { return r.reqID }

// Model is the model that serves the reply: the request's own, an alias's
// model, or the fallback that took over.
func (r *Reply) Model() string { return r.Lease.Model }

// CredentialID is the id of the credential that serves the reply.
func (r *Reply) CredentialID() int64 { return r.Lease.Grant.CredentialID }

// SetWindows hands the account's usage windows to the credential with the
// reply's outcome.
func (r *Reply) SetWindows(w []providers.QuotaWindow) { r.windows = w }

// SetUsage notes the reply's token usage: the request's record gets it
// now, the token counters and usage rows when the reply is finished.
func (r *Reply) SetUsage(u Usage) {
	r.input, r.output = u.Input, u.Output
	r.record.Usage(u)
}

// Settle sets the outcome Finish reports; the last call wins.
func (r *Reply) Settle(o providers.Outcome) { r.outcome = o }

// firstEvent notes the reply's first streamed event: the upstream's time to
// first byte, and the client's.
func (r *Reply) firstEvent() {
	if r.seenEvent {
		return
	}
	r.seenEvent = true
	now := time.Now()
	r.record.FirstEvent(now.Sub(r.sent))
	r.record.FirstByte(now)
}

// Finish closes the answer and reports the settled outcome (abandoned when
// none was settled) for the lease. Only the first call counts, so it is
// safe to defer.
func (r *Reply) Finish() {
	if r.done {
		return
	}
	r.done = true
	if r.unread && r.Resp.ProtoMajor == 1 {
		// Closing an HTTP/1 body before its end closes the connection;
		// what is left after a stream's terminal event is usually just
		// the closing chunk, on its way. Reading it off the handler's
		// goroutine keeps the connection for the next request without
		// holding this one back.
		go r.drain()
	} else {
		_ = r.Resp.Body.Close()
		r.cancel(nil)
	}
	o := r.outcome
	if o.Windows == nil {
		o.Windows = r.windows
	}
	r.relay.pool.Report(r.Lease, o)
	r.record.Outcome(o.Kind)
	if o.Kind == providers.KindOK || r.input+r.output > 0 {
		r.record.Tokens(r.Lease.Model, r.input, r.output)
		if ur, ok := r.relay.pool.(UsageRecorder); ok {
			ur.RecordUsage(r.Lease.Grant.CredentialID, r.Lease.Model, r.input, r.output)
		}
	}
}

// Bounds of the read of what is left of a stream's upstream body after its
// terminal event (Reply.drain): past either, the body is closed, and with
// it the connection.
const (
	drainMax  = 64 << 10
	drainWait = time.Second
)

// drain reads what is left of the upstream body, within drainMax and
// drainWait, then closes it: an HTTP/1 connection whose body was read to
// its end goes back to the pool.
func (r *Reply) drain() {
	body := r.Resp.Body
	stop := time.AfterFunc(drainWait, func() { _ = body.Close() })
	_, _ = io.CopyN(io.Discard, body, drainMax)
	stop.Stop()
	_ = body.Close()
	r.cancel(nil)
}
