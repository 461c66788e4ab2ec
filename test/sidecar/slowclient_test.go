package sidecar_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/fleetsim"
)

// rawClient is a connection to the sidecar that the spec drives byte by byte, and the moment
// the server closed it.
type rawClient struct {
	kind   string
	conn   net.Conn
	opened time.Time // when the spec's part of the exchange began (dialled, or upgraded)
	mu     sync.Mutex
	closed time.Time
}

func (c *rawClient) closedAfter() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed.Sub(c.opened), !c.closed.IsZero()
}

// watch notes when reading from r ends: the server closed the connection.
func (c *rawClient) watch(r func() error) {
	go func() {
		_ = r()
		c.mu.Lock()
		c.closed = time.Now()
		c.mu.Unlock()
	}()
}

// dialRaw opens a TCP connection, writes head at once, then one byte of drip every interval
// until the server closes the connection or drip runs out.
func dialRaw(kind, addr, head, drip string, every time.Duration) *rawClient {
	GinkgoHelper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = conn.Close() })
	c := &rawClient{kind: kind, conn: conn, opened: time.Now()}
	if head != "" {
		_, err = io.WriteString(conn, head)
		Expect(err).NotTo(HaveOccurred())
	}
	c.watch(func() error { _, err := io.Copy(io.Discard, conn); return err })
	if drip != "" {
		go func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for i := 0; i < len(drip); i++ {
				<-t.C
				if _, err := conn.Write([]byte{drip[i]}); err != nil {
					return
				}
			}
		}()
	}
	return c
}

// upgradeSilent opens a WebSocket session with a valid token and never sends a message.
func upgradeSilent(url, token string) *rawClient {
	GinkgoHelper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial(url, http.Header{"Authorization": {"Bearer " + token}})
	Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	DeferCleanup(func() { _ = ws.Close() })
	c := &rawClient{kind: "silent WebSocket", conn: ws.UnderlyingConn(), opened: time.Now()}
	c.watch(func() error {
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return err
			}
		}
	})
	return c
}

