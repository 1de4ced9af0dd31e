// Package sse is the Server-Sent Events wire codec: a Reader that splits a
// byte stream into events on blank-line boundaries (never on network reads),
// and append-style encoders for events and comments. It holds no HTTP server
// code, so providers can read upstream streams with it and transport can
// write client streams with it.
package sse
