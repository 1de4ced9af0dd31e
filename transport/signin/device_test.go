package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
)

// fakeCodex is a CodexAuth whose device sign-in answers what the test
// says, without any HTTP.
type fakeCodex struct {
	device codex.Device
	poll   func() (providers.Credential, error)
}

func (f *fakeCodex) AuthCodeURL(state, _, _ string) string {
	return "https://auth.example/authorize?state=" + state
}
func (f *fakeCodex) Exchange(context.Context, string, string, string) (providers.Credential, error) {
	return providers.Credential{}, errors.New("no exchange in these tests")
}
func (f *fakeCodex) StartDevice(context.Context) (codex.Device, error) { return f.device, nil }
func (f *fakeCodex) PollDeviceOnce(context.Context, codex.Device) (providers.Credential, error) {
	return f.poll()
}

// fakePoller is a DevicePoller that records the sign-ins it is given and
// reports the status the test sets.
type fakePoller struct {
	mu        sync.Mutex
	startErr  error
	steps     map[string]actors.SignInStep
	intervals map[string]time.Duration
	status    map[string]*actors.SignInStatus
	cancelled bool
}

func newFakePoller() *fakePoller {
	return &fakePoller{steps: map[string]actors.SignInStep{}, intervals: map[string]time.Duration{},
		status: map[string]*actors.SignInStatus{}}
}

func (p *fakePoller) PollSignIn(_ context.Context, id string, step actors.SignInStep, interval time.Duration, _ time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.startErr != nil {
		return p.startErr
	}
	p.steps[id], p.intervals[id] = step, interval
	p.status[id] = &actors.SignInStatus{ID: id, Found: true}
	return nil
}

func (p *fakePoller) SignIn(_ context.Context, id string, _ bool) (*actors.SignInStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.status[id]; ok {
		return st, nil
	}
	return &actors.SignInStatus{ID: id}, nil
}

func (p *fakePoller) CancelSignIns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancelled = true
}

func (p *fakePoller) set(id string, st *actors.SignInStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st.ID = id
	p.status[id] = st
}

// deviceEnv is the sign-in routes on a bare Echo with fakes: no actors, no
// database, no upstream.
type deviceEnv struct {
	t      *testing.T
	e      *echo.Echo
	api    *API
	codex  *fakeCodex
	poller *fakePoller
}

func newDeviceEnv(t *testing.T) *deviceEnv {
	t.Helper()
	env := &deviceEnv{t: t, e: echo.New(), poller: newFakePoller(), codex: &fakeCodex{
		device: codex.Device{AuthID: config.Secret("dev-auth-secret"), UserCode: "ABCD-1234",
			VerificationURL: "https://auth.example/codex/device", Interval: 7 * time.Second,
			Expires: time.Now().Add(15 * time.Minute)},
		poll: func() (providers.Credential, error) { return providers.Credential{}, codex.ErrDevicePending },
	}}
	env.api = New(Deps{Codex: env.codex, Devices: func() DevicePoller { return env.poller }})
	if err := env.api.Enable(context.Background(), newOAuthMemStore(), Options{InsecureCookie: true}); err != nil {
		t.Fatal(err)
	}
	env.e.HTTPErrorHandler = func(err error, c echo.Context) {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			_ = c.JSON(he.Code, map[string]any{"message": he.Message})
			return
		}
		_ = c.JSON(http.StatusInternalServerError, map[string]any{"message": err.Error()})
	}
	add := func(method, path string, h echo.HandlerFunc) { env.e.Add(method, path, h) }
	env.api.MountOperator(add)
	env.api.MountOpen(add)
	return env
}

