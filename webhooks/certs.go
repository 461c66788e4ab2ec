package webhooks

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Certificate lifetimes: long, since the operator renews on start when little is left.
const (
	certValidity = 5 * 365 * 24 * time.Hour
	renewBefore  = 90 * 24 * time.Hour
)

// SelfSigned keeps the webhook's serving certificate in a Secret that every replica shares:
// the first replica makes a CA and a certificate, the others read them; each writes them to
// Dir for the webhook server and puts the CA into the MutatingWebhookConfiguration, so that
// the API server trusts the webhook without cert-manager.
type SelfSigned struct {
	// Client reads and writes without a cache: it runs before the manager starts.
	Client        client.Client
	Namespace     string
	Secret        string
	Configuration string
	// Hosts are the names and addresses the certificate is for, such as the Service's DNS
	// names.
	Hosts []string
	Dir   string
	Now   func() time.Time
}

// Ensure makes or reads the certificate, writes it to Dir and injects the CA.
func (s SelfSigned) Ensure(ctx context.Context) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	sec, err := s.secret(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	for name, key := range map[string]string{"tls.crt": corev1.TLSCertKey, "tls.key": corev1.TLSPrivateKeyKey} {
		// Rewriting unchanged files on every check would make the server reload them each time.
		path := filepath.Join(s.Dir, name)
		if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, sec.Data[key]) {
			continue
		}
		if err := os.WriteFile(path, sec.Data[key], 0o600); err != nil {
			return err
		}
	}
	return s.inject(ctx, sec.Data["ca.crt"])
}

// secret returns a Secret with a certificate that is valid for a while yet, making or renewing
// it when needed. Replicas that race to create it read the winner's.
func (s SelfSigned) secret(ctx context.Context) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: s.Namespace, Name: s.Secret}
	sec := &corev1.Secret{}
	err := s.Client.Get(ctx, key, sec)
	switch {
	case apierrors.IsNotFound(err):
		data, err := s.issue()
		if err != nil {
			return nil, err
		}
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Secret,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "ampora"}}, Type: corev1.SecretTypeTLS, Data: data}
		if err := s.Client.Create(ctx, sec); apierrors.IsAlreadyExists(err) {
			return sec, s.Client.Get(ctx, key, sec)
		} else if err != nil {
			return nil, fmt.Errorf("creating the webhook certificate Secret %s: %w", key, err)
		}
		return sec, nil
	case err != nil:
		return nil, fmt.Errorf("reading the webhook certificate Secret %s: %w", key, err)
	}
	if s.fresh(sec.Data[corev1.TLSCertKey]) {
		return sec, nil
	}
	data, err := s.issue()
	if err != nil {
		return nil, err
	}
	sec.Data = data
	if err := s.Client.Update(ctx, sec); apierrors.IsConflict(err) {
		return sec, s.Client.Get(ctx, key, sec)
	} else if err != nil {
		return nil, fmt.Errorf("renewing the webhook certificate Secret %s: %w", key, err)
	}
	return sec, nil
}

// fresh says whether the PEM certificate covers every host and lasts beyond renewBefore.
func (s SelfSigned) fresh(certPEM []byte) bool {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || s.Now().Add(renewBefore).After(cert.NotAfter) {
		return false
	}
	for _, h := range s.Hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// issue makes a CA and a serving certificate for Hosts, signed by it.
func (s SelfSigned) issue() (map[string][]byte, error) {
	now := s.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "ampora-webhook-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "ampora-webhook"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range s.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"ca.crt":                pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// inject sets the CA of every webhook of the configuration.
func (s SelfSigned) inject(ctx context.Context, ca []byte) error {
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: s.Configuration}, cfg); err != nil {
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", s.Configuration, err)
	}
	patch := client.MergeFrom(cfg.DeepCopy())
	changed := false
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, ca) {
			cfg.Webhooks[i].ClientConfig.CABundle, changed = ca, true
		}
	}
	if !changed {
		return nil
	}
	if err := s.Client.Patch(ctx, cfg, patch); err != nil {
		return fmt.Errorf("injecting the CA into MutatingWebhookConfiguration %s: %w", s.Configuration, err)
	}
	return nil
}
