package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// PoolSpec describes one provider's pool.
type PoolSpec struct {
	Name      string
	Authority providers.Authority
	Config    config.Provider
}

// Deps is what Start needs.
type Deps struct {
	DB     *storage.DB
	Logger *zap.Logger
	// Clock defaults to the wall clock.
	Clock Clock
	Pools []PoolSpec
	// Jitter returns the random part of a refresh's lead time; defaults to
	// uniform in [0, 1 min).
	Jitter func() time.Duration
	// RefreshTimeout bounds one refresh (HTTP and durable save); default 60s.
	RefreshTimeout time.Duration
	// KeyClock is the member keys' clock (limits, usage days); defaults to
	// Clock.
	KeyClock Clock
	// Tap, when set, is told of every message each actor has handled, once
	// it has handled it, with the actor's PID id (see SchedulerID):
	// protoactor's observer style, so tests wait on the message after which
	// a state must hold (actorstest.Expector) instead of polling it. Nil
	// outside tests; it must not block.
	Tap func(who string, msg any)
}

// System is the running actor tree: one persistence actor and one
// supervised pool per provider.
type System struct {
	sys         *actor.ActorSystem
	db          *storage.DB
	log         *zap.Logger
	persistence *actor.PID
	health      *health
	pools       map[string]*Pool
	poolPIDs    []*actor.PID
	sub         *eventstream.Subscription
	cancel      context.CancelFunc
	keys        *Keys
	workers     *workers
}

// startTimeout bounds how long Start waits for every credential to load.
const startTimeout = 2 * time.Minute

