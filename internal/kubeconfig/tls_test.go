// A fast check of the TLS premise behind ForService, without a cluster: an
// HTTPS server whose certificate names only 127.0.0.1 and which requires a
// client certificate is reached as "localhost" through client-go using the
// rewritten kubeconfig. Verification must hold; a wrong name must fail.
package kubeconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

type testPKI struct {
	caPEM, serverCert, serverKey, clientCert, clientKey []byte
	pool                                                *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tls-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), caTmpl.NotBefore, caTmpl.NotAfter
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	p := testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.serverCert, p.serverKey = issue(2, &x509.Certificate{Subject: pkix.Name{CommonName: "apiserver"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p.clientCert, p.clientKey = issue(3, &x509.Certificate{Subject: pkix.Name{CommonName: "admin"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return p
}

// apiServerStandIn answers /version only to clients presenting a certificate.
func apiServerStandIn(t *testing.T, p testPKI) *httptest.Server {
	t.Helper()
	cert, err := tls.X509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "admin" {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"gitVersion":"v1.34.2"}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func kubeconfigFor(server string, p testPKI) []byte {
	return []byte(`apiVersion: v1
kind: Config
current-context: local
clusters:
- name: local
  cluster:
    server: ` + server + `
    certificate-authority-data: ` + b64(p.caPEM) + `
contexts:
- name: local
  context: {cluster: local, user: local}
users:
- name: local
  user:
    client-certificate-data: ` + b64(p.clientCert) + `
    client-key-data: ` + b64(p.clientKey) + `
`)
}

func getVersion(t *testing.T, kubeconfig []byte) (string, error) {
	t.Helper()
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc.Timeout = 10 * time.Second
	client, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(rc.Host + "/version")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(body), err
}

func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }

func TestForServiceKeepsTLSVerified(t *testing.T) {
	p := newTestPKI(t)
	srv := apiServerStandIn(t, p)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	cfg, err := Parse(kubeconfigFor(srv.URL, p), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = cfg.Portable(nil)
	if err != nil {
		t.Fatal(err)
	}
	rewritten, err := cfg.ForService("localhost", port)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := rewritten.Bytes()
	if body, err := getVersion(t, data); err != nil || !strings.Contains(body, "v1.34.2") {
		t.Fatalf("GET /version through localhost with tls-server-name 127.0.0.1: %q, %v", body, err)
	}

	for name, tlsName := range map[string]string{"wrong name": "wrong.example", "no name": ""} {
		broken := rewritten.clone()
		broken.cluster.TLSServerName = tlsName
		data, _ := broken.Bytes()
		_, err := getVersion(t, data)
		if err == nil || !strings.Contains(err.Error(), "x509") {
			t.Errorf("%s: want a certificate error, got %v", name, err)
		}
	}
}
