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
	kwok := loggedArgs(t, c, "kwok")
	kubeletPort, err := strconv.Atoi(flagValue(kwok, "node-port"))
	if err != nil {
		t.Fatalf("kwok --node-port: %v", err)
	}
	cfg := controlplane.Loopback(c.Dir(), controlplane.Ports{EtcdClient: port(t, flagValue(etcd, "listen-client-urls")),
		EtcdPeer: port(t, flagValue(etcd, "listen-peer-urls")), APIServer: port(t, c.Server), Kubelet: kubeletPort})
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
	other, err := controlplane.NewPKI(controlplane.Loopback(t.TempDir(), controlplane.Ports{EtcdClient: 1, EtcdPeer: 2, APIServer: port(t, c.Server)}))
	if err != nil {
		t.Fatal(err)
	}
	status, _, err = whoami(t, tlsClient(t, c.CAData, other.AdminCert, other.AdminKey, "127.0.0.1"), c.Server)
	if err != nil || status != http.StatusUnauthorized {
		t.Errorf("a client cert of a foreign CA: status %d, %v; want 401", status, err)
	}
}

// The apiserver reaches kwok's kubelet API (pods/log) at the Node's InternalIP and the port kwok puts in
// daemonEndpoints, and verifies it with the kubelet CA: with another CA in that file, the same request
// fails on the certificate. (A cluster of its own: the apiserver restarts.)
func TestAPIServerVerifiesKwokKubeletCert(t *testing.T) {
	if _, err := kubecluster.EnsureTools(); err != nil {
		t.Fatal(err)
	}
	c, err := kubecluster.Start(t.Context(), kubecluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ctx := t.Context()
	kubectl := func(args ...string) (string, error) { return c.Kubectl(ctx, args...) }
	if err := c.SetLogs(ctx, "default", "app", "hello from kwok"); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl("run", "web", "--image=registry.test/web:v1", "--restart=Never", "--overrides", `{"spec":{"containers":[{"name":"app","image":"registry.test/web:v1"}]}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl("wait", "pod/web", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	endpoint, err := kubectl("get", "node", controlplane.NodeNames(1)[0], "-o",
		`jsonpath={.status.addresses[?(@.type=="InternalIP")].address}:{.status.daemonEndpoints.kubeletEndpoint.Port}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := controlplane.KwokNodeIP + ":" + flagValue(loggedArgs(t, c, "kwok"), "node-port"); endpoint != want {
		t.Errorf("node's kubelet endpoint %q, want %q", endpoint, want)
	}
	if out, err := kubectl("logs", "web"); err != nil || out != "hello from kwok\n" {
		t.Fatalf("kubectl logs web: %q, %v", out, err)
	}

	other, err := controlplane.NewPKI(controlplane.Loopback(t.TempDir(), controlplane.Ports{EtcdClient: 1, EtcdPeer: 2, APIServer: 3, Kubelet: 4}))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir(), "pki", controlplane.KubeletCAFile), other.KubeletCA, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartAPIServer(ctx, 0); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl("logs", "web")
	if err == nil || !strings.Contains(err.Error(), "/containerLogs/default/web/app") || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("kubectl logs with the apiserver trusting another kubelet CA: %q, %v; want the apiserver's x509 error for kwok", out, err)
	}
	t.Logf("as expected: %v", err)
}