func (env *deviceEnv) get(path string) (int, string) {
	env.t.Helper()
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// start starts a sign-in the way a script does and returns its id.
func (env *deviceEnv) start() string {
	env.t.Helper()
	code, body := env.get(codexDevicePath + "?format=json")
	if code != http.StatusOK {
		env.t.Fatalf("start: %d %s", code, body)
	}
	var out struct {
		ID       string `json:"id"`
		UserCode string `json:"user_code"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.ID == "" || out.UserCode != "ABCD-1234" {
		env.t.Fatalf("start answer %s: %v", body, err)
	}
	if strings.Contains(body, "dev-auth-secret") {
		env.t.Errorf("the start answer shows the device_auth_id: %s", body)
	}
	return out.ID
}

// TestDeviceSignInHandsThePollToThePool checks the HTTP layer only starts
// the sign-in: the pool gets it, with the provider's interval and a step
// that says "pending" in the pool's words.
func TestDeviceSignInHandsThePollToThePool(t *testing.T) {
	env := newDeviceEnv(t)
	id := env.start()
	step, interval := env.poller.steps[id], env.poller.intervals[id]
	if step == nil || interval != 7*time.Second {
		t.Fatalf("pool got step %v, interval %s; want the sign-in at 7 s", step != nil, interval)
	}
	if _, err := step(context.Background()); !errors.Is(err, actors.ErrSignInPending) {
		t.Errorf("pending step: err %v, want ErrSignInPending", err)
	}
	env.codex.poll = func() (providers.Credential, error) { return providers.Credential{}, codex.ErrDeviceDenied }
	if _, err := step(context.Background()); !errors.Is(err, codex.ErrDeviceDenied) {
		t.Errorf("refused step: err %v, want the provider's error", err)
	}
	env.codex.poll = func() (providers.Credential, error) {
		return providers.Credential{RefreshToken: config.Secret("rt_new")}, nil
	}
	if cred, err := step(context.Background()); err != nil || cred.RefreshToken.Reveal() != "rt_new" {
		t.Errorf("approved step: %v, %v", cred, err)
	}
}

// TestDeviceStatusFromThePool checks how each end the pool reports reads
// as the JSON status.
func TestDeviceStatusFromThePool(t *testing.T) {
	added := &actors.JobStatus{ID: "job-1", Found: true, Finished: true, Total: 1, Done: 1,
		Verdicts: []actors.Verdict{{Result: actors.VerdictAdded, CredentialID: 4, Account: "acct-4", Email: "a@example.com"}}}
	for _, tc := range []struct {
		name        string
		status      *actors.SignInStatus // nil: the pool forgot the sign-in
		wantStatus  string
		wantTitle   string
		wantVerdict actors.VerdictKind
	}{
		{"waiting", &actors.SignInStatus{Found: true}, DevicePending, "", ""},
		{"added", &actors.SignInStatus{Found: true, Done: true, Job: added}, DeviceAdded, "Account added", actors.VerdictAdded},
		{"stopped", &actors.SignInStatus{Found: true, Done: true, Err: actors.ErrSignInStopped}, DeviceFailed, "Sign-in stopped", ""},
		{"expired", &actors.SignInStatus{Found: true, Done: true, Err: actors.ErrSignInExpired}, DeviceFailed, "Code expired", ""},
		{"expired at openai", &actors.SignInStatus{Found: true, Done: true, Err: codex.ErrDeviceExpired}, DeviceFailed, "Code expired", ""},
		{"refused", &actors.SignInStatus{Found: true, Done: true, Err: fmt.Errorf("%w (no)", codex.ErrDeviceDenied)}, DeviceFailed, "Sign-in refused", ""},
		{"not stored", &actors.SignInStatus{Found: true, Done: true, Err: fmt.Errorf("%w: disk full", actors.ErrSignInNotOnboarded)}, DeviceFailed, "Could not add the account", ""},
		{"forgotten", nil, DeviceFailed, "Sign-in stopped", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newDeviceEnv(t)
			id := env.start()
			if tc.status == nil {
				env.poller.mu.Lock()
				delete(env.poller.status, id)
				env.poller.mu.Unlock()
			} else {
				env.poller.set(id, tc.status)
			}
			code, body := env.get(codexDevicePath + "/" + id)
			if code != http.StatusOK {
				t.Fatalf("status: %d %s", code, body)
			}
			var st DeviceStatus
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatal(err)
			}
			gotVerdict := actors.VerdictKind("")
			if st.Verdict != nil {
				gotVerdict = st.Verdict.Result
			}
			if st.Status != tc.wantStatus || st.Title != tc.wantTitle || gotVerdict != tc.wantVerdict {
				t.Errorf("status = %+v, want %s %q verdict %q", st, tc.wantStatus, tc.wantTitle, tc.wantVerdict)
			}
			if tc.wantStatus == DevicePending && st.UserCode != "ABCD-1234" {
				t.Errorf("pending status without its code: %+v", st)
			}
			if tc.wantStatus != DevicePending {
				// Settled once: a later change in the pool does not move it.
				env.poller.set(id, &actors.SignInStatus{Found: true})
				if _, again := env.get(codexDevicePath + "/" + id); again != body {
					t.Errorf("status changed after it ended:\n%s\n%s", body, again)
				}
			}
		})
	}
}

// TestDeviceSignInRefused checks a sign-in the pool will not take, and
// that stopping cancels the pool's sign-ins and refuses new ones.
func TestDeviceSignInRefused(t *testing.T) {
	env := newDeviceEnv(t)
	env.poller.startErr = actors.ErrSignInStopped
	if code, body := env.get(codexDevicePath + "?format=json"); code != http.StatusServiceUnavailable {
		t.Errorf("pool refuses: %d %s, want 503", code, body)
	}
	if ids := env.api.flows.device.waiting(); len(ids) != 0 {
		t.Errorf("a refused sign-in is kept: %v", ids)
	}

	env = newDeviceEnv(t)
	env.start()
	env.api.StopDevices()
	if !env.poller.cancelled {
		t.Error("StopDevices did not cancel the pool's sign-ins")
	}
	if code, body := env.get(codexDevicePath + "?format=json"); code != http.StatusServiceUnavailable || !strings.Contains(body, "stopping") {
		t.Errorf("after stop: %d %s, want 503", code, body)
	}
}
