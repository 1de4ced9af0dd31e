// Package relaytest provides a fake relay.Pool for tests of the relay and
// of the client surfaces: credentials by id, every lease and report
// recorded, no actors and no storage.
package relaytest
