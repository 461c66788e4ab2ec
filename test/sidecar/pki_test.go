package sidecar_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/gomega"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a client certificate,
// written as PEM files for the sidecar.
type pki struct {
	CAFile, ServerCertFile, ServerKeyFile string
	// Roots trusts the CA; ClientCert is signed by it for client authentication.
	Roots      *x509.CertPool
	ClientCert tls.Certificate
}

// newPKI generates the CA and certificates (ECDSA P-256) into dir; the client certificate
// expires at clientNotAfter.
func newPKI(dir string, clientNotAfter time.Time) *pki {
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ampora test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	Expect(err).NotTo(HaveOccurred())
	ca, err := x509.ParseCertificate(caDER)
	Expect(err).NotTo(HaveOccurred())

	issue := func(tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
		key := newKey()
		tmpl.SerialNumber, tmpl.KeyUsage = serial(), x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		Expect(err).NotTo(HaveOccurred())
		return der, key
	}
	serverDER, serverKey := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "ampora-opamp"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	clientDER, clientKey := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "otelcol"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    clientNotAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})

	p := &pki{
		CAFile:         filepath.Join(dir, "ca.crt"),
		ServerCertFile: filepath.Join(dir, "tls.crt"),
		ServerKeyFile:  filepath.Join(dir, "tls.key"),
		Roots:          x509.NewCertPool(),
		ClientCert:     tls.Certificate{Certificate: [][]byte{clientDER}, PrivateKey: clientKey},
	}
	p.Roots.AddCert(ca)
	writePEM(p.CAFile, "CERTIFICATE", caDER)
	writePEM(p.ServerCertFile, "CERTIFICATE", serverDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(serverKey)
	Expect(err).NotTo(HaveOccurred())
	writePEM(p.ServerKeyFile, "PRIVATE KEY", keyDER)
	return p
}

func newKey() *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	return key
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	Expect(err).NotTo(HaveOccurred())
	return n
}

func writePEM(path, blockType string, der []byte) {
	Expect(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600)).To(Succeed())
}
