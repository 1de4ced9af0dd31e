// Package config describes the Pollux configuration file, config.toml, and
// turns it into a Config.
//
// The file is TOML with a [basic] table and one [providers.<name>] table per
// upstream, plus [providers.defaults] whose proxy, retry_max_times,
// max_concurrent_per_credential and queue_timeout_secs every provider
// inherits unless its own table sets them. Files written for the original
// Pollux load unchanged: keys this version does not know are reported as
// warnings with their line, never as errors.
//
// Loading is three steps: Parse (defaults, then the file), environment
// overrides (POLLUX_KEY, POLLUX_LISTEN_ADDR, POLLUX_LISTEN_PORT,
// POLLUX_DATABASE_URL, POLLUX_LOGLEVEL), then Validate, which reports every
// problem at once, each with its key path and, when the key came from the
// file, its line. Load does all three, and returns the warnings with the
// errors: an ignored key often explains an error.
//
// LocatePath finds the file (--config, else POLLUX_CONFIG, else
// ./config.toml) and says what named it: only the default search may write
// a first-run file; a named file must exist.
//
// The commented reference file is example.toml in this directory, embedded
// in the binary (ExampleTOML) and written by EnsureFile on first run with a
// fresh random pollux_key. deploy/config.toml.example is a byte-identical
// copy for people who read the deploy folder first; a test keeps the two in
// step.
//
// Field doc comments in config.go are the reference documentation for each
// key.
package config
