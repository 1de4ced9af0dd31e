package actors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/storage"
)

// writeTimeout bounds one batch transaction.
const writeTimeout = 10 * time.Second

// maxWriteAttempts is how often a write nobody waits on is retried after a
// failed commit before it is dropped (and logged).
const maxWriteAttempts = 5

type flushNow struct{}

type pendingWrite struct {
	msg      any
	reply    *actor.PID
	attempts int
}

// health is the persistence actor's verdict on the database, read by
// readiness checks from other goroutines.
type health struct {
	err atomic.Pointer[error]
}

func (h *health) set(err error) {
	if err == nil {
		h.err.Store(nil)
		return
	}
	h.err.Store(&err)
}

func (h *health) get() error {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return nil
}

// persistenceActor is the only writer to SQLite. Writes that arrive while a
// batch commits are gathered and committed together in one transaction; a
// write sent as a request is answered with *Persisted after its commit.
type persistenceActor struct {
	db      *storage.DB
	log     *zap.Logger
	clock   Clock
	health  *health
	batch   []pendingWrite
	queued  bool
	retries []pendingWrite
	retryOn func() bool
	usage   map[usageKey]*storage.UsageDelta
	usageOn func() bool
}

func newPersistence(db *storage.DB, log *zap.Logger, clock Clock, h *health) actor.Actor {
	return &persistenceActor{db: db, log: log.Named("persistence"), clock: clock, health: h}
}

func (p *persistenceActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *RecordUsage:
		p.onUsage(ctx, msg)
	case *SaveMemberKey, *DeleteMemberKey, *SaveKeyUsage:
		p.enqueueWrite(ctx, msg)
	case *usageDue:
		p.usageOn = nil
		p.flushUsage(ctx)
	case *SaveState, *SaveCooldowns, *SaveTokens, *UpsertCredential, *DeleteCredential, *PutSetting,
		*SaveIngestJob, *SaveIngestVerdict, *FinishIngestJob, *DeleteIngestJob, *MarkRefresh:
		p.batch = append(p.batch, pendingWrite{msg: msg, reply: ctx.Sender()})
		if !p.queued {
			// Everything already in the mailbox lands before this marker,
			// so one commit covers it all.
			p.queued = true
			ctx.Send(ctx.Self(), &flushNow{})
		}
	case *flushNow:
		p.queued = false
		p.flush(ctx)
	case *retryDue:
		p.retryOn = nil
		p.batch = append(p.retries, p.batch...)
		p.retries = nil
		p.flush(ctx)
	case *actor.Stopping:
		if p.retryOn != nil {
			p.retryOn()
		}
		if p.usageOn != nil {
			p.usageOn()
			p.usageOn = nil
		}
		p.queueUsage()
		p.batch = append(p.retries, p.batch...)
		p.retries = nil
		p.flush(ctx)
	case *actor.Started, *actor.Stopped, *actor.Restarting:
	default:
		p.log.Warn("persistence: unknown message", zap.String("type", typeName(msg)))
	}
}

type retryDue struct{}

// usageDue fires when the gathered usage counters are due for a write.
type usageDue struct{}

// usageEvery is how often gathered usage counters are written. Usage is
// counted per request; writing each one would cost a transaction per
// request, so the counters are summed per (credential, model, day) in
// memory and written together. A crash loses at most this much accounting;
// it never loses a credential, a token or a cooldown.
const usageEvery = 2 * time.Second

type usageKey struct {
	credentialID int64
	provider     string
	model        string
	day          string
}

// onUsage adds a delta to the pending counters and arms the write.
func (p *persistenceActor) onUsage(ctx actor.Context, m *RecordUsage) {
	d := m.Delta
	if d.Day == "" {
		d.Day = storage.UsageDay(p.clock.Now())
	}
	k := usageKey{d.CredentialID, d.Provider, d.Model, d.Day}
	if p.usage == nil {
		p.usage = make(map[usageKey]*storage.UsageDelta)
	}
	if cur, ok := p.usage[k]; ok {
		cur.Requests += d.Requests
		cur.InputTokens += d.InputTokens
		cur.OutputTokens += d.OutputTokens
	} else {
		p.usage[k] = &d
	}
	if p.usageOn == nil {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		p.usageOn = p.clock.AfterFunc(usageEvery, func() { root.Send(self, &usageDue{}) })
	}
}