var _ = Describe("OpAMP sidecar under slow clients", func() {
	BeforeEach(ensureOperatorNamespace)

	It("closes slow clients within its timeouts while real agents connect, get their config and stay connected", func(ctx SpecContext) {
		const (
			headerTimeout = 1 * time.Second
			readTimeout   = 2 * time.Second
			firstMessage  = 2 * time.Second
			// slack absorbs a loaded machine's scheduling; the timeouts are far shorter than
			// what the slow clients would take to finish.
			slack = 5 * time.Second
		)
		ns, token := namespace("slow")
		reg := prometheus.NewRegistry()
		sc := startSidecar("slow-0", func(o *opampserver.Options) {
			o.Registry = reg
			o.ReadHeaderTimeout, o.ReadTimeout, o.FirstMessageTimeout = headerTimeout, readTimeout, firstMessage
			o.WriteTimeout, o.IdleTimeout = 2*time.Second, 2*time.Second
		})
		addr := sc.srv.Addr().String()
		eng := newEngine(ns, collectorConfig, nil)

		By("opening connections that dribble headers, send a body slowly, or upgrade and stay silent")
		var slow []*rawClient
		limits := map[string]time.Duration{"slow headers": headerTimeout, "slow body": readTimeout, "silent WebSocket": firstMessage}
		for i := range 150 {
			slow = append(slow, dialRaw("slow headers", addr,
				fmt.Sprintf("GET /v1/opamp HTTP/1.1\r\nHost: %s\r\nX-Slow-%d: ", addr, i), "abcdefghijklmnopqrstuvwxyz", 200*time.Millisecond))
		}
		for range 50 {
			slow = append(slow, dialRaw("slow body", addr,
				fmt.Sprintf("POST /v1/opamp HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n", addr, token),
				string(make([]byte, 100)), 200*time.Millisecond))
		}
		for range 50 {
			slow = append(slow, upgradeSilent(sc.URL(), token))
		}

		By("serving real agents meanwhile, over WebSocket and plain HTTP")
		fleet := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 10, UIDPrefix: "slow-ws"})
		polling := startFleet(fleetsim.Options{URLs: []string{sc.HTTPURL()}, Token: token, Agents: 4, UIDPrefix: "slow-http",
			HTTP: true, PollInterval: 200 * time.Millisecond})
		eng.startBatch(1, append(uidsOf(fleet), uidsOf(polling)...), 0, 14)
		Eventually(func() int32 { return eng.report("slow-0").Counts.Applied }, 15*time.Second).Should(Equal(int32(14)))
		Expect(metricValue(reg, "ampora_opamp_connected_agents")).To(Equal(14.0))

		By("closing every slow client once its timeout passed, not before")
		Eventually(func() int {
			n := 0
			for _, c := range slow {
				if _, closed := c.closedAfter(); closed {
					n++
				}
			}
			return n
		}, 20*time.Second, 100*time.Millisecond).Should(Equal(len(slow)))
		for _, c := range slow {
			took, _ := c.closedAfter()
			Expect(took).To(BeNumerically(">=", limits[c.kind]-100*time.Millisecond), c.kind)
			Expect(took).To(BeNumerically("<=", limits[c.kind]+slack), c.kind)
		}
		Expect(metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "timeout")).To(BeNumerically(">=", len(slow)))

		By("keeping the real WebSocket sessions open past every timeout: they are silent between heartbeats (30 s)")
		Consistently(func(g Gomega) {
			g.Expect(fleet.Connected()).To(Equal(10))
			g.Expect(metricValue(reg, "ampora_opamp_connected_agents")).To(Equal(14.0))
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())
		for _, a := range append(fleet.Agents, polling.Agents...) {
			Expect(a.Received()).To(Equal([]string{eng.hash}), "offered more than once: its session was cut")
		}
		open := metricValue(reg, "ampora_opamp_open_connections")
		Expect(open).To(BeNumerically(">=", 10))
		Expect(open).To(BeNumerically("<=", 14), "slow clients' connections still open")
	})

	It("caps open connections before reading any HTTP, counts the refused ones, and lets agents in once slots free", func(ctx SpecContext) {
		const maxOpen = 8
		_, token := namespace("connlimit")
		reg := prometheus.NewRegistry()
		sc := startSidecar("connlimit-0", func(o *opampserver.Options) {
			o.Registry = reg
			o.MaxOpenConnections = maxOpen
			o.ReadHeaderTimeout = time.Minute // the holders keep their slots until they leave
		})
		addr := sc.srv.Addr().String()

		By("holding every slot with connections that send nothing")
		var holders []*rawClient
		for range maxOpen {
			holders = append(holders, dialRaw("holder", addr, "", "", 0))
		}
		Eventually(func() float64 { return metricValue(reg, "ampora_opamp_open_connections") }, 10*time.Second).Should(Equal(float64(maxOpen)))

		By("closing a connection past the cap at once")
		extra := dialRaw("extra", addr, "", "", 0)
		Eventually(func() bool { _, closed := extra.closedAfter(); return closed }, 5*time.Second).Should(BeTrue())
		Expect(metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "connection_limit")).To(Equal(1.0))
		for _, h := range holders {
			_, closed := h.closedAfter()
			Expect(closed).To(BeFalse(), "a connection within the cap was closed")
		}

		By("refusing agents while the slots are held")
		fleet, err := fleetsim.Start(ctx, fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 3,
			Seed: uint64(GinkgoRandomSeed()), UIDPrefix: "connlimit"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(fleet.Stop)
		Eventually(func() float64 {
			return metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "connection_limit")
		}, 10*time.Second).Should(BeNumerically(">=", 4))
		Expect(fleet.Connected()).To(BeZero())
		Expect(metricValue(reg, "ampora_opamp_open_connections")).To(Equal(float64(maxOpen)))

		By("admitting them once the holders leave")
		for _, h := range holders {
			Expect(h.conn.Close()).To(Succeed())
		}
		Eventually(fleet.Connected, 30*time.Second).Should(Equal(3))
		Eventually(func() float64 { return metricValue(reg, "ampora_opamp_connected_agents") }, 10*time.Second).Should(Equal(3.0))
		Eventually(func() float64 { return metricValue(reg, "ampora_opamp_open_connections") }, 10*time.Second).Should(Equal(3.0))
	})
})
