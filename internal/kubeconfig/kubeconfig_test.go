// Unit tests over real-world kubeconfig shapes in testdata/: what each
// cluster tool writes, the rewritten result as golden files, the refusals by
// message, and canary secrets that must never surface in String or errors.
package kubeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	api "k8s.io/client-go/tools/clientcmd/api"

	"dagger/ship/internal/testenv/golden"
)

// hostFiles stands in for the host's file system: the paths the fixtures
// reference, backed by files in testdata/pki.
var hostFiles = map[string]string{
	"/home/dev/.minikube/ca.crt":                       "pki/ca.crt",
	"/home/dev/.minikube/profiles/minikube/client.crt": "pki/client.crt",
	"/home/dev/.minikube/profiles/minikube/client.key": "pki/client.key",
	"/etc/ship/ca.crt":                                 "pki/ca.crt",
	"/etc/ship/token":                                  "pki/token",
	"/etc/kubernetes/pki/ca.crt":                       "pki/ca.crt",
	"/etc/kubernetes/pki/admin.crt":                    "pki/client.crt",
	"/etc/kubernetes/pki/admin.key":                    "pki/client.key",
}

func readHost(path string) ([]byte, error) {
	local, ok := hostFiles[path]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", path, os.ErrNotExist)
	}
	return os.ReadFile(filepath.Join("testdata", local))
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseFixture(t *testing.T, name, context string) *Config {
	t.Helper()
	c, err := Parse(fixture(t, name), context)
	if err != nil {
		t.Fatalf("Parse(%s, %q): %v", name, context, err)
	}
	return c
}

func TestPortableShapes(t *testing.T) {
	tests := []struct {
		name, file, context string
		loopback            bool
		wantTLSName         string // after ForService; "" when not loopback
		wantNamespace       string
	}{
		{name: "kind", file: "kind.yaml", loopback: true, wantTLSName: "127.0.0.1"},
		{name: "minikube", file: "minikube.yaml", loopback: true, wantTLSName: "127.0.0.1", wantNamespace: "default"},
		{name: "k3d", file: "k3d.yaml", loopback: true, wantTLSName: "0.0.0.0"},
		{name: "docker-desktop", file: "docker-desktop.yaml", loopback: true, wantTLSName: "kubernetes.docker.internal"},
		{name: "token", file: "token.yaml", wantNamespace: "shop"},
		{name: "tokenfile", file: "tokenfile.yaml"},
		{name: "client-cert-files", file: "client-cert-files.yaml"},
		{name: "multi-context-current", file: "multi-context.yaml", loopback: true, wantTLSName: "127.0.0.1"},
		{name: "multi-context-prod", file: "multi-context.yaml", context: "prod-deployer", wantNamespace: "shop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parseFixture(t, tt.file, tt.context)
			if c.IsLoopback() != tt.loopback {
				t.Fatalf("IsLoopback() = %v, want %v for %s", c.IsLoopback(), tt.loopback, c.Server())
			}
			p, err := c.Portable(readHost)
			if err != nil {
				t.Fatalf("Portable: %v", err)
			}
			if tt.loopback {
				if p, err = p.ForService("kube-api", 6443); err != nil {
					t.Fatalf("ForService: %v", err)
				}
			}
			out, err := p.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", tt.name+".yaml"), out)
			checkSelfContained(t, out, tt.wantTLSName, tt.wantNamespace)
		})
	}
}

