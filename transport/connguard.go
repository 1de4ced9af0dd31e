package transport

import (
	"container/list"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits that keep a client without a key (or a key holder who trickles)
// from holding the server's connections.
const (
	// bodyReadBase and bodyReadRate make a request body's read deadline:
	// bodyReadBase plus the declared length (the body limit when chunked)
	// at bodyReadRate bytes a second. Generous for a real upload; a
	// trickle of a byte every few seconds fails it.
	bodyReadBase = 30 * time.Second
	bodyReadRate = 1 << 20
	// maxUnsettledConns bounds the connections the server keeps open that
	// have not (yet) shown an accepted request with its whole body: new
	// connections, slow headers, slow bodies, idle keep-alives. Over the
	// bound, the oldest such connection is closed. It is further capped at
	// half the process's open-file limit.
	maxUnsettledConns = 512
	minUnsettledConns = 8
)

// connGuard bounds the unsettled connections of one http.Server. A
// connection is unsettled from accept (and again whenever it turns idle)
// until a request on it passed its route's key check and its body was read
// to the end; settled connections (requests at work, streams) are never
// closed by the guard. When a new connection would exceed the bound, the
// longest-unsettled connection is closed: slow-header and slow-body attacks
// then cost the attacker connections, not the server its file descriptors.
type connGuard struct {
	limit int

	mu     sync.Mutex
	queue  list.List // of *guardedConn, unsettled only, oldest first
	byConn map[net.Conn]*guardedConn
	// evicted counts connections closed over the bound.
	evicted atomic.Int64
}

// guardedConn is the guard's record of one connection; it also lives in the
// connection's context (ConnContext) so a request can settle it.
type guardedConn struct {
	guard *connGuard
	conn  net.Conn
	elem  *list.Element // in guard.queue while unsettled; guarded by guard.mu
}

func newConnGuard(limit int) *connGuard {
	if nofile := openFileLimit(); nofile > 0 && nofile/2 < uint64(limit) {
		limit = int(nofile / 2)
	}
	limit = max(limit, minUnsettledConns)
	return &connGuard{limit: limit, byConn: make(map[net.Conn]*guardedConn)}
}

// openFileLimit is the process's soft RLIMIT_NOFILE, 0 when unknown.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

type guardedConnKey struct{}

// connContext is the http.Server's ConnContext (called before StateNew):
// it records c and puts the record in the connection's context.
func (g *connGuard) connContext(ctx context.Context, c net.Conn) context.Context {
	gc := &guardedConn{guard: g, conn: c}
	g.mu.Lock()
	g.byConn[c] = gc
	g.mu.Unlock()
	return context.WithValue(ctx, guardedConnKey{}, gc)
}

// connState is the http.Server's ConnState hook.
func (g *connGuard) connState(c net.Conn, st http.ConnState) {
	var victim net.Conn
	g.mu.Lock()
	gc := g.byConn[c]
	switch st {
	case http.StateNew, http.StateIdle:
		if gc != nil && gc.elem == nil {
			gc.elem = g.queue.PushBack(gc)
		}
		if g.queue.Len() > g.limit {
			oldest := g.queue.Front().Value.(*guardedConn)
			g.queue.Remove(oldest.elem)
			oldest.elem = nil
			victim = oldest.conn
		}
	case http.StateClosed, http.StateHijacked:
		if gc != nil {
			if gc.elem != nil {
				g.queue.Remove(gc.elem)
				gc.elem = nil
			}
			delete(g.byConn, c)
		}
	case http.StateActive:
	}
	g.mu.Unlock()
	if victim != nil {
		g.evicted.Add(1)
		_ = victim.Close()
	}
}

// settle marks the connection of ctx as doing accepted work: the guard no
// longer counts or closes it until it turns idle again.
func settle(ctx context.Context) {
	gc, _ := ctx.Value(guardedConnKey{}).(*guardedConn)
	if gc == nil {
		return
	}
	g := gc.guard
	g.mu.Lock()
	if gc.elem != nil {
		g.queue.Remove(gc.elem)
		gc.elem = nil
	}
	g.mu.Unlock()
}

// refuseUnread prepares the answer to a request refused before its body was
// read (no key, a wrong key): the connection closes after the answer, and
// its read deadline is now, so net/http's drain of the unread body ends at
// once instead of waiting on a client that trickles.
func refuseUnread(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	if r.Body != nil && r.Body != http.NoBody {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

// unsettled is the number of connections the guard counts now.
func (g *connGuard) unsettled() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.queue.Len()
}

// bodyReadDeadline is when a body of n declared bytes (n < 0: unknown, limit
// assumed) must have been read, counted from start with base to spare.
func bodyReadDeadline(start time.Time, base time.Duration, n, limit int64) time.Time {
	if n < 0 || n > limit {
		n = limit
	}
	return start.Add(base + time.Duration(n/bodyReadRate)*time.Second)
}

// deadlineBody is a request body read under a connection read deadline.
// The deadline is absolute, so it bounds every read: a client cannot stretch
// it by sending a byte now and then. At the end of the body (or its first
// error) the deadline is lifted, so a long answer's connection is not cut,
// and the connection is settled. A failed read keeps the deadline: the
// connection is not reused.
type deadlineBody struct {
	io.ReadCloser
	ctx  context.Context
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
		settle(b.ctx)
	}
	return n, err
}
