package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// frame builds a masked client frame header (and payload) of n bytes.
func frame(fin bool, opcode byte, n int) []byte {
	var b bytes.Buffer
	first := opcode
	if fin {
		first |= 0x80
	}
	b.WriteByte(first)
	switch {
	case n < 126:
		b.WriteByte(0x80 | byte(n))
	case n < 1<<16:
		b.WriteByte(0x80 | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(0x80 | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	b.Write([]byte{1, 2, 3, 4}) // mask key
	b.Write(make([]byte, n))
	return b.Bytes()
}

func TestLimitedConn(t *testing.T) {
	const limit = 1000
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name   string
		stream []byte
		chunk  int // bytes per read, to split headers across reads
		tooBig bool
	}{
		{"small binary message", frame(true, 2, 100), 4096, false},
		{"message exactly at the limit", frame(true, 2, limit), 4096, false},
		{"one byte over the limit", frame(true, 2, limit+1), 4096, true},
		{"16-bit length over the limit", frame(true, 2, 5000), 4096, true},
		{"64-bit length over the limit", frame(true, 2, 70000), 4096, true},
		{"fragments adding up past the limit", cat(frame(false, 2, 600), frame(true, 0, 600)), 4096, true},
		{"fragments within the limit", cat(frame(false, 2, 400), frame(true, 0, 500)), 4096, false},
		{"many messages each under the limit", cat(frame(true, 2, 900), frame(true, 2, 900), frame(true, 2, 900)), 4096, false},
		{"control frames do not count", cat(frame(false, 2, 900), frame(true, 9, 100), frame(true, 0, 50)), 4096, false},
		{"headers split across one-byte reads", cat(frame(true, 2, 300), frame(true, 2, 2000)), 1, true},
		{"headers split across one-byte reads, within the limit", cat(frame(true, 2, 300), frame(true, 2, 800)), 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			go func() {
				for b := tt.stream; len(b) > 0; {
					k := min(tt.chunk, len(b))
					if _, err := client.Write(b[:k]); err != nil {
						return
					}
					b = b[k:]
				}
				_ = client.Close()
			}()
			rejected := 0
			lc := &limitedConn{Conn: server, max: limit, tooLarge: func() { rejected++ }}
			_, err := io.Copy(io.Discard, lc)
			if tt.tooBig {
				if !errors.Is(err, errMessageTooLarge) || rejected != 1 {
					t.Fatalf("err = %v, rejected = %d; want the size limit to end the connection once", err, rejected)
				}
				return
			}
			if err != nil || rejected != 0 {
				t.Fatalf("err = %v, rejected = %d; want the stream read whole", err, rejected)
			}
		})
	}
}

func TestLimitedConnFirstMessageDeadline(t *testing.T) {
	const wait = 100 * time.Millisecond
	t.Run("silent after the upgrade", func(t *testing.T) {
		client, server := net.Pipe()
		defer client.Close()
		lc := &limitedConn{Conn: server, max: 1000, firstBy: time.Now().Add(wait).UnixNano()}
		// What the WebSocket library does after the upgrade: clear net/http's deadlines.
		if err := lc.SetDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := lc.Read(make([]byte, 16))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read = %v, want the first-message deadline", err)
		}
		if took := time.Since(start); took < wait/2 || took > 10*time.Second {
			t.Fatalf("cut off after %s, want about %s", took, wait)
		}
	})
	t.Run("lifted by the first message", func(t *testing.T) {
		client, server := net.Pipe()
		defer client.Close()
		lc := &limitedConn{Conn: server, max: 1000, firstBy: time.Now().Add(wait).UnixNano()}
		_ = lc.SetDeadline(time.Time{})
		go func() {
			_, _ = client.Write(frame(true, 2, 10))
			// The next message comes well after the first-message deadline.
			time.AfterFunc(3*wait, func() { _, _ = client.Write(frame(true, 2, 10)) })
		}()
		if _, err := io.ReadFull(lc, make([]byte, len(frame(true, 2, 10)))); err != nil {
			t.Fatalf("first message: %v", err)
		}
		if _, err := io.ReadFull(lc, make([]byte, len(frame(true, 2, 10)))); err != nil {
			t.Fatalf("a later message was cut off: %v", err)
		}
	})
}

func TestLimitedConnWriteTimeout(t *testing.T) {
	client, server := net.Pipe() // nobody reads client: every write blocks
	defer client.Close()
	lc := &limitedConn{Conn: server, writeTimeout: 100 * time.Millisecond}
	// The WebSocket library clears the write deadline before every write.
	if err := lc.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := lc.Write([]byte("push")); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write = %v, want the write timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to an agent that does not read never ended")
	}
}

func TestConnLimiter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused, timedOut atomic.Int32
	l := &ConnLimiter{Listener: ln, Max: 2, Refused: func() { refused.Add(1) }, TimedOut: func() { timedOut.Add(1) }}
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	next := func() *trackedConn {
		t.Helper()
		select {
		case c := <-accepted:
			return c.(*trackedConn)
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}

	dial()
	a := next()
	dial()
	b := next()
	third := dial()
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a connection past the cap: read = %v, want it closed", err)
	}
	if refused.Load() != 1 || l.Open() != 2 {
		t.Fatalf("refused %d, open %d; want 1 and 2", refused.Load(), l.Open())
	}
	_ = a.Close()
	_ = a.Close() // twice frees one slot
	if l.Open() != 1 {
		t.Fatalf("open %d after a close, want 1", l.Open())
	}
	dial()
	c := next()

	// A deadline that passes is a slow client, counted once per connection.
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	for range 2 {
		if _, err := b.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read = %v, want a timeout", err)
		}
	}
	// net/http interrupting its own background read, and an idle keep-alive connection
	// timing out, are not.
	_ = c.SetReadDeadline(time.Unix(1, 0))
	_, _ = c.Read(make([]byte, 1))
	l.ConnState(c, http.StateIdle)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, _ = c.Read(make([]byte, 1))
	if timedOut.Load() != 1 {
		t.Fatalf("%d timeouts counted, want 1", timedOut.Load())
	}
}
