// Package registry starts a REAL OCI registry (Debian's docker-registry, the
// distribution project's server) on loopback with TLS and htpasswd auth, so
// push/pull tests exercise real authentication and real storage instead of an
// in-memory stand-in that accepts any credentials.
package registry

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Binary is where Debian's docker-registry package installs the server.
const Binary = "/usr/bin/docker-registry"

// Registry is a running registry.
type Registry struct {
	Host  string // 127.0.0.1:port
	CAPEM []byte // nil when it serves plain HTTP
	pool  *x509.CertPool
}

// Start runs a registry that accepts only user/password, over TLS, until the test ends.
func Start(t testing.TB, user, password string) *Registry { return start(t, user, password, true) }

// StartPlainHTTP runs the same registry without TLS. A Dagger engine speaks plain HTTP to a registry on its
// host's loopback unless its own configuration gives it a CA, which a test cannot: the engine suite uses this.
func StartPlainHTTP(t testing.TB, user, password string) *Registry {
	return start(t, user, password, false)
}

func start(t testing.TB, user, password string, useTLS bool) *Registry {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("registry: %s not found: install it with `apt-get install -y docker-registry`", Binary)
	}
	dir := t.TempDir()
	caPEM, certPEM, keyPEM, err := newCerts()
	if err != nil {
		t.Fatalf("registry: make certificates: %v", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 4) // cost 4: cost 12 makes each push ~20 s
	if err != nil {
		t.Fatalf("registry: hash password: %v", err)
	}
	files := map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM,
		"htpasswd": []byte(user + ":" + string(hash) + "\n")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatalf("registry: write %s: %v", name, err)
		}
	}
	r := &Registry{}
	if useTLS {
		r.CAPEM, r.pool = caPEM, x509.NewCertPool()
		r.pool.AppendCertsFromPEM(caPEM)
	}
	for attempt := 0; attempt < 3; attempt++ {
		if err = r.launch(t, dir, useTLS); err == nil {
			return r
		}
	}
	t.Fatalf("registry: %v", err)
	return nil
}

func (r *Registry) launch(t testing.TB, dir string, useTLS bool) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	r.Host = fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(config(dir, r.Host, useTLS)), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(Binary, "serve", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := r.waitReady(exited); err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("%w; log:\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return nil
}

func (r *Registry) waitReady(exited chan error) error {
	client := &http.Client{Transport: r.Transport(), Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("registry exited early: %v", err)
		default:
		}
		resp, err := client.Get(r.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("registry on %s not ready after 15s", r.Host)
}

// URL is the registry's base URL.
func (r *Registry) URL() string {
	if r.pool == nil {
		return "http://" + r.Host
	}
	return "https://" + r.Host
}

// Transport trusts the registry's CA.
func (r *Registry) Transport() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.pool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: r.pool, MinVersion: tls.VersionTLS12}
	}
	return tr
}

func config(dir, addr string, useTLS bool) string {
	tlsConfig := ""
	if useTLS {
		tlsConfig = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	}
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: test-registry-http-secret
%sauth:
  htpasswd:
    realm: test-registry
    path: %s
`, filepath.Join(dir, "data"), addr, tlsConfig, filepath.Join(dir, "htpasswd"))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newCerts makes a throwaway CA and a serving certificate for 127.0.0.1.
func newCerts() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test registry CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
