// Package actors is Pollux's credential pool, built on protoactor-go.
//
// The tree, per process:
//
//	root
//	├── persistence            the only SQLite writer; batches; replies once durable
//	└── <provider>             pool supervisor (one-for-one, 5 restarts a minute)
//	    ├── scheduler          read model of the pool; Acquire → Lease | Unavailable
//	    ├── onboarding         ingestion jobs, paced by the provider's oauth_tps; device-code sign-ins polled on the clock
//	    └── credential-<id>    one per credential: tokens, status, cooldowns, refresh
//
// Message flow of one request:
//
//	transport ──Acquire──▶ scheduler ──Lease──▶ transport ──(upstream call)──┐
//	transport ──Outcome──▶ scheduler ──Outcome(seq)──▶ credential            │
//	credential ──CredentialChanged(seq)──▶ scheduler ◀───────────────────────┘
//	credential ──SaveState / SaveCooldowns──▶ persistence
//
// The scheduler answers in one round trip from its own read model: per-model
// queues of ready credentials in least-recently-used order (see
// schedpolicy.go). A failed lease puts its credential on hold for the
// affected model until the credential, which alone owns cooldown policy
// (credstate.go), reports its new state; so no second request is sent to a
// credential that just answered 429. With routing = "quota" (the default)
// the ready credentials are ranked instead by the quota their upstream
// reports (soonest reset first, nearly spent last), less what the scheduler
// counted as spent since (quotaheap.go); credentials read their quotas at an
// interval and after every limit answer. A credential whose cooldown just
// ended takes one probe request, then ramps up; a request for a model others
// wait for queues behind them.
//
// Refresh: a credential refreshes a few minutes (with jitter) before its
// token expires, or at once when the upstream rejects the token or waiting
// requests find it expired. One refresh runs at a time per credential; the
// HTTP call and the durable save of the new tokens run on a goroutine, and
// the actor adopts the tokens only after the save committed, because with
// rotating refresh tokens the old one is dead from that moment.
//
// Time comes from an injected Clock; every timer message carries a
// generation so a stale firing is ignored. A restarted actor rebuilds its
// state from SQLite. Transport talks to the tree only through Pool, whose
// Acquire guarantees every granted Lease is closed by exactly one Outcome,
// even when the caller gave up before the Lease arrived.
//
// Messages (messages.go) are grouped by the actor that receives them, each
// naming its sender and its reply; a sealed marker interface per actor lists
// its entry points, and the typed helpers of ask.go (askScheduler,
// askOnboarding, askPool, tellCredential, persist, ...) take only those, a
// request's marker naming its reply type. Code outside the actors asks
// through them (askAs): one reply of the expected type, bounded by a context; a
// reply that comes after the caller gave up goes to a late handler, so a
// late Lease is still closed. Tests wait on the messages actors handled (a
// receiver-middleware tap feeding actorstest.Expector), not by polling.
//
// Dispatch: the scheduler's and the credentials' mailboxes run on the
// system's long-lived workers (dispatch.go), not on protoactor's goroutine
// per run, whose stack every run grew anew; a run that finds every worker
// busy takes a new goroutine, so nothing queues behind a worker. The
// scheduler does not run on its posters' goroutines (protoactor's
// synchronized dispatcher): that would save a wake-up per Acquire, but it
// makes every post, a timer's included, run the scheduler there and then
// (schedulerProps says what was measured). Pool.Acquire's reply mailboxes
// are reused (replyPool in ask.go), not registered per request.
//
// Member keys (keys.go, package keyring): System.Keys holds the key set the
// request path authorizes against, in memory; admin changes are written
// through persistence (SaveMemberKey, DeleteMemberKey) and published to the
// set once committed. Per-request usage is summed in atomic counters and
// sent as one SaveKeyUsage every 2 s, at shutdown, and before a report.
package actors
