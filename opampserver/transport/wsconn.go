package transport

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"time"
)

// hijackBufferSize is the size of the read buffer a WebSocket session keeps (and of the writer
// the upgrade response goes through; messages are written through pooled buffers). net/http's
// is 4 KiB, kept for the life of every session; OpAMP messages are mostly small, and
// gorilla/websocket works with any reader over 256 bytes, so a small one cuts the per-agent
// memory at the price of more system calls for large messages.
const hijackBufferSize = 512

// errMessageTooLarge ends a WebSocket session whose agent sent a message over the limit.
var errMessageTooLarge = errors.New("websocket message exceeds the size limit")

// Hijacker hands the WebSocket library a connection that enforces the message size limit as
// frames arrive (counting what it cuts off), the first-message and write timeouts, and a
// small read buffer.
type Hijacker struct {
	http.ResponseWriter
	Max      int64
	TooLarge func()
	// FirstMessage bounds the wait for the session's first message; writeTimeout bounds each
	// message written. Zero turns either off.
	FirstMessage time.Duration
	WriteTimeout time.Duration
}

// Hijack takes the connection over from net/http.
func (h *Hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	lc := &limitedConn{Conn: c, max: h.Max, tooLarge: h.TooLarge, writeTimeout: h.WriteTimeout}
	if n := brw.Reader.Buffered(); n > 0 {
		lc.pre, _ = brw.Reader.Peek(n)
		lc.pre = append([]byte(nil), lc.pre...)
	}
	if h.FirstMessage > 0 {
		by := time.Now().Add(h.FirstMessage)
		lc.firstBy = by.UnixNano()
		if err := c.SetReadDeadline(by); err != nil {
			_ = c.Close()
			return nil, nil, err
		}
	}
	return lc, bufio.NewReadWriter(bufio.NewReaderSize(lc, hijackBufferSize), bufio.NewWriterSize(lc, hijackBufferSize)), nil
}

// Unwrap lets net/http reach the original writer for everything else.
func (h *Hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// limitedConn follows the WebSocket framing of what the agent sends and fails the read that
// would take a data message past max bytes. Until the first data message is complete, reads
// have the deadline firstBy, which the WebSocket library's clearing of net/http's deadlines
// leaves in place; every write gets writeTimeout, so that an agent that does not read cannot
// hold a push forever.
type limitedConn struct {
	net.Conn
	pre          []byte
	max          int64
	tooLarge     func()
	firstBy      int64 // Unix nanoseconds; 0 once the first message arrived, or when there is no limit
	writeTimeout time.Duration

	header  [14]byte
	have    int   // header bytes collected
	need    int   // header bytes the current header needs (0: not known yet)
	payload int64 // payload bytes left in the current frame
	message int64 // data bytes of the current message so far
	control bool  // the current frame is a control frame
	final   bool  // the current frame ends its message
}

func (c *limitedConn) Read(p []byte) (int, error) {
	var n int
	var err error
	if len(c.pre) > 0 {
		n = copy(p, c.pre)
		c.pre = c.pre[n:]
	} else {
		n, err = c.Conn.Read(p)
	}
	if n > 0 && (c.max > 0 || c.firstBy != 0) {
		if ferr := c.track(p[:n]); ferr != nil {
			if c.tooLarge != nil {
				c.tooLarge()
			}
			_ = c.Conn.Close()
			return 0, ferr
		}
	}
	return n, err
}

// SetDeadline and the two below keep the first-message deadline and bound writes when they
// are asked to clear deadlines, as the WebSocket library does after the upgrade and before
// every write.
func (c *limitedConn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *limitedConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() && c.firstBy != 0 {
		t = time.Unix(0, c.firstBy)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() && c.writeTimeout > 0 {
		t = time.Now().Add(c.writeTimeout)
	}
	return c.Conn.SetWriteDeadline(t)
}

// messageDone notes the end of a data message; the first lifts the first-message deadline.
func (c *limitedConn) messageDone() {
	c.message = 0
	if c.firstBy != 0 {
		c.firstBy = 0
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
}

// track advances the frame parser over b.
func (c *limitedConn) track(b []byte) error {
	for len(b) > 0 {
		if c.payload > 0 {
			k := min(int64(len(b)), c.payload)
			c.payload -= k
			b = b[k:]
			if c.payload == 0 && c.final && !c.control {
				c.messageDone()
			}
			continue
		}
		// A frame header: 2 bytes, then extended length and mask key.
		c.header[c.have] = b[0]
		c.have++
		b = b[1:]
		if c.have == 2 {
			c.need = 2
			switch c.header[1] & 0x7f {
			case 126:
				c.need += 2
			case 127:
				c.need += 8
			}
			if c.header[1]&0x80 != 0 {
				c.need += 4
			}
		}
		if c.have < 2 || c.have < c.need {
			continue
		}
		length := int64(c.header[1] & 0x7f)
		switch length {
		case 126:
			length = int64(c.header[2])<<8 | int64(c.header[3])
		case 127:
			length = 0
			for i := 2; i < 10; i++ {
				length = length<<8 | int64(c.header[i])
			}
			if length < 0 {
				return errMessageTooLarge
			}
		}
		c.final = c.header[0]&0x80 != 0
		c.control = c.header[0]&0x08 != 0
		if !c.control {
			c.message += length
			if c.max > 0 && c.message > c.max {
				return errMessageTooLarge
			}
		}
		c.have, c.need, c.payload = 0, 0, length
		if length == 0 && c.final && !c.control {
			c.messageDone()
		}
	}
	return nil
}
