package sidecar_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"
)

// gzipped compresses data.
func gzipped(data []byte) []byte {
	GinkgoHelper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	Expect(err).NotTo(HaveOccurred())
	Expect(zw.Close()).To(Succeed())
	return buf.Bytes()
}

var _ = Describe("plain-HTTP bodies", func() {
	BeforeEach(func() { h.Setup() })

	It("answers 413 to a gzip body that inflates past --max-message-bytes (a gzip bomb), and serves a small gzip poll", func() {
		_, token := tenant("gzip-bomb")
		sc, reg := replica("gzip-bomb-0")

		By("a 64 MiB message (one long attribute) compressed to well under the 4 MiB limit")
		bomb := describe(newUID(), 0)
		bomb.AgentDescription.NonIdentifyingAttributes = append(bomb.AgentDescription.NonIdentifyingAttributes,
			attr("padding", strings.Repeat("a", 64<<20)))
		data, err := proto.Marshal(bomb)
		Expect(err).NotTo(HaveOccurred())
		body := gzipped(data)
		Expect(len(body)).To(BeNumerically("<", 1<<20))
		code, _ := post(sc, token, bytes.NewReader(body), http.Header{"Content-Encoding": {"gzip"}})
		Expect(code).To(Equal(http.StatusRequestEntityTooLarge))
		Expect(metric(reg, "ampora_opamp_rejected_connections_total", "reason", "too_large")).To(Equal(1.0))

		By("a gzip poll within the limit")
		data, err = proto.Marshal(describe(newUID(), 0))
		Expect(err).NotTo(HaveOccurred())
		code, reply := post(sc, token, bytes.NewReader(gzipped(data)), http.Header{"Content-Encoding": {"gzip"}})
		Expect(code).To(Equal(http.StatusOK))
		Expect(reply.ErrorResponse).To(BeNil())
	})

	It("reads and inflates no body for a poll without a valid token: 401 before the body", func() {
		tenant("no-token")
		sc, reg := replica("no-token-0")
		bomb := describe(newUID(), 0)
		bomb.AgentDescription.NonIdentifyingAttributes = append(bomb.AgentDescription.NonIdentifyingAttributes,
			attr("padding", strings.Repeat("a", 64<<20)))
		data, err := proto.Marshal(bomb)
		Expect(err).NotTo(HaveOccurred())
		code, _ := post(sc, "not-a-token", bytes.NewReader(gzipped(data)), http.Header{"Content-Encoding": {"gzip"}})
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(metric(reg, "ampora_opamp_rejected_connections_total", "reason", "invalid_token")).To(Equal(1.0))
		Expect(metric(reg, "ampora_opamp_rejected_connections_total", "reason", "too_large")).To(BeZero())
	})

	It("answers 413 to a chunked body past --max-message-bytes", func() {
		_, token := tenant("chunked")
		sc, reg := replica("chunked-0")
		// An io.Reader that is not a bytes.Reader: net/http sends it chunked, without a length.
		code, _ := post(sc, token, io.MultiReader(bytes.NewReader(make([]byte, 5<<20))), nil)
		Expect(code).To(Equal(http.StatusRequestEntityTooLarge))
		Expect(metric(reg, "ampora_opamp_rejected_connections_total", "reason", "too_large")).To(Equal(1.0))
	})
})
