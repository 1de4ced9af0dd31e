// Package gatewayfaults holds the whole-gateway fault tables: a real SQLite
// file, the real actor pools, the real provider clients pointed at the fake
// upstreams, and the server on a loopback listener, driven through the
// failures the upstreams produce (limits, expiries, overloads, cut streams,
// shutdown). It has tests only; the surfaces' own handler and codec tests
// live beside them in transport, against a fake pool.
package gatewayfaults
