package actors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// askProbe answers each request as the test scripts it: with a *pong, with a
// message of the wrong type, or not at all.
type askProbe struct{}

type (
	askRight   struct{}
	askWrong   struct{}
	askSilent  struct{}
	askGranted struct{}
	askRefused struct{}
)

func (askProbe) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *askRight:
		ctx.Respond(&pong{})
	case *askWrong:
		ctx.Respond(&loaded{})
	case *askGranted:
		ctx.Respond(&Lease{ID: 7})
	case *askRefused:
		ctx.Respond(&Unavailable{Reason: AllCooling})
	}
}

func TestAskAs(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	probe := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return askProbe{} }))
	t.Cleanup(func() { _ = sys.Root.PoisonFuture(probe).Wait() })
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	// A PID nobody is registered under: the request becomes a dead letter.
	gone := actor.NewPID(sys.Address(), "nobody-here")

	for _, tc := range []struct {
		name    string
		ctx     context.Context
		target  *actor.PID
		msg     any
		timeout time.Duration
		wantErr error
	}{
		{name: "the reply it wants", ctx: context.Background(), target: probe, msg: &askRight{}, timeout: 10 * time.Second},
		{name: "a reply of another type", ctx: context.Background(), target: probe, msg: &askWrong{},
			timeout: 10 * time.Second, wantErr: errUnexpectedReply},
		{name: "no reply before the timeout", ctx: context.Background(), target: probe, msg: &askSilent{},
			timeout: 20 * time.Millisecond, wantErr: ErrStopped},
		{name: "a target that is gone", ctx: context.Background(), target: gone, msg: &askRight{},
			timeout: 20 * time.Millisecond, wantErr: ErrStopped},
		{name: "the caller gave up", ctx: cancelled, target: probe, msg: &askSilent{},
			timeout: 10 * time.Second, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := askAs[*pong](tc.ctx, sys, tc.target, tc.msg, tc.timeout)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && got == nil {
				t.Fatal("no reply returned with a nil error")
			}
			if tc.wantErr != nil && got != nil {
				t.Fatalf("reply %v returned with error %v", got, err)
			}
		})
	}
}

// An interface reply type takes each of its implementations and refuses
// anything else.
func TestAskAsInterfaceReply(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	probe := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return askProbe{} }))
	t.Cleanup(func() { _ = sys.Root.PoisonFuture(probe).Wait() })
	ctx := context.Background()

	r, err := askAs[acquireReply](ctx, sys, probe, &askGranted{}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := r.granted(); err != nil || l.ID != 7 {
		t.Fatalf("granted() = %v, %v; want lease 7", l, err)
	}
	r, err = askAs[acquireReply](ctx, sys, probe, &askRefused{}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ue *UnavailableError
	if _, err := r.granted(); !errors.As(err, &ue) || ue.Reason != AllCooling {
		t.Fatalf("granted() error = %v, want an all_cooling *UnavailableError", err)
	}
	if _, err := askAs[acquireReply](ctx, sys, probe, &askRight{}, 10*time.Second); !errors.Is(err, errUnexpectedReply) {
		t.Fatalf("a *pong as acquireReply: err = %v, want errUnexpectedReply", err)
	}
}
