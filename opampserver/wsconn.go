package opampserver

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

// hijackBufferSize is the size of the read and write buffers a WebSocket session keeps.
// net/http's defaults are 4 KiB each, kept for the life of every session; OpAMP messages are
// mostly small, and gorilla/websocket works with any reader over 256 bytes and a writer of
// at least 270, so small buffers cut the per-agent memory at the price of more system calls
// for large messages.
const hijackBufferSize = 512

// errMessageTooLarge ends a WebSocket session whose agent sent a message over the limit.
var errMessageTooLarge = errors.New("websocket message exceeds the size limit")

// hijacker hands the WebSocket library a connection that enforces the message size limit
// (opamp-go gives no access to the library's own read limit) and small buffers.
type hijacker struct {
	http.ResponseWriter
	max      int64
	tooLarge func()
}

// Hijack takes the connection over from net/http.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	lc := &limitedConn{Conn: c, max: h.max, tooLarge: h.tooLarge}
	if n := brw.Reader.Buffered(); n > 0 {
		lc.pre, _ = brw.Reader.Peek(n)
		lc.pre = append([]byte(nil), lc.pre...)
	}
	return lc, bufio.NewReadWriter(bufio.NewReaderSize(lc, hijackBufferSize), bufio.NewWriterSize(lc, hijackBufferSize)), nil
}

// Unwrap lets net/http reach the original writer for everything else.
func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// limitedConn follows the WebSocket framing of what the agent sends and fails the read that
// would take a data message past max bytes.
type limitedConn struct {
	net.Conn
	pre      []byte
	max      int64
	tooLarge func()

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
	if n > 0 && c.max > 0 {
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

// track advances the frame parser over b.
func (c *limitedConn) track(b []byte) error {
	for len(b) > 0 {
		if c.payload > 0 {
			k := min(int64(len(b)), c.payload)
			c.payload -= k
			b = b[k:]
			if c.payload == 0 && c.final && !c.control {
				c.message = 0
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
			if c.message > c.max {
				return errMessageTooLarge
			}
		}
		c.have, c.need, c.payload = 0, 0, length
		if length == 0 && c.final && !c.control {
			c.message = 0
		}
	}
	return nil
}
