package actors

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// Credential-internal messages. Each timer message carries the generation
// it was armed with; a firing with a stale generation is ignored.
type (
	// refreshDue and refreshGo come from the pool's alarms: alarm is the
	// refreshAlarm they were armed with (a stopped wait moves it on).
	refreshDue    struct{ gen, alarm uint64 }
	refreshGo     struct{ gen, alarm uint64 }
	refreshResult struct {
		gen        uint64
		cred       providers.Credential
		err        error
		persistErr error
	}
	coolingOver struct{ gen uint64 }
	quotaDue    struct{ gen uint64 }
	quotaResult struct {
		buckets []providers.QuotaBucket
		err     error
	}
	// crash makes the actor panic: a fault-injection hook for supervision
	// tests (unexported, so nothing outside the package can send it).
	crash struct{}
)

// credentialActor owns the truth about one credential: tokens, status,
// cooldowns and the refresh cycle. All I/O (refresh HTTP, durable token
// save) runs on a goroutine that reports back with refreshResult.
type credentialActor struct {
	id int64
	d  *poolDeps

	cred       providers.Credential
	st         credState
	windows    []providers.QuotaWindow
	outcomeSeq uint64

	// interruptedRefresh is when (Unix nanoseconds, 0 for never) a refresh
	// started that a crash cut short before its tokens were stored (a
	// refresh mark found at start). It and quotaOnLimit are rarely set and
	// kept as 8-byte instants, not 24-byte time.Time: with the bools packed
	// together the actor fits a 512-byte allocation, not 576 (issue 15).
	interruptedRefresh int64

	refreshGen      uint64 // bumped when a refresh starts or its timer is re-armed
	refreshLaunched time.Time
	refreshAlarm    uint64 // the armed refresh alarm's; bumped when it is stopped
	coolGen         uint64
	coolStop        func() bool

	// quota is what the upstream last reported of the credential's quotas
	// (a poll, or Codex response headers), replaced, never changed in place:
	// the scheduler holds the slice it was sent.
	quota    []providers.QuotaBucket
	quotaAt  time.Time
	quotaGen uint64 // the armed quota alarm's; bumped when it is stopped
	// quotaOnLimit is when (the clock's Unix nanoseconds) a limit answer
	// last asked for a read: at most one such read per quotaReadGap, however
	// many 429s arrive.
	quotaOnLimit  int64
	quotaBusy     bool
	tokenRejected bool
}

// Quota reading policy: a read takes at most quotaReadTimeout, and a limit
// answer asks for a read at most every quotaReadGap.
const (
	quotaReadTimeout = 10 * time.Second
	quotaReadGap     = 5 * time.Second
)

// credentialProps is shared by every credential actor of a pool: an actor
// learns its id from its own name and loads its row from storage when it
// starts, the first time and on every restart. One Props per pool, not per
// credential, and no row held in memory at start-up, keep 10,000
// credentials cheap.
func credentialProps(d *poolDeps) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &credentialActor{d: d} },
		// A linked-list mailbox costs a few bytes idle, where the default
		// ring buffer costs ~200 per actor: 2 MiB at 10,000 credentials.
		actor.WithMailbox(actor.UnboundedLockfree()), actor.WithDispatcher(d.workers))
}

// credentialName is the actor name of a credential under its pool.
func credentialName(id int64) string { return credentialPrefix + strconv.FormatInt(id, 10) }

const credentialPrefix = "credential-"

// credentialID recovers the id from an actor's PID.
func credentialID(pid *actor.PID) (int64, error) {
	i := strings.LastIndex(pid.Id, "/"+credentialPrefix)
	if i < 0 {
		return 0, fmt.Errorf("not a credential actor: %s", pid.Id)
	}
	return strconv.ParseInt(pid.Id[i+len(credentialPrefix)+1:], 10, 64)
}

// logger returns the pool's logger scoped to this credential. It is built on
// use (logging is rare) instead of held by every actor.
func (a *credentialActor) logger() *zap.Logger {
	return a.d.log.With(zap.Int64(fieldCredentialID, a.id))
}

// debug writes a debug line without building anything when debug is off.
func (a *credentialActor) debug(msg string, fields ...zap.Field) {
	if ce := a.d.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(append(fields, zap.Int64(fieldCredentialID, a.id))...)
	}
}

