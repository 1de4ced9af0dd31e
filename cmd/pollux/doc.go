// Command pollux runs the Pollux gateway: it loads config.toml (writing a
// first-run file with a fresh key when there is none), opens the SQLite
// store, starts the credential pools and serves the Gemini and OpenAI
// surfaces until SIGINT or SIGTERM, then drains in-flight requests and shuts
// down in order.
package main