// Start builds the actor tree, loads every credential from storage and
// returns once each pool's scheduler knows all of them, so traffic is only
// accepted on a complete pool.
func Start(ctx context.Context, d Deps) (*System, error) {
	if d.DB == nil || d.Logger == nil {
		return nil, errors.New("actors: Start needs a DB and a Logger")
	}
	if d.Clock == nil {
		d.Clock = RealClock()
	}
	if d.Jitter == nil {
		d.Jitter = func() time.Duration { return time.Duration(rand.Int64N(int64(refreshJitterMax))) }
	}
	if d.RefreshTimeout <= 0 {
		d.RefreshTimeout = 60 * time.Second
	}
	log := d.Logger.Named("actors")
	// protoactor logs through slog; bridge it to zap at warn and above.
	core, cerr := zapcore.NewIncreaseLevelCore(log.Core(), zapcore.WarnLevel)
	if cerr != nil {
		// The logger is already above warn: use it as it is.
		core = log.Core()
	}
	slogger := slog.New(zapslog.NewHandler(core))
	asys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slogger }))
	lifetime, cancel := context.WithCancel(context.Background())
	s := &System{sys: asys, db: d.DB, log: log, health: &health{}, pools: make(map[string]*Pool), cancel: cancel,
		workers: newWorkers(mailboxWorkers)}
	s.sub = asys.EventStream.Subscribe(func(ev any) {
		switch e := ev.(type) {
		case *actor.SupervisorEvent:
			log.Warn("supervision", zap.String("child", e.Child.String()), zap.String("directive", e.Directive.String()),
				zap.String("reason", fmt.Sprint(e.Reason)))
		case *actor.DeadLetterEvent:
			if ce := log.Check(zapcore.DebugLevel, "dead letter"); ce != nil {
				ce.Write(zap.String("to", pidString(e.PID)), zap.String("message_type", typeName(e.Message)))
			}
		}
	})
	persistence, err := asys.Root.SpawnNamed(tapped(actor.PropsFromProducer(func() actor.Actor {
		return newPersistence(d.DB, log, d.Clock, s.health)
	}), d.Tap), PersistenceID)
	if err != nil {
		s.abort()
		return nil, fmt.Errorf("actors: spawn persistence: %w", err)
	}
	s.persistence = persistence
	if d.KeyClock == nil {
		d.KeyClock = d.Clock
	}
	ring, err := loadKeys(ctx, d.DB, d.KeyClock.Now)
	if err != nil {
		s.abort()
		return nil, fmt.Errorf("actors: load member keys: %w", err)
	}
	s.keys = &Keys{ring: ring, db: d.DB, sys: asys, persistence: persistence, clock: d.Clock}
	for _, spec := range d.Pools {
		if _, dup := s.pools[spec.Name]; dup {
			s.abort()
			return nil, fmt.Errorf("actors: pool %q configured twice", spec.Name)
		}
		pd := &poolDeps{
			provider: spec.Name, authority: spec.Authority, db: d.DB, clock: d.Clock,
			limiter: newLimiter(spec.Config), log: log.With(zap.String(fieldProvider, spec.Name)),
			root: asys.Root, sys: asys, persistence: persistence,
			scheduler:  actor.NewPID(asys.Address(), spec.Name+"/"+schedulerName),
			replies:    newReplyPool(asys),
			workers:    s.workers,
			onboarding: actor.NewPID(asys.Address(), spec.Name+"/"+onboardingName),
			lifetime:   lifetime, jitter: d.Jitter, maxInflight: spec.Config.MaxConcurrentPerCredential,
			refreshTimeout: d.RefreshTimeout,
			routing:        routingOf(spec.Config.Routing),
			tap:            d.Tap,
			startRows:      newStartRows(),
			alarms:         newAlarms(d.Clock, asys.Root.Send),
			models:         pinModels(spec.Config.ModelList),
		}
		if qr, ok := spec.Authority.(providers.QuotaReader); ok && spec.Config.QuotaPollSecs > 0 {
			pd.quota, pd.quotaPoll = qr, time.Duration(spec.Config.QuotaPollSecs)*time.Second
		}
		props := tapped(actor.PropsFromProducer(func() actor.Actor { return newPoolActor(pd) },
			actor.WithSupervisor(supervisorStrategy(pd.log))), d.Tap)
		pid, err := asys.Root.SpawnNamed(props, spec.Name)
		if err != nil {
			s.abort()
			return nil, fmt.Errorf("actors: spawn pool %s: %w", spec.Name, err)
		}
		s.poolPIDs = append(s.poolPIDs, pid)
		s.pools[spec.Name] = &Pool{d: pd, pid: pid, queueTimeout: spec.Config.QueueTimeout(),
			retryMax: spec.Config.RetryMaxTimes}
		n, err := startCredentials(ctx, asys, pid, d.DB, spec.Name)
		if err != nil {
			s.abort()
			return nil, fmt.Errorf("actors: load %s pool: %w", spec.Name, err)
		}
		log.Info("pool ready", zap.String(fieldProvider, spec.Name), zap.Int("credentials", n))
	}
	return s, nil
}

// Setting reads a stored setting (a read, straight from storage).
func (s *System) Setting(ctx context.Context, key string) ([]byte, bool, error) {
	return s.db.Setting(ctx, key)
}

// PutSetting stores a setting through the persistence actor and returns once
// it is committed.
func (s *System) PutSetting(ctx context.Context, key string, value []byte) error {
	p, err := persist(ctx, s.sys, s.persistence, &PutSetting{Key: key, Value: value})
	if err != nil {
		return err
	}
	return p.Err
}

// startBatch is how many credential actors start at once: the rows of one
// page are read in two queries and held until their actors have taken them.
const startBatch = 512

// startCredentials starts the pool's credential actors page by page (each
// page's rows read in one snapshot, handed to the actors as they spawn) and
// returns how many, once the scheduler knows all of them, so traffic is only
// accepted on a complete pool. The first request goes through the pool
// actor, whose mailbox handles Started (which spawns the scheduler) before
// it.
func startCredentials(ctx context.Context, asys *actor.ActorSystem, pool *actor.PID, db *storage.DB, provider string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	marks, err := db.RefreshMarks(ctx, provider)
	if err != nil {
		return 0, err
	}
	total := 0
	for after, first := int64(0), true; ; first = false {
		rows, err := db.CredentialPage(ctx, provider, after, startBatch)
		if err != nil {
			return total, err
		}
		if len(rows) == 0 && !first {
			return total, nil
		}
		total += len(rows)
		if _, err := askPool[*loaded](ctx, asys, pool, &spawnCredentials{rows: rows, marks: marks, total: total}, startTimeout); err != nil {
			return total, err
		}
		if len(rows) < startBatch {
			return total, nil
		}
		after = rows[len(rows)-1].ID
	}
}