func (a *credentialActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *Outcome:
		a.onOutcome(ctx, msg)
	case *refreshDue:
		if msg.gen == a.refreshGen && msg.alarm == a.refreshAlarm {
			a.startRefresh(ctx, "token expires soon")
		}
	case *RefreshNeeded:
		if msg.Operator && a.st.beginOperatorRefresh() {
			// Try the grant again: refreshSucceeded revives the credential,
			// a permanent failure keeps it benched with the new reason.
			a.stopRefreshTimer()
			a.refreshGen++
			a.launchRefresh(ctx)
			return
		}
		a.startRefresh(ctx, msg.Reason)
	case *refreshGo:
		if msg.gen == a.refreshGen && msg.alarm == a.refreshAlarm {
			a.launchRefresh(ctx)
		}
	case *refreshResult:
		a.onRefreshResult(ctx, msg)
	case *coolingOver:
		if msg.gen == a.coolGen {
			a.onCoolingOver(ctx)
		}
	case *quotaDue:
		if msg.gen == a.quotaGen {
			a.readQuota(ctx)
			a.armQuota(ctx, a.d.quotaPoll)
		}
	case *quotaResult:
		a.onQuotaResult(ctx, msg)
	case *QuotaRecheck:
		a.readQuota(ctx)
	case *Resync:
		a.publish(ctx)
	case *SyncCooldowns:
		// Persistence answers the asker once the cooldowns are committed.
		ctx.RequestWithCustomSender(a.d.persistence, &SaveCooldowns{ID: a.id, Cooldowns: a.st.storageCooldowns()}, ctx.Sender())
	case *Reload:
		a.onReload(ctx)
	case *SetDisabled:
		a.onSetDisabled(ctx, msg)
	case *ping:
		ctx.Respond(&pong{})
	case *crash:
		panic(fmt.Sprintf("credential %d: injected crash", a.id))
	case *actor.Started:
		a.onStarted(ctx)
	case *actor.Stopping, *actor.Restarting:
		a.stopTimers()
	case *actor.Stopped:
	default:
		a.logger().Warn("credential: unknown message", zap.String("type", typeName(msg)))
	}
}

func (a *credentialActor) onStarted(ctx actor.Context) {
	id, err := credentialID(ctx.Self())
	if err != nil {
		panic(err) // spawned under a wrong name: a bug
	}
	a.id = id
	// Alarms armed by an earlier incarnation are not this one's.
	a.refreshAlarm = a.d.alarms.incarnation()
	a.quotaGen = a.refreshAlarm
	// The row the pool read at start-up, else (a restart, a credential
	// added later) a local point read by primary key.
	start, ok := a.d.startRows.take(a.id)
	if !ok {
		row, err := a.d.db.Credential(a.d.lifetime, a.id)
		if err != nil {
			a.logger().Error("credential: load failed; stopping", zap.Error(err))
			tellScheduler(ctx, a.d.scheduler, &CredentialChanged{ID: a.id, Removed: true})
			ctx.Stop(ctx.Self())
			return
		}
		start.row = &row
		if at, ok, err := a.d.db.RefreshMark(a.d.lifetime, a.id); err == nil && ok {
			start.mark = at
		}
	}
	a.interruptedRefresh = unixNanos(start.mark)
	a.apply(ctx, a.load(start.row))
	// The first read comes early (the scheduler learns every credential's
	// headroom and what a request costs), spread over the interval so a
	// pool loaded together does not read together.
	if a.d.quotaPoll > 0 {
		a.armQuota(ctx, a.d.jitter()%a.d.quotaPoll)
	}
	if a.interruptedRefresh != 0 {
		// With rotating tokens the stored one may be dead: find out now.
		a.startRefresh(ctx, "a refresh was cut short by a restart")
	}
}

// load takes the credential from its stored row; the effects are the
// state's.
func (a *credentialActor) load(row *storage.Credential) effects {
	a.cred = providers.Credential{
		// The pool's provider name, shared, not a copy per row.
		ID: row.ID, Provider: a.d.provider, Sub: row.Sub, Email: row.Email, Account: row.Account,
		Tier: row.Tier, AccessToken: row.AccessToken, RefreshToken: row.RefreshToken,
		Expiry: row.Expiry, Extra: row.Extra,
	}
	a.tokenRejected = false
	return a.st.load(row, a.d.clock.Now())
}

func (a *credentialActor) onReload(ctx actor.Context) {
	row, err := a.d.db.Credential(a.d.lifetime, a.id)
	if err != nil {
		a.logger().Error("credential: reload failed", zap.Error(err))
		return
	}
	a.stopTimers()
	// A refresh already in flight will report: credState.load keeps it.
	a.apply(ctx, a.load(&row))
	a.armQuota(ctx, a.d.quotaPoll)
}