// checkSelfContained reads the output the way kubectl does and checks that
// everything is inline and TLS verification is on.
func checkSelfContained(t *testing.T, out []byte, wantTLSName, wantNamespace string) {
	t.Helper()
	cc, err := clientcmd.NewClientConfigFromBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		t.Fatalf("client-go rejects the output: %v", err)
	}
	raw, _ := cc.RawConfig()
	if len(raw.Contexts) != 1 || len(raw.Clusters) != 1 || len(raw.AuthInfos) != 1 {
		t.Errorf("want exactly one context/cluster/user, got %d/%d/%d", len(raw.Contexts), len(raw.Clusters), len(raw.AuthInfos))
	}
	tls := rc.TLSClientConfig
	if tls.Insecure || len(tls.CAData) == 0 || tls.CAFile != "" || tls.CertFile != "" || tls.KeyFile != "" || rc.BearerTokenFile != "" {
		t.Errorf("output is not self-contained and verified: insecure=%v caData=%d caFile=%q certFile=%q keyFile=%q tokenFile=%q",
			tls.Insecure, len(tls.CAData), tls.CAFile, tls.CertFile, tls.KeyFile, rc.BearerTokenFile)
	}
	if len(tls.CertData) == 0 && rc.BearerToken == "" {
		t.Error("output carries no credentials")
	}
	if tls.ServerName != wantTLSName {
		t.Errorf("tls-server-name = %q, want %q", tls.ServerName, wantTLSName)
	}
	if wantTLSName != "" && rc.Host != "https://kube-api:6443" {
		t.Errorf("server = %q, want https://kube-api:6443", rc.Host)
	}
	if ns, _, _ := cc.Namespace(); wantNamespace != "" && ns != wantNamespace {
		t.Errorf("namespace = %q, want %q", ns, wantNamespace)
	}
}

func TestTokenFileIsInlinedTrimmed(t *testing.T) {
	p, err := parseFixture(t, "tokenfile.yaml", "").Portable(readHost)
	if err != nil {
		t.Fatal(err)
	}
	if p.user.Token != "CANARY-FILE-TOKEN" || p.user.TokenFile != "" {
		t.Errorf("token file not inlined and trimmed (tokenFile=%q, token length %d)", p.user.TokenFile, len(p.user.Token))
	}
}

