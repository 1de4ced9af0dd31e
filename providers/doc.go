// Package providers defines the contract between the credential pool and an
// upstream, and holds one sub-package per upstream (geminicli, codex) plus the
// SSE wire codec they share.
//
// The contract is split by consumer:
//
//   - Authority is what the credential and onboarding actors need: refresh a
//     credential's tokens, and onboard a new refresh token (identity, project
//     or account, tier or plan, or a verdict that it cannot serve).
//   - Upstream is what the transport relay needs: send one call with a leased
//     credential, and classify a non-2xx answer into an Outcome.
//
// Outcome is the only thing the pool and the relay decide on. Providers know
// the protocol (which status and body means what); they never decide retry
// policy, cooldown arithmetic or scheduling.
//
// Packages here import no actors and no transport code: a provider is protocol
// knowledge plus an *http.Client, testable with httptest alone.
package providers