func (a *credentialActor) onOutcome(ctx actor.Context, o *Outcome) {
	if o.Seq > a.outcomeSeq {
		a.outcomeSeq = o.Seq
	}
	now := a.d.clock.Now()
	reported := false
	if o.Result.Windows != nil {
		o.Result.Windows = tightenResets(a.windows, o.Result.Windows)
		o.Result.RetryAt = tightenRetryAt(o.Result.RetryAt, o.Result.Windows)
		a.windows = o.Result.Windows
		// Every answer's windows are a fresh report, changed or not. The
		// scheduler estimates what is left as the last report less a cost
		// for each success since; a report that did not move still covers
		// those successes, and without it a window whose percentage stays
		// put (coarse percentages, a busy account) looked spent after
		// enough requests and cooled the account until its reset while it
		// had quota (issue 9: Retry-After 3595 on an idle pool).
		if b, ok := providers.WindowsQuota(o.Result.Windows); ok {
			a.setQuotaBucket(b, now)
			reported = true
		}
	}
	fx := a.st.outcome(o.Model, o.Result, now)
	// The scheduler holds what this outcome put on hold until it hears.
	fx.publish = fx.publish || reported || pendingKey(o.Model, o.Result) != ""
	if fx.refresh {
		a.tokenRejected = true
	}
	if fx.stopRefresh {
		a.logger().Warn("credential: taken out of service",
			zap.String(fieldStatus, string(a.st.status)), zap.String("reason", a.st.reason))
	}
	a.apply(ctx, fx)
	if (o.Result.Kind == providers.KindRateLimited || o.Result.Kind == providers.KindQuotaExhausted) &&
		limitMayRead(a.quotaOnLimit, now) {
		// Learn what else is spent before more requests find out.
		a.quotaOnLimit = now.UnixNano()
		a.readQuota(ctx)
	}
}

// setQuotaBucket replaces the bucket of b's model in the quota report.
func (a *credentialActor) setQuotaBucket(b providers.QuotaBucket, now time.Time) {
	next := make([]providers.QuotaBucket, 0, len(a.quota)+1)
	for _, q := range a.quota {
		if q.Model != b.Model {
			next = append(next, q)
		}
	}
	a.quota, a.quotaAt = append(next, b), now
}

// armQuota schedules the next quota read after delay (none when reading is
// off).
func (a *credentialActor) armQuota(ctx actor.Context, delay time.Duration) {
	a.quotaGen++ // stops the alarm armed before
	if a.d.quota == nil || a.d.quotaPoll <= 0 {
		return
	}
	a.d.alarms.after(delay, ctx.Self(), &quotaDue{gen: a.quotaGen})
}

// readQuota asks the upstream what is left of the credential's quotas, off
// the actor's goroutine, through the provider's own client (the same egress
// as requests). One read at a time; none without a usable token. A failed
// read changes nothing and never holds up a request.
func (a *credentialActor) readQuota(ctx actor.Context) {
	now := a.d.clock.Now()
	if a.d.quota == nil || a.quotaBusy || !a.st.serving() || a.tokenRejected ||
		a.cred.AccessToken == "" || !a.cred.Expiry.After(now.Add(tokenSkew)) {
		return
	}
	a.quotaBusy = true
	self, d := ctx.Self(), a.d
	g := providers.Grant{CredentialID: a.id, AccessToken: a.cred.AccessToken, Account: a.cred.Account, Extra: a.cred.Extra}
	go func() {
		res := &quotaResult{}
		defer func() {
			if r := recover(); r != nil {
				res.err = fmt.Errorf("quota read panicked: %v", r)
			}
			d.send(self, res)
		}()
		rctx, cancel := context.WithTimeout(d.lifetime, quotaReadTimeout)
		defer cancel()
		res.buckets, res.err = d.quota.ReadQuota(rctx, g)
	}()
}

func (a *credentialActor) onQuotaResult(ctx actor.Context, r *quotaResult) {
	a.quotaBusy = false
	if r.err != nil {
		a.debug("credential: quota read failed", zap.Error(r.err))
		return
	}
	for i := range r.buckets {
		r.buckets[i].Model = internModel(r.buckets[i].Model)
	}
	now := a.d.clock.Now()
	buckets := tightenBuckets(r.buckets, a.windows)
	a.quota, a.quotaAt = buckets, now
	a.apply(ctx, a.st.quotaRead(buckets, now))
}

