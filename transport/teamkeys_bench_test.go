package transport

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/keyring"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// Benchmarks of the member keys. Run:
//
//	go test ./transport -run '^$' -bench 'Authorize|KeyOverhead|KeyProxy' -benchtime 2s
//
// BenchmarkAuthorize is the key lookup alone at 10 and 10,000 keys.
// BenchmarkKeyOverhead is everything a member key adds to a request (lookup,
// allow-lists, all four limits, usage counting through the persistence
// actor) against the same request path without member keys, in the same
// run; cpu-ns/op is the process's CPU time per request, so it includes the
// persistence actor's work on other goroutines. BenchmarkKeyProxy is the
// same comparison end to end over loopback.

// steppingClock advances 1 ms on every read, so a benchmark's requests
// spread over time like real ones (a requests-per-minute limit admits them).
type steppingClock struct{ ns atomic.Int64 }

func (c *steppingClock) Now() time.Time {
	return keysEnvStart.Add(time.Duration(c.ns.Add(int64(time.Millisecond))))
}

func (c *steppingClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

var _ actors.Clock = (*steppingClock)(nil)

// benchKeys fills the ring with n member keys with every limit set, and
// returns the secret of one of them.
func benchKeys(ring *keyring.Ring, n int) string {
	var secret string
	for i := 1; i <= n; i++ {
		s := fmt.Sprintf("pk-bench-%06d-0123456789abcdef", i)
		ring.Put(storage.MemberKey{ID: int64(i), Name: fmt.Sprintf("member-%d", i), Digest: keyring.Digest(s),
			Models: []string{"gemini-2.5-*", "gpt-5.2"}, RequestsPerMinute: 100_000, ConcurrentRequests: 64,
			TokensPerDay: 1 << 50, TokensPerMonth: 1 << 50})
		if i == n/2+1 {
			secret = s
		}
	}
	return secret
}

// newKeysServer is a server over e's actors, with or without member keys.
func newKeysServer(e *keysEnv, withKeys bool) *Server {
	d := Deps{Config: e.cfg, Logger: zap.NewNop(),
		GeminiPool: e.sys.Pool(providers.GeminiCLI), Gemini: e.gemini,
		CodexPool: e.sys.Pool(providers.Codex), Codex: e.codex}
	if withKeys {
		d.Keys = e.sys.Keys()
	}
	return New(d)
}

func BenchmarkAuthorize(b *testing.B) {
	e := newKeysEnvClock(b, &steppingClock{})
	srv := newKeysServer(e, true)
	ring := e.sys.Keys().Ring()
	for _, n := range []int{10, 10_000} {
		for ring.Len() < n {
			benchKeys(ring, n)
		}
		secret := fmt.Sprintf("pk-bench-%06d-0123456789abcdef", n/2+1)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, geminiUnaryPath, nil)
			bearer := "Bearer " + secret
			b.ReportAllocs()
			for b.Loop() {
				r.Header.Set("Authorization", bearer)
				id, err := srv.identify(r)
				if err != nil || id.key == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkKeyOverhead(b *testing.B) {
	e := newKeysEnvClock(b, &steppingClock{})
	plain, keyed := newKeysServer(e, false), newKeysServer(e, true)
	member := benchKeys(e.sys.Keys().Ring(), 10_000)
	cases := []struct {
		name string
		srv  *Server
		key  string
	}{
		{"no-member-keys", plain, harnessKey},
		{"operator-key-with-usage", keyed, harnessKey},
		{"member-key-10000-keys-all-limits", keyed, member},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := tc.srv
			bearer := "Bearer " + tc.key
			r := httptest.NewRequest(http.MethodPost, geminiUnaryPath, nil)
			c := s.echo.NewContext(r, httptest.NewRecorder())
			info := &requestInfo{}
			c.Set(requestInfoKey, info)
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				*info = requestInfo{}
				r.Header.Set("Authorization", bearer)
				if err := s.authorizeClient(c); err != nil {
					b.Fatal(err)
				}
				info.setModel("gemini-2.5-pro")
				if err := s.admit(c, "gemini-2.5-pro"); err != nil {
					b.Fatal(err)
				}
				info.attempted(1, 1)
				info.noteUsage(4, 3, 0, 0)
				s.settleKey(info, surfaceGemini, http.StatusOK)
			}
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func BenchmarkKeyProxy(b *testing.B) {
	e := newKeysEnvClock(b, &steppingClock{})
	e.gfake.SetRecord(false)
	member := benchKeys(e.sys.Keys().Ring(), 10_000)
	plain := httptest.NewServer(newKeysServer(e, false).Handler())
	keyed := httptest.NewServer(newKeysServer(e, true).Handler())
	b.Cleanup(plain.Close)
	b.Cleanup(keyed.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for _, tc := range []struct {
		name, url, key string
	}{
		{"no-member-keys", plain.URL, harnessKey},
		{"member-key-10000-keys", keyed.URL, member},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, tc.url+geminiUnaryPath, strings.NewReader(geminiReqBody))
				req.Header.Set("Authorization", "Bearer "+tc.key)
				req.Header.Set(echo.HeaderContentType, "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
