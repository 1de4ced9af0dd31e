// Package signin adds accounts to the pools by signing in at the provider:
// the browser OAuth flows (GET /geminicli/auth, GET /codex/auth and the
// providers' redirects), the paste page for a redirect that did not load
// (/oauth/paste), and the Codex device-code sign-in (/codex/auth/device and
// its page /oauth/device/{id}). A signed-in credential is onboarded through
// the provider's pool exactly as resource:add does, and the verdict shown
// as a page (package oauthpages) or JSON.
//
// The package decides no access: the root package transport hands
// MountOperator (the starts) and MountOpen (the callbacks, guarded by the
// signed flow cookie) the function that mounts a route in the right key
// group. What the flows need of the rest of the gateway comes through Deps:
// the providers' OAuth clients (GeminiAuth, CodexAuth), the pools'
// Ingester, and the Codex pool as the DevicePoller: its onboarding actor
// polls each device-code sign-in on the pool's clock and onboards the
// credential, while this package starts the sign-in, shows its code and
// reads how it ended. Enable, called before serving, loads the cookie signing key
// from a SettingsStore; until then every route answers 503.
package signin