// apply does what a credState transition requires, in the order effects
// lists.
func (a *credentialActor) apply(ctx actor.Context, fx effects) {
	if fx.saveState {
		a.d.send(a.d.persistence, &SaveState{ID: a.id, Status: a.st.status, Reason: a.st.reason, Since: a.st.since})
	}
	if fx.saveCooldowns {
		a.d.send(a.d.persistence, &SaveCooldowns{ID: a.id, Cooldowns: a.st.storageCooldowns()})
	}
	if fx.stopRefresh {
		a.stopRefreshTimer()
	}
	if fx.refresh {
		a.startRefresh(ctx, "upstream rejected the access token")
	}
	if fx.saveCooldowns || fx.armCooling {
		a.armCooling(ctx)
	}
	if fx.publish {
		a.publish(ctx)
	}
	if fx.armRefresh {
		a.armRefresh(ctx, fx.retryIn)
	}
}

// startRefresh begins a refresh unless one is in flight. The refresh waits
// for its slot in the provider's token-endpoint rate (a timer, not a blocked
// goroutine, so 10,000 due credentials cost no stacks).
func (a *credentialActor) startRefresh(ctx actor.Context, why string) {
	if !a.st.beginRefresh() {
		return
	}
	a.stopRefreshTimer()
	a.refreshGen++
	now := a.d.clock.Now()
	delay := a.d.limiter.ReserveN(now, 1).DelayFrom(now)
	a.debug("credential: refresh", zap.String("why", why), zap.Duration("after", delay))
	a.publish(ctx)
	if delay <= 0 {
		a.launchRefresh(ctx)
		return
	}
	a.refreshAlarm++
	a.d.alarms.after(delay, ctx.Self(), &refreshGo{gen: a.refreshGen, alarm: a.refreshAlarm})
}

// launchRefresh runs the token refresh and the durable save of its result
// off the actor's goroutine.
func (a *credentialActor) launchRefresh(ctx actor.Context) {
	self, gen, cred, d := ctx.Self(), a.refreshGen, a.cred, a.d
	a.refreshLaunched = d.clock.Now()
	go func() {
		res := &refreshResult{gen: gen}
		defer func() {
			if r := recover(); r != nil {
				res.err = fmt.Errorf("refresh panicked: %v", r)
			}
			d.send(self, res)
		}()
		rctx, cancel := context.WithTimeout(d.lifetime, d.refreshTimeout)
		defer cancel()
		// A mark first: a crash between the upstream's (rotating) answer
		// and the save below leaves a record an operator can act on.
		p, err := persist(rctx, d.sys, d.persistence, &MarkRefresh{ID: cred.ID, At: d.clock.Now()})
		if err == nil {
			err = p.Err
		}
		if err != nil {
			d.log.Warn("credential: refresh mark not stored", zap.Int64(fieldCredentialID, cred.ID), zap.Error(err))
		}
		fresh, err := d.authority.Refresh(rctx, cred)
		if err != nil {
			res.err = err
			return
		}
		fresh.ID = cred.ID
		res.cred = fresh
		// The new refresh token must be durable before the new access token
		// is used: with rotating tokens the old one is already dead.
		res.persistErr = d.saveTokensDurably(rctx, fresh)
	}()
}

func (a *credentialActor) onRefreshResult(ctx actor.Context, r *refreshResult) {
	a.d.observer.refreshDone(a.d.provider, refreshResultOf(r.err))
	if r.gen != a.refreshGen {
		if r.err == nil {
			// A superseded refresh still produced the newest tokens.
			a.adoptTokens(r.cred)
			a.publish(ctx)
		}
		return
	}
	now := a.d.clock.Now()
	if r.err == nil {
		a.interruptedRefresh = 0
		a.adoptTokens(r.cred)
		if r.persistErr != nil {
			a.logger().Error("credential: new tokens not yet durable; retrying in the background", zap.Error(r.persistErr))
			a.d.send(a.d.persistence, &SaveTokens{ID: a.id, AccessToken: r.cred.AccessToken,
				RefreshToken: r.cred.RefreshToken, Expiry: r.cred.Expiry})
		}
		a.debug("credential: refreshed", zap.Time("expiry", a.cred.Expiry))
		a.apply(ctx, a.st.refreshSucceeded(now, a.refreshLaunched))
		return
	}
	verdict, status, _, permanent := verdictOf(r.err)
	reason := r.err.Error()
	if permanent {
		reason = verdict.Reason
		if reason == "" {
			reason = verdict.Err.Error()
		}
	}
	if permanent && a.interruptedRefresh != 0 {
		reason = fmt.Sprintf("sign in again: a refresh started at %s was cut short by a restart, and the new token the upstream issued was never stored (%s)",
			time.Unix(0, a.interruptedRefresh).UTC().Format(time.RFC3339), reason)
	}
	fx := a.st.refreshEnded(status, reason, now)
	if permanent {
		a.logger().Warn("credential: refresh failed for good", zap.String(fieldStatus, string(a.st.status)), zap.String("reason", reason))
	} else {
		a.logger().Warn("credential: refresh failed; will retry", zap.Error(r.err), zap.Duration("retry_in", fx.retryIn))
	}
	a.apply(ctx, fx)
}

