// Tests of the certificates without a cluster: SANs verify exactly as configured (against a Go TLS
// server with mutual TLS, which verifies like kube-apiserver and kubectl do), client certs carry the
// identity, validity and key types are as promised, and the files and kubeconfigs hold these bytes.
package controlplane

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func newPKI(t *testing.T, cfg Config) *PKI {
	t.Helper()
	p, err := NewPKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pool(t *testing.T, pemData []byte) *x509.CertPool {
	t.Helper()
	pl := x509.NewCertPool()
	if !pl.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in PEM")
	}
	return pl
}

func parseCert(t *testing.T, pemData []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %.40q", pemData)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mtlsServer serves the PKI's serving cert, requires a client cert from its client CA, and answers
// with the client's CN and O.
func mtlsServer(t *testing.T, p *PKI) *httptest.Server {
	t.Helper()
	serving, err := tls.X509KeyPair(p.ServingCert, p.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := r.TLS.PeerCertificates[0].Subject
		_, _ = io.WriteString(w, peer.CommonName+" "+strings.Join(peer.Organization, ","))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool(t, p.ClientCA)}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// get calls srv as serverName would be verified, with the client cert given (or none).
func get(t *testing.T, p *PKI, srv *httptest.Server, serverName string, cert, key []byte) (string, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: pool(t, p.ServingCA), ServerName: serverName}
	if cert != nil {
		kp, err := tls.X509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestServingCertVerifiesForExactlyItsSANs(t *testing.T) {
	p := newPKI(t, Service())
	srv := mtlsServer(t, p)
	cert, key, err := p.ClientCert("alice", "team-a", "team-b")
	if err != nil {
		t.Fatal(err)
	}
	for name, wantOK := range map[string]bool{
		"kube-apiserver": true, "localhost": true, "127.0.0.1": true, "kubernetes.default.svc": true, "10.0.0.1": true,
		"etcd": false, "kube-apiserver.test": false, "10.0.0.2": false,
	} {
		body, err := get(t, p, srv, name, cert, key)
		if (err == nil) != wantOK {
			t.Errorf("ServerName %q: err=%v, want ok=%v", name, err, wantOK)
		}
		if err != nil && !strings.Contains(err.Error(), "certificate is valid for") {
			t.Errorf("ServerName %q: failed, but not on the SANs: %v", name, err)
		}
		if wantOK && body != "alice team-a,team-b" {
			t.Errorf("ServerName %q: server saw client %q, want alice in team-a,team-b", name, body)
		}
	}
	// Loopback leaves "localhost" out on purpose.
	lp := newPKI(t, loopbackForTest())
	if _, err := get(t, lp, mtlsServer(t, lp), "localhost", lp.AdminCert, lp.AdminKey); err == nil {
		t.Error("loopback serving cert verifies for localhost")
	}
}

func TestClientCertsAreRequiredAndFromTheClientCA(t *testing.T) {
	p := newPKI(t, Service())
	srv := mtlsServer(t, p)
	if _, err := get(t, p, srv, "kube-apiserver", nil, nil); err == nil {
		t.Error("a client without a cert got through")
	}
	other := newPKI(t, Service())
	if _, err := get(t, p, srv, "kube-apiserver", other.AdminCert, other.AdminKey); err == nil {
		t.Error("a client cert of another control plane's CA got through")
	}
	if body, err := get(t, p, srv, "kube-apiserver", p.AdminCert, p.AdminKey); err != nil || body != "preview-admin system:masters" {
		t.Errorf("admin: %q, %v", body, err)
	}
}

func TestCertificatesAreShortLivedSkewTolerantP256(t *testing.T) {
	p := newPKI(t, Service())
	now := time.Now()
	certs := map[string][]byte{"serving CA": p.ServingCA, "serving": p.ServingCert, "client CA": p.ClientCA, "admin": p.AdminCert}
	for name, data := range certs {
		c := parseCert(t, data)
		if !c.NotBefore.Before(now.Add(-ClockSkewGrace+time.Minute)) || c.NotBefore.Before(now.Add(-ClockSkewGrace-time.Minute)) {
			t.Errorf("%s: NotBefore %s, want about %s before now", name, c.NotBefore, ClockSkewGrace)
		}
		if d := c.NotAfter.Sub(now); d > CertValidity || d < CertValidity-time.Minute {
			t.Errorf("%s: valid for %s more, want %s", name, d, CertValidity)
		}
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", name, c.PublicKey)
		}
		if isCA := strings.HasSuffix(name, "CA"); c.IsCA != isCA {
			t.Errorf("%s: IsCA=%v", name, c.IsCA)
		}
	}
	if c := parseCert(t, p.ServingCert); len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("serving cert usages %v", c.ExtKeyUsage)
	}
	if c := parseCert(t, p.AdminCert); len(c.DNSNames)+len(c.IPAddresses) != 0 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("admin cert has SANs %v %v or usages %v", c.DNSNames, c.IPAddresses, c.ExtKeyUsage)
	}
}

