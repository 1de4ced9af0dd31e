package actors

import (
	"context"
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// This file holds every message that crosses between actors or comes from
// outside the tree, grouped by the actor that receives it. Each names its
// sender, its receiver and its reply ("No reply" for a one-way message).
// Messages an actor sends only to itself (its timers, the results of its
// own goroutines) stay private beside that actor.
//
// Each actor's entry points are listed by a sealed marker interface (its
// methods are unexported, so only this package's messages have them), and
// messages are sent through typed helpers that take only that interface
// (askScheduler, tellScheduler, askPool, tellCredential, askOnboarding,
// persist, ...): the compiler refuses a message sent to the wrong actor. A
// request's marker method also names its reply type (schedulerRequest[R]
// and the like), so asking for the wrong reply does not compile either.

// ---- Scheduler (<pool>/scheduler) ----

// schedulerRequest is a request the scheduler answers with R (askScheduler).
type schedulerRequest[R any] interface{ schedulerReply() R }

// schedulerNotice is a one-way message to the scheduler (tellScheduler).
type schedulerNotice interface{ schedulerNotice() }

func (*Acquire) schedulerReply() acquireReply      { return nil }
func (*SnapshotRequest) schedulerReply() *Snapshot { return nil }
func (*SyncCooldowns) schedulerReply() *Persisted  { return nil }
func (*awaitLoaded) schedulerReply() *loaded       { return nil }
func (*Outcome) schedulerNotice()                  {}
func (*CredentialChanged) schedulerNotice()        {}

// Acquire asks for a ready credential for Model.
// Sender: Pool.Acquire (transport). Receiver: scheduler.
// Reply: *Lease, or *Unavailable once Deadline passes with nothing ready (or
// at once when waiting cannot help).
type Acquire struct {
	Model string
	// Exclude lists credentials this request already tried.
	Exclude []int64
	// Affinity keeps a conversation on one credential while it is ready.
	Affinity string
	// Prefer asks for this credential first (a retry after a refresh).
	Prefer    int64
	Deadline  time.Time
	RequestID string
}

// Lease grants one request the use of one credential. Every Lease is closed
// by exactly one Outcome.
// Sender: scheduler. Receiver: the Acquire's sender.
type Lease struct {
	ID    uint64
	Model string
	Grant providers.Grant
	// Pick is why the scheduler chose this credential (a Pick* constant),
	// for the access log at debug level.
	Pick string
}

// UnavailableReason says why no credential was granted.
type UnavailableReason uint8

const (
	// NoCredentials: no credential can ever serve this model right now
	// (none exist, all are disabled/banned/need re-auth, or all were tried).
	NoCredentials UnavailableReason = iota + 1
	// AllCooling: credentials exist but none became ready before the
	// deadline; RetryAt is when to come back: the earliest reset the
	// upstream stated (cooldowns end resetGrace after it, so a client
	// told a whole number of seconds rounded up is back at most a second
	// after the reset, and a request that arrives inside the grace parks
	// for it).
	AllCooling
)

// String names the reason for logs.
func (r UnavailableReason) String() string {
	switch r {
	case NoCredentials:
		return "no_credentials"
	case AllCooling:
		return "all_cooling"
	}
	return "unknown"
}

// Unavailable is the negative reply to Acquire.
// Sender: scheduler. Receiver: the Acquire's sender.
type Unavailable struct {
	Reason  UnavailableReason
	RetryAt time.Time
}

// acquireReply is the reply to Acquire: a *Lease or an *Unavailable.
type acquireReply interface {
	// granted is the reply as Pool.Acquire returns it.
	granted() (*Lease, error)
}

func (l *Lease) granted() (*Lease, error) { return l, nil }

func (u *Unavailable) granted() (*Lease, error) {
	return nil, &UnavailableError{Reason: u.Reason, RetryAt: u.RetryAt}
}

// Outcome closes a Lease with the upstream's verdict.
// Sender: Pool.Report (transport). Receiver: scheduler, which forwards it to
// the credential actor (with Seq set). No reply.
type Outcome struct {
	LeaseID      uint64
	CredentialID int64
	Model        string
	Result       providers.Outcome
	// Seq is set by the scheduler when forwarding; the credential echoes it
	// in CredentialChanged.OutcomeSeq.
	Seq uint64
}

// CredentialChanged is a credential's new lease data and view.
// Sender: credential actor. Receiver: scheduler. No reply.
type CredentialChanged struct {
	ID  int64
	PID *actor.PID
	// Removed means the credential is gone (deleted).
	Removed     bool
	Status      storage.Status
	AccessToken config.Secret
	Account     string
	Extra       json.RawMessage
	Expiry      time.Time
	Refreshing  bool
	// Cooldowns maps model (or storage.AllModels) to the end of its
	// cooldown; only running cooldowns are present.
	Cooldowns map[string]time.Time
	// OutcomeSeq is the highest forwarded Outcome.Seq folded in.
	OutcomeSeq uint64
	// Quota is what the upstream last reported of the credential's quotas
	// (polled, or read from response headers); nil when nothing is known.
	Quota []providers.QuotaBucket
	View  CredentialView
}

// CredentialView is what operators may see of a credential: never tokens.
type CredentialView struct {
	ID           int64              `json:"id"`
	Provider     string             `json:"provider"`
	Email        string             `json:"email"`
	Account      string             `json:"account"`
	Tier         string             `json:"tier"`
	Status       storage.Status     `json:"status"`
	StatusReason string             `json:"status_reason,omitempty"`
	StatusSince  time.Time          `json:"status_since"`
	Expiry       time.Time          `json:"token_expiry"`
	Refreshing   bool               `json:"refreshing"`
	Cooldowns    []storage.Cooldown `json:"cooldowns,omitempty"`
	LastError    string             `json:"last_error,omitempty"`
	// Windows are the account's last reported usage windows (Codex).
	Windows []providers.QuotaWindow `json:"usage_windows,omitempty"`
	// Quota is what the upstream last reported of the credential's quotas.
	Quota    []providers.QuotaBucket `json:"quota,omitempty"`
	QuotaAt  time.Time               `json:"quota_at,omitzero"`
	InFlight int                     `json:"in_flight"`
	Served   uint64                  `json:"served"`
	LastUsed time.Time               `json:"last_used,omitzero"`
}

// SnapshotRequest asks for every credential's view.
// Sender: Pool.Snapshot. Receiver: scheduler. Reply: *Snapshot.
type SnapshotRequest struct{}

// Snapshot is the reply to SnapshotRequest.
// Sender: scheduler. Receiver: Pool.Snapshot.
type Snapshot struct {
	Credentials []CredentialView
	Waiting     int
}

// SyncCooldowns asks that credential CredentialID's cooldowns be durable:
// the reply comes after a commit that holds every Outcome reported for it
// before. Sender: Pool.SyncCooldowns. Receiver: scheduler, which forwards it
// to the credential (after the Outcomes it forwarded), which has persistence
// reply. Reply: *Persisted.
type SyncCooldowns struct{ CredentialID int64 }

// awaitLoaded asks the scheduler to reply *loaded once it knows n
// credentials (startup: traffic waits for the whole pool).
// Sender: pool actor, on behalf of System.Start (spawnCredentials).
// Receiver: scheduler. Reply: *loaded.
type awaitLoaded struct{ n int }

// loaded is the reply to awaitLoaded (and so to spawnCredentials).
// Sender: scheduler. Receiver: the spawnCredentials sender.
type loaded struct{}

// ---- Pool supervisor (<pool>) ----

// poolRequest is a request the pool actor answers with R (askPool); the
// operator commands (Pool.command) are those answered with *Done.
type poolRequest[R any] interface{ poolReply() R }

func (*SetDisabled) poolReply() *Done        { return nil }
func (*Remove) poolReply() *Done             { return nil }
func (*refreshRequest) poolReply() *Done     { return nil }
func (*spawnCredentials) poolReply() *loaded { return nil }
func (*credentialAdded) poolReply() *pong    { return nil }

// SetDisabled disables or re-enables a credential.
// Sender: Pool (admin). Receiver: pool supervisor → credential actor.
// Reply: *Done.
type SetDisabled struct {
	ID       int64
	Disabled bool
	Reason   string
}

// Remove deletes a credential: its actor stops at once (no refresh ever
// again) and its row is deleted.
// Sender: Pool (admin). Receiver: pool supervisor. Reply: *Done.
type Remove struct{ ID int64 }

// Done is the generic reply to an operator command (a poolCommand).
// Sender: pool actor or the credential actor it forwarded to. Receiver:
// Pool.command.
type Done struct{ Err error }

// refreshRequest asks one credential to refresh now (operator action).
// Sender: Pool.Refresh. Receiver: pool actor → credential actor (as
// RefreshNeeded). Reply: *Done.
type refreshRequest struct{ id int64 }

// spawnCredentials starts a page of credential actors at start-up, each
// from its stored row (rows, read by the sender; marks are the pool's
// refresh marks by id), so no actor reads storage to start.
// Sender: System.Start (startCredentials), or the pool itself after a
// restart of its own. Receiver: pool actor. Reply: *loaded once the
// scheduler knows every credential started so far (total).
type spawnCredentials struct {
	rows  []storage.Credential
	marks map[int64]time.Time
	total int
}

// credentialAdded tells the pool a row was inserted or updated.
// Sender: an onboarding worker. Receiver: pool actor, which starts or
// reloads the credential and has it answer. Reply: *pong once the
// credential is schedulable.
type credentialAdded struct {
	id       int64
	inserted bool
}

// schedulerStarted tells the pool a (re)started scheduler needs every
// credential to publish again.
// Sender: scheduler. Receiver: pool actor (its parent). No reply.
type schedulerStarted struct{}

// ---- Credential (<pool>/credential-<id>) ----
// It also takes SetDisabled (forwarded by the pool), Outcome and
// SyncCooldowns (forwarded by the scheduler).

// credentialRequest is a request a credential actor answers with R, which
// the pool forwards with its asker as the sender (forwardToCredential).
type credentialRequest[R any] interface{ credentialReply() R }

// credentialNotice is a one-way message to a credential actor
// (tellCredential).
type credentialNotice interface{ credentialNotice() }

func (*SetDisabled) credentialReply() *Done { return nil }
func (*ping) credentialReply() *pong        { return nil }
func (*RefreshNeeded) credentialNotice()    {}
func (*Resync) credentialNotice()           {}
func (*Reload) credentialNotice()           {}
func (*QuotaRecheck) credentialNotice()     {}

// RefreshNeeded asks a credential to refresh now (its token is about to
// expire while requests wait for it, or an operator asked). Operator asks
// also a credential in needs_reauth: a refresh that works revives it.
// Sender: scheduler or pool. Receiver: credential actor. No reply.
type RefreshNeeded struct {
	Reason   string
	Operator bool
}

// Resync asks a credential to publish its CredentialChanged again (the
// scheduler restarted).
// Sender: pool supervisor. Receiver: credential actor. No reply.
type Resync struct{}

// Reload asks a credential to re-read its row (new tokens were ingested for
// it).
// Sender: pool supervisor. Receiver: credential actor. No reply.
type Reload struct{}

// QuotaRecheck asks a credential to read its quota now: the scheduler's
// estimate has it spent for a model although its last report said quota was
// left, and nothing is in flight on it, so a read now is exact.
// Sender: scheduler. Receiver: credential actor. No reply.
type QuotaRecheck struct{}

// ping is answered with pong once everything before it was handled (used
// to know a new credential is schedulable).
// Sender: pool actor, on behalf of credentialAdded's sender. Receiver:
// credential actor. Reply: *pong.
type (
	ping struct{}
	pong struct{}
)

// ---- Onboarding (<pool>/onboarding) ----

// onboardingRequest is a request the onboarding actor answers with R
// (askOnboarding).
type onboardingRequest[R any] interface{ onboardingReply() R }

// onboardingNotice is a one-way message to the onboarding actor
// (tellOnboarding).
type onboardingNotice interface{ onboardingNotice() }

func (*Ingest) onboardingReply() *IngestStarted     { return nil }
func (*JobQuery) onboardingReply() *JobStatus       { return nil }
func (*PollSignIn) onboardingReply() *SignInStarted { return nil }
func (*SignInQuery) onboardingReply() *SignInStatus { return nil }
func (*CancelSignIns) onboardingNotice()            {}

// Ingest starts onboarding a batch of new credentials (each needs at least a
// RefreshToken; Account pins a project where the provider supports it).
// Sender: Pool.Ingest. Receiver: onboarding actor. Reply: *IngestStarted.
type Ingest struct{ Seeds []providers.Credential }

// IngestStarted is the reply to Ingest, sent once the job and its tokens
// are durable (Err says they could not be stored: nothing was accepted).
// Sender: onboarding actor. Receiver: Pool.Ingest.
type IngestStarted struct {
	JobID string
	Err   error
	// Accepted is how many distinct tokens will be onboarded; Duplicates
	// how many repeated an earlier token of the same batch.
	Accepted, Duplicates int
}

// JobQuery asks for a job's progress; with Wait the reply comes once the job
// has finished.
// Sender: Pool. Receiver: onboarding actor. Reply: *JobStatus.
type JobQuery struct {
	JobID string
	Wait  bool
}

// JobStatus is a snapshot of one ingestion job: the reply to JobQuery.
// Sender: onboarding actor. Receiver: Pool.Job.
type JobStatus struct {
	ID         string    `json:"id"`
	Provider   string    `json:"provider"`
	Found      bool      `json:"-"`
	Total      int       `json:"total"`
	Done       int       `json:"done"`
	Finished   bool      `json:"finished"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitempty"`
	Verdicts   []Verdict `json:"verdicts"`
}

// ---- Persistence (the single writer) ----

// persistenceMsg is a write the persistence actor takes; persist sends one
// as a request and waits for its commit.
type persistenceMsg interface{ persistenceMsg() }

func (*SaveState) persistenceMsg()         {}
func (*SaveCooldowns) persistenceMsg()     {}
func (*SaveTokens) persistenceMsg()        {}
func (*MarkRefresh) persistenceMsg()       {}
func (*SaveIngestJob) persistenceMsg()     {}
func (*SaveIngestVerdict) persistenceMsg() {}
func (*FinishIngestJob) persistenceMsg()   {}
func (*DeleteIngestJob) persistenceMsg()   {}
func (*UpsertCredential) persistenceMsg()  {}
func (*DeleteCredential) persistenceMsg()  {}
func (*PutSetting) persistenceMsg()        {}
func (*RecordUsage) persistenceMsg()       {}
func (*SaveMemberKey) persistenceMsg()     {}
func (*DeleteMemberKey) persistenceMsg()   {}
func (*SaveKeyUsage) persistenceMsg()      {}

// SaveState persists a status transition. Sender: credential actor.
// Receiver: persistence. No reply.
type SaveState struct {
	ID     int64
	Status storage.Status
	Reason string
	Since  time.Time
}

// SaveCooldowns replaces a credential's cooldown rows. Sender: credential
// actor. Receiver: persistence. No reply.
type SaveCooldowns struct {
	ID        int64
	Cooldowns []storage.Cooldown
}

// SaveTokens persists refreshed tokens. Sender: a credential's refresh
// goroutine (as a request, so the new token is durable before it is used)
// or the credential actor (a retry). Receiver: persistence. Reply: *Persisted
// when sent as a request.
type SaveTokens struct {
	ID           int64
	AccessToken  config.Secret
	RefreshToken config.Secret
	Expiry       time.Time
}

// MarkRefresh records, before the token endpoint is called, that a refresh
// of credential ID is under way; SaveTokens clears it with the new tokens.
// Sender: a credential's refresh goroutine (as a request). Receiver:
// persistence. Reply: *Persisted.
type MarkRefresh struct {
	ID int64
	At time.Time
}

// SaveIngestJob stores a new ingestion job with its submitted tokens, before
// its submitter hears 202. Sender: onboarding (a goroutine). Receiver:
// persistence. Reply: *Persisted.
type SaveIngestJob struct{ Job storage.IngestJob }

// SaveIngestVerdict records one item's verdict (JSON, no token) and clears
// its stored tokens. Sender: onboarding. Receiver: persistence. No reply.
type SaveIngestVerdict struct {
	JobID   string
	Index   int
	Verdict string
}

// FinishIngestJob marks a job finished; DeleteIngestJob forgets a pruned
// one. Sender: onboarding. Receiver: persistence. No reply.
type (
	FinishIngestJob struct {
		JobID string
		At    time.Time
	}
	DeleteIngestJob struct{ JobID string }
)

// UpsertCredential stores an onboarded credential. Sender: onboarding
// worker. Receiver: persistence. Reply: *Persisted.
type UpsertCredential struct{ Credential storage.Credential }

// DeleteCredential deletes a row. Sender: pool supervisor. Receiver:
// persistence. Reply: *Persisted when sent as a request.
type DeleteCredential struct{ ID int64 }

// PutSetting stores a key/value setting. Sender: anyone. Receiver:
// persistence. Reply: *Persisted.
type PutSetting struct {
	Key   string
	Value []byte
}

// RecordUsage adds to the usage counters. Sender: Pool.RecordUsage
// (transport, once per served reply). Receiver: persistence. No reply.
type RecordUsage struct{ Delta storage.UsageDelta }

// SaveMemberKey inserts (ID 0) or replaces a member key. Sender: Keys.
// Receiver: persistence. Reply: *Persisted with the key's id.
type SaveMemberKey struct{ Key storage.MemberKey }

// DeleteMemberKey deletes a member key (its usage stays). Sender: Keys.
// Receiver: persistence. Reply: *Persisted.
type DeleteMemberKey struct{ ID int64 }

// SaveKeyUsage adds the key usage gathered since the last one (Keys sums
// the counters of each request in memory and sends them every usageEvery,
// at shutdown, and before a usage report). Sender: Keys. Receiver:
// persistence. Reply: *Persisted when sent as a request.
type SaveKeyUsage struct{ Deltas []storage.KeyUsageDelta }

// Persisted is the reply to a write that was sent as a request: it arrives
// once the write is committed (Err nil) or failed.
// Sender: persistence (or the scheduler/credential relaying SyncCooldowns).
// Receiver: the write's sender.
type Persisted struct {
	ID       int64
	Inserted bool
	Err      error
}

// ---- Device-code sign-ins (issue 13) ----
//
// A device-code sign-in waits for a person to approve a code at the
// provider. The onboarding actor polls it on the pool's clock and onboards
// the credential it yields like an ingestion job; the HTTP layer only
// starts it, asks how it ended, and cancels it when the server stops.

// PollSignIn starts waiting for a device-code sign-in: Step runs at once,
// then every Interval until it yields a credential or fails, or Expires
// passes. Sender: Pool.PollSignIn (transport/signin). Receiver: onboarding
// actor. Reply: *SignInStarted.
type PollSignIn struct {
	ID       string
	Step     SignInStep
	Interval time.Duration
	Expires  time.Time
}

// SignInStep asks the authorization server once whether a sign-in was
// approved: the credential once it was, ErrSignInPending while it is not
// (or the server had a transient failure), any other error to end it. It
// runs on a goroutine, never on the actor's.
type SignInStep func(ctx context.Context) (providers.Credential, error)

// SignInStarted is the reply to PollSignIn; Err says it was refused
// (ErrSignInStopped, a duplicate id).
type SignInStarted struct{ Err error }

// SignInQuery asks how a device-code sign-in is doing; with Wait the reply
// comes once it has ended. Sender: Pool.SignIn. Receiver: onboarding actor.
// Reply: *SignInStatus.
type SignInQuery struct {
	ID   string
	Wait bool
}

// SignInStatus is a device-code sign-in's state. Found is false for an
// unknown id. Once Done, either Err says why no credential came
// (ErrSignInExpired, ErrSignInStopped, or the step's error), or Job is the
// finished onboarding job of the credential (its one verdict); a Job that
// could not be stored leaves Err set and Job nil.
type SignInStatus struct {
	ID    string
	Found bool
	Done  bool
	Err   error
	Job   *JobStatus
}

// CancelSignIns ends every device-code sign-in still waiting for approval
// (with ErrSignInStopped) and refuses new ones: the server is stopping.
// Sender: Pool.CancelSignIns. Receiver: onboarding actor. No reply.
type CancelSignIns struct{}
