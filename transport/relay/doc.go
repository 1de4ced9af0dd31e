// Package relay is the kernel every client surface relays through: it
// leases a credential from a Pool, calls the provider's upstream, and tries
// another credential while a failure is retryable and nothing has reached
// the client; then it pumps the answer's stream to the client through the
// surface's Codec.
//
// One request's path:
//
//	surface handler ── Relay.Do(Request) ──► attempt loop
//	                                          Pool.Acquire → Upstream.Send → Classify → Pool.Report
//	                                          retries.again: the one retry decision (retryable kind,
//	                                          retry budget, 401 refresh rounds, limit rounds, queue deadline)
//	                                          all cooling beyond the queue deadline: the next model of
//	                                          Request.Fallbacks (Request.Retarget builds its call)
//	                                          Request.Check (HoldHead: a held-back stream head, replayed)
//	               ◄── *Reply, or *Failure / *Error
//	defer reply.Finish()                      reports the settled outcome (abandoned by default)
//	Relay.Stream(w, reply, Codec)             SSE pump: a burst flushed at once, keep-alives while
//	                                          the upstream is silent, client disconnect, shutdown;
//	                                          Codec.Event per event, Codec.End for the outcome and
//	                                          the surface's terminal bytes
//
// The surface owns its wire format: the Codec, the error envelope, and
// what the client is told about a Failure. The relay owns what is the same
// for every surface: the retry decision, the one map from error kinds to
// HTTP statuses and Retry-After (ErrorKind.Status, FailureKind,
// RetryAfterSecs), and the request Record it reports attempts, outcome,
// timings and usage to. It imports no surface.
//
// The stream pump runs on the handler's goroutine: it reads an upstream
// event, has the codec translate it, writes it, and flushes when no further
// whole event is buffered (one flush per burst). The stream's last event
// (the codec said done, or the upstream's end was read with it) is not
// flushed: the handler's return sends it with the response's closing chunk
// in one write instead of two. After a codec-ended stream, what is left of
// an HTTP/1 upstream body (its closing chunk) is read off the handler's
// goroutine, so the connection goes back to the pool. There is no reader
// goroutine handing events over a channel: that hand-off cost two goroutine
// wake-ups per event (BenchmarkStreamPump: 2.05–2.24 wake-ups per event
// before, 0.04–0.63 after, and less than half the time per event). What a
// blocked read used to be raced against now interrupts the read by
// recording why and closing the upstream body:
//   - the client leaving: context.AfterFunc on the request context, which
//     for a cancelable context registers a callback and starts no goroutine;
//   - the server's Ending: one waiter goroutine per Relay, alive while a
//     stream is open, stops every open stream;
//   - keep-alives: a timer (time.AfterFunc) whose callback writes the
//     comment under the writer's lock when the client got nothing for the
//     interval; its goroutine exists only while it fires. A keep-alive that
//     finds the client gone stops the stream.
//
// The other ways were weighed and dropped. Read deadlines: the upstream's
// connection is HTTP/2, shared by many streams, so a deadline on it is not
// per stream, and an upstream response body has no deadline of its own. A
// reader goroutine only while the upstream is silent: whether a read will
// wait is known only by making it, and events that arrive apart (the usual
// case) would each need the hand-off again.
package relay