func TestServiceAccountKeysArePair(t *testing.T) {
	p := newPKI(t, Service())
	privBlock, _ := pem.Decode(p.ServiceAccountKey)
	pubBlock, _ := pem.Decode(p.ServiceAccountPub)
	if privBlock == nil || pubBlock == nil || privBlock.Type != "PRIVATE KEY" || pubBlock.Type != "PUBLIC KEY" {
		t.Fatal("service-account keys are not PEM PRIVATE KEY / PUBLIC KEY")
	}
	priv, err := x509.ParsePKCS8PrivateKey(privBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
		t.Error("sa.pub is not the public key of sa.key")
	}
}

// The kubeconfigs load with client-go (as kubectl loads them) and carry this PKI's bytes.
func TestKubeconfigsAreSelfContained(t *testing.T) {
	p := newPKI(t, Service())
	user, err := p.UserKubeconfig("bob", "ship:deployers")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data []byte
		cn   string
		orgs string
	}{"admin": {p.AdminKubeconfig, "preview-admin", "system:masters"}, "user": {user, "bob", "ship:deployers"}} {
		cfg, err := clientcmd.Load(tc.data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx := cfg.Contexts[cfg.CurrentContext]
		if ctx == nil || cfg.Clusters[ctx.Cluster] == nil || cfg.AuthInfos[ctx.AuthInfo] == nil {
			t.Fatalf("%s: current context %q does not resolve", name, cfg.CurrentContext)
		}
		cluster, auth := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
		if cluster.Server != "https://kube-apiserver:6443" || !bytes.Equal(cluster.CertificateAuthorityData, p.ServingCA) {
			t.Errorf("%s: server %s, CA matches %v", name, cluster.Server, bytes.Equal(cluster.CertificateAuthorityData, p.ServingCA))
		}
		c := parseCert(t, auth.ClientCertificateData)
		if c.Subject.CommonName != tc.cn || strings.Join(c.Subject.Organization, ",") != tc.orgs {
			t.Errorf("%s: client cert %s", name, c.Subject)
		}
		if _, err := tls.X509KeyPair(auth.ClientCertificateData, auth.ClientKeyData); err != nil {
			t.Errorf("%s: cert and key do not pair: %v", name, err)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool(t, p.ClientCA), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: client cert not from the client CA: %v", name, err)
		}
	}
}

func TestWriteDirWritesFilesPrivately(t *testing.T) {
	p := newPKI(t, Service())
	dir := filepath.Join(t.TempDir(), "pki")
	if err := p.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(p.Files()) || len(entries) != 8 {
		t.Fatalf("%d files written, Files() has %d", len(entries), len(p.Files()))
	}
	for name, want := range p.Files() {
		path := filepath.Join(dir, name)
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) || len(want) == 0 {
			t.Errorf("%s: read %d bytes (%v), want the %d of Files()", name, len(got), err, len(want))
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

// kwok's kubelet cert verifies for KwokNodeIP against the kubelet CA only, and the apiserver's never
// does: neither can pass for the other. Without a kubelet port there is no kubelet cert to mount.
func TestKubeletCertIsOfItsOwnCA(t *testing.T) {
	p := newPKI(t, loopbackForTest())
	kubelet := parseCert(t, p.KubeletCert)
	serving := parseCert(t, p.ServingCert)
	verify := func(c *x509.Certificate, ca []byte, name string) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: pool(t, ca), DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	if err := verify(kubelet, p.KubeletCA, KwokNodeIP); err != nil {
		t.Errorf("kubelet cert for %s: %v", KwokNodeIP, err)
	}
	if err := verify(kubelet, p.ServingCA, KwokNodeIP); err == nil {
		t.Error("the kubelet cert verifies against the serving CA: it could pass for the apiserver")
	}
	if err := verify(serving, p.KubeletCA, "127.0.0.1"); err == nil {
		t.Error("the serving cert verifies against the kubelet CA: it could pass for a kubelet")
	}
	if _, err := tls.X509KeyPair(p.KubeletCert, p.KubeletKey); err != nil {
		t.Errorf("kubelet key pair: %v", err)
	}

	s := newPKI(t, Service())
	if s.KubeletCert != nil || s.KubeletKey != nil || len(s.KubeletCA) == 0 {
		t.Errorf("service layout: kubelet cert %d bytes, key %d, CA %d; want only the CA", len(s.KubeletCert), len(s.KubeletKey), len(s.KubeletCA))
	}
	if _, ok := s.Files()[KubeletKeyFile]; ok {
		t.Error("service layout mounts a kubelet key nothing reads")
	}
}
