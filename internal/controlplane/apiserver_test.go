// Tests against the real control plane the other packages' tests run (kubecluster, built on this
// package): it runs exactly these flags, and kube-apiserver itself accepts this package's certificates
// (the serving cert verifies for 127.0.0.1 and not for a name outside its SANs; a per-user client cert
// authenticates as that user and groups; a cert of another CA does not).
package controlplane_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/controlplane"
	"dagger/ship/internal/testenv/kubecluster"

	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

// loggedArgs is the argv a process of the cluster was started with: the first "====" line of its log.
func loggedArgs(t *testing.T, c *kubecluster.Cluster, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(c.Dir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 3 && fields[0] == "====" {
			return fields[3:] // "====", time, binary, args...
		}
	}
	t.Fatalf("%s.log has no start line", name)
	return nil
}

func port(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("%s: %v", rawURL, err)
	}
	return p
}

func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// The test control plane runs controlplane.Loopback's flags, byte for byte.
func TestHarnessRunsTheseFlags(t *testing.T) {
	c := kubecluster.Shared(t) // builds the binaries first if they are missing
	etcd := loggedArgs(t, c, "etcd")
	cfg := controlplane.Loopback(c.Dir(), port(t, flagValue(etcd, "listen-client-urls")), port(t, flagValue(etcd, "listen-peer-urls")), port(t, c.Server))
	for name, want := range map[string][]string{
		"etcd":                    cfg.EtcdArgs(),
		"kube-apiserver":          cfg.APIServerArgs(),
		"kube-controller-manager": cfg.ControllerManagerArgs(),
		"kube-scheduler":          cfg.SchedulerArgs(),
		"kwok":                    cfg.KwokArgs(),
	} {
		if got := loggedArgs(t, c, name); !slices.Equal(got, want) {
			t.Errorf("%s runs\n  %v\ncontrolplane says\n  %v", name, got, want)
		}
	}
	if c.Kubeconfig != cfg.Path(controlplane.AdminKubeconfigFile) {
		t.Errorf("admin kubeconfig %s, flags name %s", c.Kubeconfig, cfg.Path(controlplane.AdminKubeconfigFile))
	}
}

// client is an HTTPS client with the kubeconfig's CA and client cert, verifying the server as serverName.
func client(t *testing.T, kubeconfig []byte, serverName string) *http.Client {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	auth := cfg.AuthInfos[ctx.AuthInfo]
	return tlsClient(t, cfg.Clusters[ctx.Cluster].CertificateAuthorityData, auth.ClientCertificateData, auth.ClientKeyData, serverName)
}

func tlsClient(t *testing.T, caPEM, certPEM, keyPEM []byte, serverName string) *http.Client {
	t.Helper()
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: serverName, Certificates: []tls.Certificate{cert}}}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

type userInfo struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// whoami asks the apiserver who the client is (a SelfSubjectReview, as `kubectl auth whoami`).
func whoami(t *testing.T, hc *http.Client, server string) (int, userInfo, error) {
	t.Helper()
	body := `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
	resp, err := hc.Post(server+"/apis/authentication.k8s.io/v1/selfsubjectreviews", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, userInfo{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var review struct {
		Status struct {
			UserInfo userInfo `json:"userInfo"`
		} `json:"status"`
	}
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(data, &review); err != nil {
			t.Fatalf("decoding %s: %v", data, err)
		}
	}
	return resp.StatusCode, review.Status.UserInfo, nil
}

func TestRealAPIServerAcceptsTheCertificates(t *testing.T) {
	c := kubecluster.Shared(t) // builds the binaries first if they are missing
	path, err := c.UserKubeconfig("preview-user", "ship:previewers")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	status, who, err := whoami(t, client(t, kubeconfig, "127.0.0.1"), c.Server)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("as a controlplane-issued user cert via 127.0.0.1: status %d, %v", status, err)
	}
	if who.Username != "preview-user" || !slices.Contains(who.Groups, "ship:previewers") || !slices.Contains(who.Groups, "system:authenticated") {
		t.Errorf("the apiserver sees %+v", who)
	}

	for _, name := range []string{"not-a-san.example", "localhost"} {
		_, _, err := whoami(t, client(t, kubeconfig, name), c.Server)
		if err == nil || !strings.Contains(err.Error(), "certificate is valid for") {
			t.Errorf("verifying the apiserver as %q (not in its SANs): want an x509 name error, got %v", name, err)
		}
	}

	// A cert from another control plane's client CA is not a user of this one.
	other, err := controlplane.NewPKI(controlplane.Loopback(t.TempDir(), 1, 2, port(t, c.Server)))
	if err != nil {
		t.Fatal(err)
	}
	status, _, err = whoami(t, tlsClient(t, c.CAData, other.AdminCert, other.AdminKey, "127.0.0.1"), c.Server)
	if err != nil || status != http.StatusUnauthorized {
		t.Errorf("a client cert of a foreign CA: status %d, %v; want 401", status, err)
	}
}