func TestPortableRefusals(t *testing.T) {
	missing := func(string) ([]byte, error) { return nil, os.ErrPermission }
	wrongFile := func(string) ([]byte, error) { return []byte("not a certificate\n"), nil }
	tests := []struct {
		name, file string
		read       func(string) ([]byte, error)
		want       []string
	}{
		{"eks exec", "eks.yaml", readHost, []string{`running "aws"`, "--cluster", "token or client certificate"}},
		{"gke exec", "gke.yaml", readHost, []string{`"gke-gcloud-auth-plugin"`, "kubectl create token"}},
		{"oidc auth-provider", "oidc-provider.yaml", readHost, []string{`"oidc" auth-provider`}},
		{"insecure", "insecure.yaml", readHost, []string{"insecure-skip-tls-verify", "certificate-authority-data"}},
		{"loopback proxy", "proxy.yaml", readHost, []string{"proxy socks5://localhost:1080", "remove proxy-url"}},
		{"file without reader", "minikube.yaml", nil, []string{"/home/dev/.minikube/ca.crt", "kubectl config view --minify --flatten"}},
		{"unreadable file", "minikube.yaml", missing, []string{"cannot read certificate-authority file /home/dev/.minikube/ca.crt", "permission denied"}},
		{"unreadable key", "client-cert-files.yaml", func(p string) ([]byte, error) {
			if strings.HasSuffix(p, ".key") {
				return nil, os.ErrNotExist
			}
			return readHost(p)
		}, []string{"client-key file /etc/kubernetes/pki/admin.key"}},
		{"not PEM", "client-cert-files.yaml", wrongFile, []string{"certificate-authority does not contain PEM data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFixture(t, tt.file, "").Portable(tt.read)
			if !errors.Is(err, ErrNotPortable) {
				t.Fatalf("err = %v, want ErrNotPortable", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		context string
		is      error
		want    []string
	}{
		{"empty", "", "", ErrEmpty, []string{"~/.kube/config"}},
		{"blank", " \n\t\n", "", ErrEmpty, nil},
		{"not yaml", "clusters: [\n  - {", "", ErrInvalid, []string{"kind: Config"}},
		{"a list", "- a\n- b\n", "", ErrInvalid, nil},
		{"another kind", "apiVersion: v1\nkind: Pod\n", "", ErrInvalid, []string{"is not v1 Config"}},
		{"no contexts", "apiVersion: v1\nkind: Config\n", "", ErrNoContexts, []string{"set-context"}},
		{"unknown context", string(fixture(t, "multi-context.yaml")), "staging", ErrUnknownContext,
			[]string{`"staging"`, "available: broken-cluster, broken-user, kind-kind, prod-deployer"}},
		{"no current context", strings.Replace(string(fixture(t, "multi-context.yaml")), "current-context: kind-kind", "", 1), "",
			ErrUnknownContext, []string{"no current-context", "kind-kind, prod-deployer"}},
		{"missing cluster", string(fixture(t, "multi-context.yaml")), "broken-cluster", ErrDanglingReference, []string{`cluster "nowhere"`}},
		{"missing user", string(fixture(t, "multi-context.yaml")), "broken-user", ErrDanglingReference, []string{`user "ghost"`}},
		{"server without scheme", strings.Replace(string(fixture(t, "token.yaml")), "https://api.prod.example.com:6443", "api.prod.example.com:6443", 1),
			"", ErrInvalid, []string{"api.prod.example.com:6443", "not an http(s) URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data), tt.context)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestSingleContextWithoutCurrentIsSelected(t *testing.T) {
	data := strings.Replace(string(fixture(t, "token.yaml")), "current-context: prod-deployer", "", 1)
	c, err := Parse([]byte(data), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.contextName != "prod-deployer" {
		t.Errorf("selected %q", c.contextName)
	}
}

func TestIsLoopback(t *testing.T) {
	tests := map[string]bool{
		"https://127.0.0.1:6443":                  true,
		"https://127.1.2.3:6443":                  true,
		"https://[::1]:6443":                      true,
		"https://localhost:6443":                  true,
		"https://LOCALHOST.:6443":                 true,
		"https://api.localhost":                   true,
		"https://0.0.0.0:6550":                    true,
		"https://[::]:6443":                       true,
		"https://kubernetes.docker.internal:6443": true,
		"https://host.docker.internal:6443":       true,
		"https://192.168.49.2:8443":               false,
		"https://10.0.0.10:6443":                  false,
		"https://api.prod.example.com":            false,
		"https://localhost.example.com":           false,
		"https://[2001:db8::1]:6443":              false,
	}
	for server, want := range tests {
		c := &Config{cluster: clusterWith(server)}
		if got := c.IsLoopback(); got != want {
			t.Errorf("IsLoopback(%s) = %v, want %v", server, got, want)
		}
	}
}

func TestRequireReachable(t *testing.T) {
	kind := parseFixture(t, "kind.yaml", "")
	err := RequireReachable(kind, false)
	var le *LoopbackError
	if !errors.As(err, &le) || !errors.Is(err, ErrLoopback) {
		t.Fatalf("err = %v, want *LoopbackError", err)
	}
	if !strings.Contains(err.Error(), "--kube-api tcp://localhost:41235") {
		t.Errorf("error does not name the flag with the port: %v", err)
	}
	if err := RequireReachable(kind, true); err != nil {
		t.Errorf("with a service: %v", err)
	}
	if err := RequireReachable(parseFixture(t, "token.yaml", ""), false); err != nil {
		t.Errorf("remote cluster: %v", err)
	}
	noPort := &Config{cluster: clusterWith("https://localhost/k8s")}
	if err := RequireReachable(noPort, false); err == nil || !strings.Contains(err.Error(), "tcp://localhost:443") {
		t.Errorf("default https port not used: %v", err)
	}
}

func TestForService(t *testing.T) {
	kind := parseFixture(t, "kind.yaml", "")
	t.Run("keeps path and existing tls-server-name", func(t *testing.T) {
		c := &Config{cluster: clusterWith("https://127.0.0.1:8443/k8s/clusters/local")}
		c.cluster.TLSServerName = "kubernetes.default.svc"
		got, err := c.ForService("kube-api", 7443)
		if err != nil {
			t.Fatal(err)
		}
		if got.cluster.Server != "https://kube-api:7443/k8s/clusters/local" || got.cluster.TLSServerName != "kubernetes.default.svc" {
			t.Errorf("server %q tls-server-name %q", got.cluster.Server, got.cluster.TLSServerName)
		}
		if c.cluster.Server != "https://127.0.0.1:8443/k8s/clusters/local" {
			t.Error("ForService modified its receiver")
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		c := &Config{cluster: clusterWith("https://[::1]:6443")}
		got, err := c.ForService("::1", 6443)
		if err != nil {
			t.Fatal(err)
		}
		if got.cluster.Server != "https://[::1]:6443" || got.cluster.TLSServerName != "::1" {
			t.Errorf("server %q tls-server-name %q", got.cluster.Server, got.cluster.TLSServerName)
		}
	})
	bad := []struct {
		host string
		port int
		want string
	}{
		{"kube-api", 0, "outside 1-65535"},
		{"kube-api", 70000, "outside 1-65535"},
		{"https://kube-api", 6443, "without scheme or port"},
		{"kube-api:6443", 6443, "without scheme or port"},
		{"", 6443, "not a hostname"},
	}
	for _, b := range bad {
		_, err := kind.ForService(b.host, b.port)
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ForService(%q, %d) = %v, want ErrBadInput containing %q", b.host, b.port, err, b.want)
		}
	}
	plain := &Config{clusterName: "old", cluster: clusterWith("http://127.0.0.1:8080")}
	if _, err := plain.ForService("kube-api", 8080); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("http server: %v", err)
	}
}

func TestForToken(t *testing.T) {
	ca := fixture(t, "pki/ca.crt")
	out, err := ForToken("prod", "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com", ca, "k8s-aws-v1.CANARY")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "golden", "for-token.yaml"), out)
	rc, err := clientcmd.RESTConfigFromKubeConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if rc.BearerToken != "k8s-aws-v1.CANARY" || !bytes.Equal(rc.CAData, ca) || rc.Insecure {
		t.Errorf("client-go reads token/CA wrong: token ok=%v ca ok=%v insecure=%v", rc.BearerToken == "k8s-aws-v1.CANARY", bytes.Equal(rc.CAData, ca), rc.Insecure)
	}

	bad := []struct {
		name, cluster, server string
		ca                    []byte
		token, want           string
	}{
		{"no name", "", "https://x.example.com", ca, "k8s-aws-v1.CANARY", "cluster name is empty"},
		{"http", "prod", "http://x.example.com", ca, "k8s-aws-v1.CANARY", "must be an https URL"},
		{"no ca", "prod", "https://x.example.com", nil, "k8s-aws-v1.CANARY", "CA data is empty"},
		{"base64 ca", "prod", "https://x.example.com", []byte("TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0"), "k8s-aws-v1.CANARY", "decode the base64"},
		{"no token", "prod", "https://x.example.com", ca, " ", "token is empty"},
		{"token with newline", "prod", "https://x.example.com", ca, "k8s-aws-v1.CANARY\n", "contains whitespace"},
	}
	for _, b := range bad {
		_, err := ForToken(b.cluster, b.server, b.ca, b.token)
		if !errors.Is(err, ErrBadInput) && !errors.Is(err, ErrNotPortable) {
			t.Errorf("%s: err = %v, want a typed error", b.name, err)
			continue
		}
		if !strings.Contains(err.Error(), b.want) || strings.Contains(err.Error(), "CANARY") {
			t.Errorf("%s: error %q should contain %q and no token", b.name, err, b.want)
		}
	}
}

func clusterWith(server string) api.Cluster { return api.Cluster{Server: server} }

func TestPortableRefusesBrokenKeyPair(t *testing.T) {
	p := newTestPKI(t)
	good := string(kubeconfigFor("https://k8s.example.com:6443", p))
	certLine := "    client-certificate-data: " + b64(p.clientCert) + "\n"
	keyLine := "    client-key-data: " + b64(p.clientKey) + "\n"
	tests := []struct {
		name, kubeconfig, want string
	}{
		{"a pair", good, ""},
		{"certificate without key", strings.Replace(good, keyLine, "", 1), `user "local": client-certificate without client-key`},
		{"key without certificate", strings.Replace(good, certLine, "", 1), `user "local": client-key without client-certificate`},
		{"another certificate's key", strings.Replace(good, b64(p.clientKey), b64(p.serverKey), 1),
			`user "local": client-certificate and client-key are not a key pair (tls: private key does not match public key)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.kubeconfig), "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = cfg.Portable(nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("a matching certificate and key were refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNotPortable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrNotPortable saying %q", err, tt.want)
			}
			for _, secret := range []string{b64(p.clientKey), b64(p.serverKey), "PRIVATE KEY"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error holds key material: %v", err)
				}
			}
		})
	}
}
