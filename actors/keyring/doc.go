// Package keyring holds the member keys in memory and enforces their
// policies on the request path: who a presented secret belongs to, which
// surfaces and models the key may use, and its limits (requests per minute,
// concurrent requests, tokens per day and per month).
//
// # Design: a copy-on-write snapshot
//
// The request path reads far more often than operators change keys, so the
// set of keys is an immutable snapshot behind an atomic.Pointer: Authorize
// is one atomic load and one map read by the secret's SHA-256, with no lock
// and no allocation. Admin changes (create, patch, disable, rotate, delete)
// are serialised by a mutex, build a new snapshot and publish it with one
// store before the admin call returns, so the very next request sees the
// change; no cache outlives it. An actor would put a mailbox round trip
// (and a goroutine hand-off) on every request for a value that changes a
// few times a day.
//
// A key's limit counters are not part of the snapshot: each key id owns one
// *usageState that survives every version of the key (a patch or a rotation
// keeps the counters) and is guarded by its own small mutex, so requests on
// different keys never contend, and the counters of one key stay exact
// under any concurrency.
//
// # Limits
//
//   - requests per minute: a sliding window; a request is admitted when
//     fewer than the limit were admitted in the 60 s before it. Retry-After
//     is when the oldest of those leaves the window.
//   - concurrent requests: admitted requests not yet finished.
//   - tokens per day and per month (UTC): input plus output tokens as the
//     upstream reported them. They are checked before a request (none left
//     → refused until the period turns) and charged when it ends. A
//     request's cost is known only when it ends, so each admitted request
//     reserves the key's average cost per request (the first one, with no
//     average yet, everything that is left), and while the requests in
//     flight have reserved what is left, more are refused for a second.
//     So one request may take a key past its limit, but a burst cannot.
//
// Time comes from an injected clock, so the limits are tested on a fake
// one. The counters start from the stored usage of the current day and
// month (Seed), so a restart does not reset them.
package keyring
