// Command bareproxy is the reference proxy of the floor benchmark: the
// least any gateway built on net/http does for a request. It takes the
// upstream's own request (the floor's: the Code Assist envelope, the
// Codex backend body), makes the second HTTP exchange with
// net/http/httputil.ReverseProxy over a kept-alive connection, and copies
// the answer back, flushing after every write of the upstream so each SSE
// event goes out as it comes. It reads no body, holds no credential, logs
// nothing and keeps no state.
//
// cmd/loadgen/floor.sh loads it (loadgen -path P -bare) next to the
// simulator alone and to Pollux, so Pollux / floor splits into
// bare / floor, what being a net/http proxy at all costs, and
// Pollux / bare, what Pollux adds on top of that.
//
// Usage:
//
//	bareproxy -listen 127.0.0.1:PORT -upstream http://127.0.0.1:SIMPORT
//
// Only loopback addresses are accepted on both sides: it is a benchmark
// fixture, never a proxy to put anywhere else.
package main
