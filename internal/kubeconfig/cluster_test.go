// Tests against the real test control plane: a kubeconfig for
// https://127.0.0.1:<port> rewritten to reach it as "localhost" (a name its
// certificate does not carry) must still verify TLS, and deploy; a wrong
// tls-server-name must fail on the certificate, proving verification is on.
package kubeconfig

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/testenv/kubecluster"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

// serviceKubeconfig is the cluster's admin kubeconfig made portable and
// pointed at localhost:<port>, as the module does for --kube-api.
func serviceKubeconfig(t *testing.T, c *kubecluster.Cluster) *Config {
	t.Helper()
	data, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := RequireReachable(cfg, false); !errors.Is(err, ErrLoopback) {
		t.Fatalf("the test cluster at %s should need a service binding, got %v", cfg.Server(), err)
	}
	p, err := cfg.Portable(os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.Server)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	out, err := p.ForService("localhost", port)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeConfig(t *testing.T, c *Config) string {
	t.Helper()
	data, err := c.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServiceKubeconfigVerifiesTLSAndDeploys(t *testing.T) {
	c := kubecluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := serviceKubeconfig(t, c)
	if cfg.cluster.TLSServerName != "127.0.0.1" || !strings.HasPrefix(cfg.cluster.Server, "https://localhost:") {
		t.Fatalf("rewrite: %s", cfg)
	}
	path := writeConfig(t, cfg)

	out, err := c.KubectlAs(ctx, path, "", "get", "ns", "-o", "name")
	if err != nil {
		t.Fatalf("kubectl through the rewritten kubeconfig: %v", err)
	}
	if !strings.Contains(out, "namespace/default") {
		t.Errorf("get ns output lacks namespace/default: %q", out)
	}

	ns := c.Namespace(t, "kubeconfig-service")
	if _, err := c.KubectlAs(ctx, path, deployment(ns), "apply", "--server-side", "--field-manager=ship", "-f", "-"); err != nil {
		t.Fatalf("server-side apply through the rewritten kubeconfig: %v", err)
	}
	if _, err := c.KubectlAs(ctx, path, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=90s"); err != nil {
		t.Fatalf("rollout status: %v", err)
	}
	managers, err := c.Kubectl(ctx, "-n", ns, "get", "deployment", "web", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}")
	if err != nil || !strings.Contains(managers, "ship") {
		t.Errorf("deployment not applied by field manager ship: %q, %v", managers, err)
	}
}

func TestWrongServerNameFailsOnCertificate(t *testing.T) {
	c := kubecluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, tlsName := range map[string]string{
		"wrong tls-server-name": "wrong.example",
		"no tls-server-name":    "", // the hostname localhost is not in the certificate
	} {
		t.Run(name, func(t *testing.T) {
			cfg := serviceKubeconfig(t, c)
			cfg.cluster.TLSServerName = tlsName
			_, err := c.KubectlAs(ctx, writeConfig(t, cfg), "", "get", "ns")
			if err == nil {
				t.Fatal("kubectl succeeded although the certificate does not match")
			}
			if !strings.Contains(err.Error(), "x509") {
				t.Errorf("want a certificate error, got: %v", err)
			}
		})
	}
}

func TestForTokenAgainstCluster(t *testing.T) {
	c := kubecluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := c.Namespace(t, "kubeconfig-token")
	if _, err := c.Kubectl(ctx, "-n", ns, "create", "serviceaccount", "deployer"); err != nil {
		t.Fatal(err)
	}
	token, err := c.Kubectl(ctx, "-n", ns, "create", "token", "deployer", "--duration=10m")
	if err != nil {
		t.Fatal(err)
	}
	data, err := ForToken("test", c.Server, c.CAData, strings.TrimSpace(token))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	who, err := c.KubectlAs(ctx, path, "", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + ns + ":deployer"; who != want {
		t.Errorf("authenticated as %q, want %q", who, want)
	}
}

func deployment(ns string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ` + ns + `
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: 127.0.0.1:5000/fastapi-app:dev
`
}