// Pool returns the named provider's pool, or nil.
func (s *System) Pool(name string) *Pool { return s.pools[name] }

// Healthy reports nil while the actor system runs and the last database
// write succeeded.
func (s *System) Healthy() error {
	if s.sys.IsStopped() {
		return ErrStopped
	}
	if err := s.health.get(); err != nil {
		return fmt.Errorf("database writes failing: %w", err)
	}
	return nil
}

// Stop shuts the tree down in order: pools (credentials stop their timers,
// refresh goroutines are cancelled), then persistence, which commits what it
// still holds. It returns when done or when ctx ends.
func (s *System) Stop(ctx context.Context) error {
	s.cancel()
	var errs []error
	for _, pid := range s.poolPIDs {
		if err := waitFuture(ctx, s.sys.Root.PoisonFuture(pid)); err != nil {
			errs = append(errs, fmt.Errorf("stop pool %s: %w", pid.Id, err))
		}
	}
	for _, p := range s.pools {
		p.d.alarms.close()
	}
	// The member keys' last counts go before persistence stops.
	s.keys.stopFlushing()
	if err := waitFuture(ctx, s.sys.Root.PoisonFuture(s.persistence)); err != nil {
		errs = append(errs, fmt.Errorf("stop persistence: %w", err))
	}
	s.sys.EventStream.Unsubscribe(s.sub)
	s.sys.Shutdown()
	s.workers.stop()
	return errors.Join(errs...)
}

func (s *System) abort() {
	s.cancel()
	for _, pid := range s.poolPIDs {
		_ = s.sys.Root.PoisonFuture(pid).Wait()
	}
	for _, p := range s.pools {
		p.d.alarms.close()
	}
	if s.keys != nil {
		s.keys.stopFlushing()
	}
	if s.persistence != nil {
		_ = s.sys.Root.PoisonFuture(s.persistence).Wait()
	}
	if s.sub != nil {
		s.sys.EventStream.Unsubscribe(s.sub)
	}
	s.sys.Shutdown()
	s.workers.stop()
}

// waitFuture waits for f or ctx.
func waitFuture(ctx context.Context, f *actor.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func typeName(v any) string {
	if v == nil {
		return "<nil>"
	}
	return reflect.TypeOf(v).String()
}

func pidString(pid *actor.PID) string {
	if pid == nil {
		return ""
	}
	return pid.Id
}

// routingOf maps the configured routing name; anything but "lru" (config
// validation allows only the two) is quota routing, the default.
func routingOf(name string) routing {
	if name == config.RoutingLRU {
		return routeLRU
	}
	return routeQuota
}

// tapped returns props that, after the actor has handled each message, tell
// tap which actor (its PID id) handled what: protoactor's observer style,
// which lets tests wait on messages (actorstest.Expector) instead of polling
// state. Without a tap, outside tests, props are returned untouched.
func tapped(props *actor.Props, tap func(who string, msg any)) *actor.Props {
	if tap == nil {
		return props
	}
	return props.Configure(actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			next(c, env)
			tap(c.Self().Id, env.Message)
		}
	}))
}

// PersistenceID is the PID id of the persistence actor, as Deps.Tap names
// it: a test of what is stored waits on the messages it handled.
const PersistenceID = "persistence"

// SchedulerID is the PID id of a pool's scheduler, as Deps.Tap names it.
// Every change of a credential reaches it (CredentialChanged), so a test of
// pool state waits on the messages it handled.
func SchedulerID(provider string) string { return provider + "/" + schedulerName }