// queueUsage moves the pending counters into the write batch.
func (p *persistenceActor) queueUsage() {
	for _, d := range p.usage {
		p.batch = append(p.batch, pendingWrite{msg: &RecordUsage{Delta: *d}})
	}
	p.usage = nil
}

func (p *persistenceActor) flushUsage(ctx actor.Context) {
	p.queueUsage()
	p.flush(ctx)
}

func (p *persistenceActor) flush(ctx actor.Context) {
	batch := p.batch
	p.batch = nil
	if len(batch) == 0 {
		return
	}
	results := make([]Persisted, len(batch))
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	err := p.db.WriteTx(wctx, func(tx *storage.Tx) error {
		for i := range batch {
			results[i] = apply(wctx, tx, batch[i].msg)
			if results[i].Err != nil && !benign(results[i].Err) {
				return results[i].Err
			}
		}
		return nil
	})
	if err != nil {
		// Isolate the bad write: commit each on its own.
		p.log.Warn("persistence: batch failed; writing one by one", zap.Int("writes", len(batch)), zap.Error(err))
		for i := range batch {
			err := p.db.WriteTx(wctx, func(tx *storage.Tx) error {
				results[i] = apply(wctx, tx, batch[i].msg)
				if results[i].Err != nil && !benign(results[i].Err) {
					return results[i].Err
				}
				return nil
			})
			if err != nil && results[i].Err == nil {
				results[i].Err = err
			}
		}
	}
	var failed error
	for i, w := range batch {
		r := results[i]
		if r.Err != nil && !benign(r.Err) && !errors.Is(r.Err, storage.ErrDuplicate) {
			if w.reply == nil && w.attempts+1 < maxWriteAttempts {
				w.attempts++
				p.retries = append(p.retries, w)
			} else if w.reply == nil {
				p.log.Error("persistence: write dropped after retries", zap.String("write", typeName(w.msg)), zap.Error(r.Err))
			}
			failed = r.Err
		}
		if w.reply != nil {
			res := r
			ctx.Send(w.reply, &res)
		}
	}
	p.health.set(failed)
	if failed != nil {
		p.log.Error("persistence: write failed", zap.Error(failed))
	}
	if len(p.retries) > 0 && p.retryOn == nil {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		p.retryOn = p.clock.AfterFunc(time.Second, func() { root.Send(self, &retryDue{}) })
	}
}

// benign reports whether a write failed only because its credential is gone
// (deleted meanwhile): nothing to retry, nothing wrong with the database.
func benign(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNameTaken)
}

func apply(ctx context.Context, tx *storage.Tx, msg any) Persisted {
	switch m := msg.(type) {
	case *SaveState:
		return Persisted{ID: m.ID, Err: tx.SaveState(ctx, m.ID, m.Status, m.Reason, m.Since)}
	case *SaveCooldowns:
		return Persisted{ID: m.ID, Err: tx.ReplaceCooldowns(ctx, m.ID, m.Cooldowns)}
	case *SaveTokens:
		return Persisted{ID: m.ID, Err: tx.SaveTokens(ctx, m.ID, m.AccessToken, m.RefreshToken, m.Expiry)}
	case *UpsertCredential:
		id, inserted, err := tx.UpsertCredential(ctx, m.Credential)
		return Persisted{ID: id, Inserted: inserted, Err: err}
	case *DeleteCredential:
		return Persisted{ID: m.ID, Err: tx.DeleteCredential(ctx, m.ID)}
	case *PutSetting:
		return Persisted{Err: tx.PutSetting(ctx, m.Key, m.Value)}
	case *RecordUsage:
		return Persisted{ID: m.Delta.CredentialID, Err: tx.AddUsage(ctx, m.Delta)}
	case *MarkRefresh:
		return Persisted{ID: m.ID, Err: tx.MarkRefresh(ctx, m.ID, m.At)}
	case *SaveIngestJob:
		return Persisted{Err: tx.SaveIngestJob(ctx, m.Job)}
	case *SaveIngestVerdict:
		return Persisted{Err: tx.SaveIngestVerdict(ctx, m.JobID, m.Index, m.Verdict)}
	case *FinishIngestJob:
		return Persisted{Err: tx.FinishIngestJob(ctx, m.JobID, m.At)}
	case *DeleteIngestJob:
		return Persisted{Err: tx.DeleteIngestJob(ctx, m.JobID)}
	}
	if res, ok := applyKeys(ctx, tx, msg); ok {
		return res
	}
	return Persisted{Err: fmt.Errorf("persistence: unknown write %T", msg)}
}
