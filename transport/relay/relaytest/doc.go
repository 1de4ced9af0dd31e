// Package relaytest provides fakes for tests of the relay and of the client
// surfaces: a relay.Pool over credentials by id that records every lease
// and report, and a providers.Upstream that forwards to an httptest server
// and classifies answers by status; no actors and no storage.
package relaytest
