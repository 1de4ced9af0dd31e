package actors

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// scriptedStep is a SignInStep that answers from a script and reports each
// call on calls.
type scriptedStep struct {
	calls chan int
	mu    sync.Mutex
	n     int
	// answer gives the n-th call's answer (1-based).
	answer func(ctx context.Context, n int) (providers.Credential, error)
}

func newScriptedStep(answer func(ctx context.Context, n int) (providers.Credential, error)) *scriptedStep {
	return &scriptedStep{calls: make(chan int, 64), answer: answer}
}

func (s *scriptedStep) step(ctx context.Context) (providers.Credential, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	s.calls <- n
	return s.answer(ctx, n)
}

// wantCall waits for call n.
func (s *scriptedStep) wantCall(t *testing.T, n int) {
	t.Helper()
	select {
	case got := <-s.calls:
		if got != n {
			t.Fatalf("step call %d, want %d", got, n)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("step call %d never came", n)
	}
}

// wantNoCall checks no step ran: with the next poll's timer armed, only an
// advance of the clock can run one.
func (s *scriptedStep) wantNoCall(t *testing.T) {
	t.Helper()
	select {
	case n := <-s.calls:
		t.Fatalf("step call %d ran before its time", n)
	default:
	}
}

// waitTimerAt waits until the actor has armed a timer for at.
func waitTimerAt(t *testing.T, e *env, at time.Time) {
	t.Helper()
	if !e.clock.WaitFor(5*time.Second, func(ds []time.Time) bool { return slices.ContainsFunc(ds, at.Equal) }) {
		t.Fatalf("no timer armed for %s", at)
	}
}

func (e *env) signIn(id string, wait bool) *SignInStatus {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.pool.SignIn(ctx, id, wait)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// TestSignInPollsOnTheClock checks a device sign-in is asked at once, then
// once per interval of the pool's clock and never in between, and that the
// credential it yields is onboarded like an ingested one.
func TestSignInPollsOnTheClock(t *testing.T) {
	e := newEnv(t)
	e.start()
	step := newScriptedStep(func(_ context.Context, n int) (providers.Credential, error) {
		if n < 3 {
			return providers.Credential{}, ErrSignInPending
		}
		return providers.Credential{RefreshToken: config.Secret("device-tok")}, nil
	})
	start := e.clock.Now()
	if err := e.pool.PollSignIn(context.Background(), "s1", step.step, 5*time.Second, start.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	step.wantCall(t, 1)
	waitTimerAt(t, e, start.Add(5*time.Second))
	step.wantNoCall(t)
	if st := e.signIn("s1", false); !st.Found || st.Done {
		t.Fatalf("while pending: %+v", st)
	}
	e.clock.Advance(5 * time.Second)
	step.wantCall(t, 2)
	waitTimerAt(t, e, start.Add(10*time.Second))
	e.clock.Advance(4 * time.Second)
	step.wantNoCall(t)
	e.clock.Advance(time.Second)
	step.wantCall(t, 3)

	st := e.signIn("s1", true)
	if !st.Done || st.Err != nil || st.Job == nil || len(st.Job.Verdicts) != 1 {
		t.Fatalf("status = %+v", st)
	}
	if v := st.Job.Verdicts[0]; v.Result != VerdictAdded || v.Email != "device-tok@example.com" || v.CredentialID == 0 {
		t.Errorf("verdict = %+v", v)
	}
	if _, ok := e.snapshot()[st.Job.Verdicts[0].CredentialID]; !ok {
		t.Error("the signed-in credential is not in the pool")
	}
	step.wantNoCall(t)
}

// TestSignInExpires checks a sign-in nobody approves ends at its expiry,
// also while a step is still waiting on the authorization server.
func TestSignInExpires(t *testing.T) {
	for _, tc := range []struct {
		name string
		// block: the step waits for its context instead of answering.
		block bool
	}{{"pending answers", false}, {"step in flight", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.start()
			step := newScriptedStep(func(ctx context.Context, _ int) (providers.Credential, error) {
				if tc.block {
					<-ctx.Done()
					return providers.Credential{}, ctx.Err()
				}
				return providers.Credential{}, ErrSignInPending
			})
			start := e.clock.Now()
			if err := e.pool.PollSignIn(context.Background(), "s1", step.step, 5*time.Second, start.Add(7*time.Second)); err != nil {
				t.Fatal(err)
			}
			step.wantCall(t, 1)
			if !tc.block {
				waitTimerAt(t, e, start.Add(5*time.Second))
				e.clock.Advance(5 * time.Second)
				step.wantCall(t, 2)
				// The next poll waits only for what is left (2 s): its timer
				// is due with the expiry's.
				at := start.Add(7 * time.Second)
				if !e.clock.WaitFor(5*time.Second, func(ds []time.Time) bool {
					n := 0
					for _, d := range ds {
						if d.Equal(at) {
							n++
						}
					}
					return n == 2
				}) {
					t.Fatal("the last poll is not due at the expiry")
				}
			}
			e.clock.Set(start.Add(7 * time.Second))
			st := e.signIn("s1", true)
			if !st.Done || !errors.Is(st.Err, ErrSignInExpired) || st.Job != nil {
				t.Fatalf("status = %+v, want expired", st)
			}
			e.clock.Advance(time.Minute)
			if !tc.block {
				// At most the poll that was due at the expiry; none after.
				select {
				case <-step.calls:
				default:
				}
			}
			step.wantNoCall(t)
		})
	}
}

// TestSignInCancel checks CancelSignIns ends the waiting sign-ins and
// refuses new ones.
func TestSignInCancel(t *testing.T) {
	e := newEnv(t)
	e.start()
	step := newScriptedStep(func(context.Context, int) (providers.Credential, error) {
		return providers.Credential{}, ErrSignInPending
	})
	start := e.clock.Now()
	if err := e.pool.PollSignIn(context.Background(), "s1", step.step, 5*time.Second, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	step.wantCall(t, 1)
	waitTimerAt(t, e, start.Add(5*time.Second))
	e.pool.CancelSignIns()
	if st := e.signIn("s1", true); !st.Done || !errors.Is(st.Err, ErrSignInStopped) {
		t.Fatalf("status = %+v, want stopped", st)
	}
	e.clock.Advance(time.Minute)
	step.wantNoCall(t)
	if err := e.pool.PollSignIn(context.Background(), "s2", step.step, time.Second, start.Add(time.Hour)); !errors.Is(err, ErrSignInStopped) {
		t.Errorf("new sign-in after the cancel: err %v, want ErrSignInStopped", err)
	}
}

// TestSignInStepFails checks a refusal ends the sign-in with the step's
// error, and an unknown id is not found.
func TestSignInStepFails(t *testing.T) {
	e := newEnv(t)
	e.start()
	denied := errors.New("denied by the provider")
	step := newScriptedStep(func(context.Context, int) (providers.Credential, error) { return providers.Credential{}, denied })
	if err := e.pool.PollSignIn(context.Background(), "s1", step.step, time.Second, e.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if st := e.signIn("s1", true); !st.Done || !errors.Is(st.Err, denied) || st.Job != nil {
		t.Fatalf("status = %+v, want the step's error", st)
	}
	if err := e.pool.PollSignIn(context.Background(), "s1", step.step, time.Second, e.clock.Now().Add(time.Minute)); err == nil {
		t.Error("a second sign-in with the same id was accepted")
	}
	if st := e.signIn("nope", false); st.Found {
		t.Errorf("unknown sign-in: %+v", st)
	}
}