func (a *credentialActor) adoptTokens(fresh providers.Credential) {
	a.cred.AccessToken, a.cred.Expiry = fresh.AccessToken, fresh.Expiry
	if fresh.RefreshToken != "" {
		a.cred.RefreshToken = fresh.RefreshToken
	}
	if fresh.Email != "" {
		a.cred.Email = fresh.Email
	}
	if fresh.Tier != "" {
		a.cred.Tier = fresh.Tier
	}
	a.tokenRejected = false
}

// armRefresh schedules the next refresh: after retry when given, else a few
// minutes (with jitter) before the token expires.
func (a *credentialActor) armRefresh(ctx actor.Context, retry time.Duration) {
	a.stopRefreshTimer()
	if !a.st.serving() || a.st.refreshing {
		return
	}
	now := a.d.clock.Now()
	delay := retry
	if delay <= 0 {
		delay = refreshDelay(a.cred.Expiry, now, a.d.jitter())
	}
	if delay <= 0 {
		a.startRefresh(ctx, "token expired")
		return
	}
	a.refreshGen++
	a.refreshAlarm++
	a.d.alarms.after(delay, ctx.Self(), &refreshDue{gen: a.refreshGen, alarm: a.refreshAlarm})
}

// armCooling schedules the end of a credential-wide cooldown, when the
// persisted status must go back from cooling to active.
func (a *credentialActor) armCooling(ctx actor.Context) {
	if a.coolStop != nil {
		a.coolStop()
		a.coolStop = nil
	}
	now := a.d.clock.Now()
	end, ok := a.st.coolingEnd(now)
	if !ok {
		return
	}
	a.coolGen++
	self, root, gen := ctx.Self(), ctx.ActorSystem().Root, a.coolGen
	a.coolStop = a.d.clock.AfterFunc(end.Sub(now), func() { root.Send(self, &coolingOver{gen: gen}) })
}

func (a *credentialActor) onCoolingOver(ctx actor.Context) {
	a.coolStop = nil
	a.apply(ctx, a.st.coolingOver(a.d.clock.Now()))
}

func (a *credentialActor) onSetDisabled(ctx actor.Context, m *SetDisabled) {
	a.apply(ctx, a.st.setDisabled(m.Disabled, m.Reason, a.d.clock.Now()))
	ctx.Respond(&Done{})
}

// publish tells the scheduler the credential's current lease data.
func (a *credentialActor) publish(ctx actor.Context) {
	now := a.d.clock.Now()
	token := a.cred.AccessToken
	if a.tokenRejected {
		token = ""
	}
	tellScheduler(ctx, a.d.scheduler, &CredentialChanged{
		ID: a.id, PID: ctx.Self(), Status: a.st.status, AccessToken: token,
		Account: a.cred.Account, Extra: a.cred.Extra, Expiry: a.cred.Expiry,
		Refreshing: a.st.refreshing, Cooldowns: a.st.untilMap(now), OutcomeSeq: a.outcomeSeq, Quota: a.quota,
		View: CredentialView{
			ID: a.id, Provider: a.d.provider, Email: a.cred.Email, Account: a.cred.Account,
			Tier: a.cred.Tier, Status: a.st.status, StatusReason: a.st.reason, StatusSince: a.st.since,
			Expiry: a.cred.Expiry, Refreshing: a.st.refreshing, Cooldowns: a.st.storageCooldowns(),
			LastError: a.st.lastError, Windows: a.windows, Quota: a.quota, QuotaAt: a.quotaAt,
		},
	})
}

// stopRefreshTimer stops the wait for a refresh (its alarm no longer
// counts), not a refresh in flight.
func (a *credentialActor) stopRefreshTimer() { a.refreshAlarm++ }

func (a *credentialActor) stopTimers() {
	a.stopRefreshTimer()
	a.quotaGen++
	if a.coolStop != nil {
		a.coolStop()
		a.coolStop = nil
	}
}

// limitMayRead reports whether a limit answer at now may ask for a quota
// read when the last one asked at last (Unix nanoseconds, 0 for never).
func limitMayRead(last int64, now time.Time) bool {
	return last == 0 || now.UnixNano()-last >= int64(quotaReadGap)
}

// unixNanos is t as Unix nanoseconds, 0 for the zero time.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
