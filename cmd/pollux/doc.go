// Command pollux runs the Pollux gateway: it loads config.toml (writing a
// first-run file with a fresh key only when no file was named and none is
// found), opens the SQLite store, starts the credential pools and serves the
// Gemini and OpenAI surfaces until SIGINT or SIGTERM, then drains in-flight
// requests and shuts down in order.
//
// Subcommands: import (an original Pollux database), healthcheck (for
// container health checks), help and version; see "pollux --help".
package main
