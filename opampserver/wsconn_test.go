package opampserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
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
