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
package relay
