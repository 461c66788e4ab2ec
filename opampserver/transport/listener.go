package transport

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// openFilesHeadroom is what DefaultMaxOpenConnections leaves of the open-files limit for
// everything but agents: the API server, the probe and read-API listeners and their
// callers, log files.
const openFilesHeadroom = 256

// DefaultMaxOpenConnections is the default cap on the agent listener's open connections: the
// process's open-files limit (Go raises the soft limit to the hard one at start) less some
// headroom, so that connections that never become sessions cannot take the descriptors the
// rest of the process needs.
func DefaultMaxOpenConnections() int {
	n := openFilesLimit()
	if n <= 0 {
		return 0
	}
	return max(n-openFilesHeadroom, n/2)
}

// realDeadline tells a deadline that expires from one net/http sets in the distant past to
// interrupt its own background read (time.Unix(1, 0)): only the former is a slow client.
var realDeadline = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// ConnLimiter caps the connections the agent listener holds open, counting before any HTTP
// is read, and notices the connections that time out (slow clients).
type ConnLimiter struct {
	net.Listener
	Max      int64 // 0: no cap
	open     atomic.Int64
	Refused  func()
	TimedOut func()
}

// Accept hands out connections while fewer than max are open; past it, it closes new ones at
// once. Only this goroutine adds to open, so the check cannot be overtaken.
func (l *ConnLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.Max > 0 && l.open.Load() >= l.Max {
			l.Refused()
			_ = c.Close()
			continue
		}
		l.open.Add(1)
		return &trackedConn{Conn: c, l: l}, nil
	}
}

// Open is the number of connections open now.
func (l *ConnLimiter) Open() int64 { return l.open.Load() }

// ConnState follows net/http's view of each connection: a timeout while a keep-alive
// connection waits for its next request is an ordinary idle close, not a slow client.
func (l *ConnLimiter) ConnState(c net.Conn, st http.ConnState) {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	tc, ok := c.(*trackedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		tc.idle.Store(true)
	case http.StateActive, http.StateHijacked:
		tc.idle.Store(false)
	}
}

// trackedConn is one accepted connection: it frees its slot when closed, and reports once
// when a read or write deadline cuts it off.
type trackedConn struct {
	net.Conn
	l *ConnLimiter
	// rd and wd are the deadlines last set (Unix nanoseconds), to tell real timeouts from
	// net/http's interruptions.
	rd, wd   atomic.Int64
	idle     atomic.Bool
	closed   atomic.Bool
	timedOut atomic.Bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.idle.Load() {
		c.idle.Store(false) // the next request has begun
	}
	if err != nil && !c.idle.Load() && c.rd.Load() > realDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
		c.noteTimeout()
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && c.wd.Load() > realDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
		c.noteTimeout()
	}
	return n, err
}

func (c *trackedConn) noteTimeout() {
	if c.timedOut.CompareAndSwap(false, true) && c.l.TimedOut != nil {
		c.l.TimedOut()
	}
}

func (c *trackedConn) SetDeadline(t time.Time) error {
	c.rd.Store(unixNano(t))
	c.wd.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.rd.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	c.wd.Store(unixNano(t))
	return c.Conn.SetWriteDeadline(t)
}

func (c *trackedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.open.Add(-1)
	}
	return c.Conn.Close()
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
