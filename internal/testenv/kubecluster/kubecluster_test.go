package kubecluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/testenv/kubecluster"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

// cluster returns the shared cluster, building the binaries first if they are missing.
func cluster(t *testing.T) *kubecluster.Cluster {
	t.Helper()
	if _, err := kubecluster.EnsureTools(); err != nil {
		t.Fatal(err)
	}
	return kubecluster.Shared(t)
}

func kubectl(t *testing.T, c *kubecluster.Cluster, args ...string) string {
	t.Helper()
	out, err := c.Kubectl(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func apply(t *testing.T, c *kubecluster.Cluster, manifest string) {
	t.Helper()
	if _, err := c.KubectlStdin(t.Context(), manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// eventually polls f until it returns nil, failing the test with f's last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func deployment(name, ns, image string, replicas int, annotations map[string]string, nodeSelector map[string]string) string {
	ann, _ := json.Marshal(annotations)
	sel, _ := json.Marshal(nodeSelector)
	return fmt.Sprintf(`{
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": %q, "namespace": %q},
  "spec": {
    "replicas": %d,
    "progressDeadlineSeconds": 600,
    "selector": {"matchLabels": {"app": %q}},
    "template": {
      "metadata": {"labels": {"app": %q}, "annotations": %s},
      "spec": {"nodeSelector": %s, "containers": [{"name": "app", "image": %q, "ports": [{"containerPort": 8000}]}]}
    }
  }
}`, name, ns, replicas, name, name, ann, sel, image)
}

type pod struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		Phase      string `json:"phase"`
		Conditions []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			Image        string `json:"image"`
			Ready        bool   `json:"ready"`
			RestartCount int    `json:"restartCount"`
			State        state  `json:"state"`
			LastState    state  `json:"lastState"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

type state struct {
	Waiting *struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"waiting"`
	Running *struct {
		StartedAt string `json:"startedAt"`
	} `json:"running"`
	Terminated *struct {
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason"`
	} `json:"terminated"`
}

func (p pod) condition(typ string) (status, reason string) {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

func pods(t *testing.T, c *kubecluster.Cluster, ns, app string) []pod {
	t.Helper()
	var list struct {
		Items []pod `json:"items"`
	}
	out := kubectl(t, c, "get", "pods", "-n", ns, "-l", "app="+app, "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding pods: %v", err)
	}
	return list.Items
}

// eachPod checks every pod of app (at least want of them) with check.
func eachPod(t *testing.T, c *kubecluster.Cluster, ns, app string, want int, check func(pod) error) error {
	ps := pods(t, c, ns, app)
	if len(ps) < want {
		return fmt.Errorf("%d pods, want %d", len(ps), want)
	}
	for _, p := range ps {
		if err := check(p); err != nil {
			return fmt.Errorf("pod %s: %w (status %+v)", p.Metadata.Name, err, p.Status)
		}
	}
	return nil
}

func TestStartAndStop(t *testing.T) {
	if _, err := kubecluster.EnsureTools(); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	c, err := kubecluster.Start(t.Context(), kubecluster.Options{Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start took %s", time.Since(begin).Round(time.Millisecond))
	dir := c.Dir()

	out := kubectl(t, c, "get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}")
	if got, want := strings.TrimSpace(out), "kwok-node-0=True kwok-node-1=True"; got != want {
		t.Errorf("nodes: got %q, want %q", got, want)
	}
	out = kubectl(t, c, "version", "-o", "json")
	if !strings.Contains(out, `"gitVersion": "v1.34.2"`) {
		t.Errorf("kubectl version does not report v1.34.2 for client and server:\n%s", out)
	}
	if !strings.HasPrefix(c.Server, "https://127.0.0.1:") || len(c.CAData) == 0 {
		t.Errorf("Server %q, CAData %d bytes", c.Server, len(c.CAData))
	}

	c.Stop()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s still there after Stop: %v", dir, err)
	}
	u, _ := url.Parse(c.Server)
	if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("apiserver still listening on %s after Stop", u.Host)
	}
}

// A process that fails to start makes Start fail with the tail of its log, and leaves nothing behind.
func TestStartFailureShowsLog(t *testing.T) {
	real, err := kubecluster.EnsureTools()
	if err != nil {
		t.Fatal(err)
	}
	fake := t.TempDir()
	for _, rel := range []string{
		"etcd-" + kubecluster.EtcdVersion + "/etcd",
		"kwok-" + kubecluster.KwokVersion + "/kwok",
		"kubernetes-" + kubecluster.KubernetesVersion + "/kube-controller-manager",
		"kubernetes-" + kubecluster.KubernetesVersion + "/kube-scheduler",
		"kubernetes-" + kubecluster.KubernetesVersion + "/kubectl",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(fake, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(real, rel), filepath.Join(fake, rel)); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\necho 'E0101 boom: fake kube-apiserver refuses to start' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(fake, "kubernetes-"+kubecluster.KubernetesVersion, "kube-apiserver"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := kubecluster.Start(t.Context(), kubecluster.Options{ToolsDir: fake})
	if err == nil {
		c.Stop()
		t.Fatal("Start succeeded with a broken kube-apiserver")
	}
	if !strings.Contains(err.Error(), "fake kube-apiserver refuses to start") || !strings.Contains(err.Error(), "kube-apiserver.log") {
		t.Fatalf("error lacks the apiserver log tail: %v", err)
	}
	m := regexp.MustCompile(`last lines of (\S+)/kube-apiserver\.log`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error does not name the log file: %v", err)
	}
	if _, statErr := os.Stat(m[1]); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("cluster dir %s left behind: %v", m[1], statErr)
	}
}

func TestDeploymentRolloutAndUndo(t *testing.T) {
	c := cluster(t)
	ns := c.Namespace(t, "rollout")
	apply(t, c, deployment("web", ns, "registry.test/web:v1", 2, nil, nil))
	kubectl(t, c, "rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
	if err := eachPod(t, c, ns, "web", 2, func(p pod) error {
		if s, _ := p.condition("Ready"); p.Status.Phase != "Running" || s != "True" {
			return errors.New("not Running and Ready")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	kubectl(t, c, "set", "image", "-n", ns, "deployment/web", "app=registry.test/web:v2")
	kubectl(t, c, "rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
	image := func() string {
		return kubectl(t, c, "get", "-n", ns, "deployment/web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	}
	if got := image(); got != "registry.test/web:v2" {
		t.Fatalf("image after set image: %q", got)
	}

	kubectl(t, c, "rollout", "undo", "-n", ns, "deployment/web")
	kubectl(t, c, "rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
	if got := image(); got != "registry.test/web:v1" {
		t.Fatalf("image after rollout undo: %q", got)
	}
	eventually(t, 30*time.Second, "only v1 pods left", func() error {
		return eachPod(t, c, ns, "web", 2, func(p pod) error {
			if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].Image != "registry.test/web:v1" || !p.Status.ContainerStatuses[0].Ready {
				return errors.New("not a ready v1 pod")
			}
			return nil
		})
	})
}

func TestFaultInjection(t *testing.T) {
	c := cluster(t)
	ns := c.Namespace(t, "faults")
	fault := func(mode string) map[string]string { return map[string]string{kubecluster.FaultAnnotation: mode} }
	apply(t, c, deployment("pull", ns, "registry.test/missing:v1", 2, fault(kubecluster.FaultImagePullBackOff), nil))
	apply(t, c, deployment("crash", ns, "registry.test/crash:v1", 2, fault(kubecluster.FaultCrashLoopBackOff), nil))
	apply(t, c, deployment("unready", ns, "registry.test/unready:v1", 2, fault(kubecluster.FaultUnready), nil))
	apply(t, c, deployment("nowhere", ns, "registry.test/web:v1", 1, nil, map[string]string{"ship.test/no-such-node": "true"}))
	const timeout = 60 * time.Second

	t.Run("ImagePullBackOff", func(t *testing.T) {
		eventually(t, timeout, "pods in ImagePullBackOff", func() error {
			return eachPod(t, c, ns, "pull", 2, func(p pod) error {
				if p.Status.Phase != "Pending" || len(p.Status.ContainerStatuses) != 1 {
					return errors.New("not Pending with a container status")
				}
				cs := p.Status.ContainerStatuses[0]
				if cs.Ready || cs.State.Waiting == nil || cs.State.Waiting.Reason != "ImagePullBackOff" {
					return errors.New("container not waiting in ImagePullBackOff")
				}
				if want := `Back-off pulling image "registry.test/missing:v1"`; !strings.Contains(cs.State.Waiting.Message, want) {
					return fmt.Errorf("waiting message %q lacks %q", cs.State.Waiting.Message, want)
				}
				if s, _ := p.condition("Ready"); s != "False" {
					return fmt.Errorf("Ready=%q", s)
				}
				return nil
			})
		})
	})

	t.Run("CrashLoopBackOff", func(t *testing.T) {
		eventually(t, timeout, "pods in CrashLoopBackOff", func() error {
			return eachPod(t, c, ns, "crash", 2, func(p pod) error {
				if len(p.Status.ContainerStatuses) != 1 {
					return errors.New("no container status")
				}
				cs := p.Status.ContainerStatuses[0]
				if cs.Ready || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" {
					return errors.New("container not waiting in CrashLoopBackOff")
				}
				if cs.RestartCount < 1 {
					return fmt.Errorf("restartCount %d", cs.RestartCount)
				}
				if term := cs.LastState.Terminated; term == nil || term.ExitCode != 1 || term.Reason != "Error" {
					return fmt.Errorf("lastState %+v", cs.LastState)
				}
				if s, _ := p.condition("Ready"); s != "False" {
					return fmt.Errorf("Ready=%q", s)
				}
				return nil
			})
		})
	})

	unready := func(p pod) error {
		if p.Status.Phase != "Running" || len(p.Status.ContainerStatuses) != 1 {
			return errors.New("not Running with a container status")
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.Ready || cs.State.Running == nil {
			return errors.New("container not running-but-unready")
		}
		if s, r := p.condition("Ready"); s != "False" || r != "ContainersNotReady" {
			return fmt.Errorf("Ready=%q reason %q", s, r)
		}
		return nil
	}
	t.Run("Unready", func(t *testing.T) {
		eventually(t, timeout, "pods Running but not Ready", func() error {
			return eachPod(t, c, ns, "unready", 2, unready)
		})
		// "Forever": the rollout cannot complete.
		if _, err := c.Kubectl(t.Context(), "rollout", "status", "-n", ns, "deployment/unready", "--timeout=3s"); err == nil {
			t.Fatal("rollout status succeeded for a Deployment whose pods never become Ready")
		}
		if err := eachPod(t, c, ns, "unready", 2, unready); err != nil {
			t.Fatalf("after waiting: %v", err)
		}
	})

	t.Run("Unschedulable", func(t *testing.T) {
		eventually(t, timeout, "pod unschedulable", func() error {
			return eachPod(t, c, ns, "nowhere", 1, func(p pod) error {
				if s, r := p.condition("PodScheduled"); s != "False" || r != "Unschedulable" {
					return fmt.Errorf("PodScheduled=%q reason %q", s, r)
				}
				if p.Status.Phase != "Pending" {
					return fmt.Errorf("phase %q", p.Status.Phase)
				}
				return nil
			})
		})
	})

	t.Run("StageAddedAtRunTime", func(t *testing.T) {
		apply(t, c, `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: test-custom-fault
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchAnnotations:
      fault.ship.test/mode: TestCustom
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        state:
          waiting:
            reason: CreateContainerConfigError
            message: secret "missing" not found
      {{ end }}
      podIP: 10.244.9.9
      phase: Pending
`)
		apply(t, c, deployment("custom", ns, "registry.test/web:v1", 1, fault("TestCustom"), nil))
		eventually(t, timeout, "custom stage applied", func() error {
			return eachPod(t, c, ns, "custom", 1, func(p pod) error {
				if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil ||
					p.Status.ContainerStatuses[0].State.Waiting.Reason != "CreateContainerConfigError" {
					return errors.New("custom stage not applied")
				}
				return nil
			})
		})
	})

	// Faulty pods still go away: scaling down and deleting work.
	t.Run("DeleteFaultyPods", func(t *testing.T) {
		kubectl(t, c, "delete", "deployment", "-n", ns, "crash", "pull", "--wait=true", "--timeout=60s")
		eventually(t, timeout, "faulty pods deleted", func() error {
			if n := len(pods(t, c, ns, "crash")) + len(pods(t, c, ns, "pull")); n != 0 {
				return fmt.Errorf("%d pods left", n)
			}
			return nil
		})
	})
}

func TestUserKubeconfigRBAC(t *testing.T) {
	c := cluster(t)
	teamA := c.Namespace(t, "team-a")
	teamB := c.Namespace(t, "team-b")
	cfg, err := c.UserKubeconfig("deployer", "ship:deployers")
	if err != nil {
		t.Fatal(err)
	}
	as := func(stdin string, args ...string) error {
		_, err := c.KubectlAs(t.Context(), cfg, stdin, args...)
		return err
	}
	forbidden := func(err error) bool { return err != nil && strings.Contains(err.Error(), "Forbidden") }

	out, err := c.KubectlAs(t.Context(), cfg, "", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "deployer ") || !strings.Contains(out, "ship:deployers") {
		t.Errorf("whoami: %q", out)
	}
	if err := as("", "get", "pods", "-n", teamA); !forbidden(err) {
		t.Fatalf("listing pods without bindings: want Forbidden, got %v", err)
	}

	kubectl(t, c, "create", "rolebinding", "deployer-edit", "-n", teamA, "--clusterrole=edit", "--user=deployer")
	eventually(t, 10*time.Second, "deployer can list pods in "+teamA, func() error {
		return as("", "get", "pods", "-n", teamA)
	})
	if err := as(deployment("app", teamA, "registry.test/app:v1", 1, nil, nil), "apply", "-f", "-"); err != nil {
		t.Fatalf("creating a Deployment in %s: %v", teamA, err)
	}
	if err := as(deployment("app", teamB, "registry.test/app:v1", 1, nil, nil), "apply", "-f", "-"); !forbidden(err) {
		t.Fatalf("creating a Deployment in %s: want Forbidden, got %v", teamB, err)
	}
	if err := as("", "get", "nodes"); !forbidden(err) {
		t.Fatalf("listing nodes: want Forbidden, got %v", err)
	}
}

func TestTLSServerName(t *testing.T) {
	c := cluster(t)
	admin, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(c.Server)
	localhost := "https://localhost:" + u.Port()
	rewritten := strings.Replace(string(admin), "server: "+c.Server, "server: "+localhost, 1)
	if rewritten == string(admin) {
		t.Fatalf("admin kubeconfig has no %q line", "server: "+c.Server)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "localhost.kubeconfig")
	good := filepath.Join(dir, "localhost-servername.kubeconfig")
	if err := os.WriteFile(bad, []byte(rewritten), 0o600); err != nil {
		t.Fatal(err)
	}
	withName := strings.Replace(rewritten, "server: "+localhost, "server: "+localhost+"\n    tls-server-name: 127.0.0.1", 1)
	if err := os.WriteFile(good, []byte(withName), 0o600); err != nil {
		t.Fatal(err)
	}

	_, err = c.KubectlAs(t.Context(), bad, "", "get", "namespaces", "--request-timeout=10s")
	if err == nil || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("kubectl via https://localhost without tls-server-name: want an x509 verification error, got %v", err)
	}
	if _, err := c.KubectlAs(t.Context(), good, "", "get", "namespaces", "--request-timeout=10s"); err != nil {
		t.Fatalf("kubectl via https://localhost with tls-server-name 127.0.0.1: %v", err)
	}

	// The same with crypto/tls directly, against the published CA.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAData) {
		t.Fatal("CAData holds no certificate")
	}
	for name, wantOK := range map[string]bool{"localhost": false, "127.0.0.1": true, "kube-apiserver.test": true, "kubernetes.default.svc": true} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", u.Host, &tls.Config{RootCAs: pool, ServerName: name})
		if err == nil {
			conn.Close()
		}
		if (err == nil) != wantOK {
			t.Errorf("TLS with ServerName %q: err=%v, want ok=%v", name, err, wantOK)
		}
	}
}

// TestRestartAPIServer runs on a cluster of its own so the outage does not disturb other tests.
func TestRestartAPIServer(t *testing.T) {
	if _, err := kubecluster.EnsureTools(); err != nil {
		t.Fatal(err)
	}
	c, err := kubecluster.Start(t.Context(), kubecluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	kubectl(t, c, "create", "configmap", "before", "--from-literal=k=v")
	server := c.Server

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	downtime := 2 * time.Second
	errc := make(chan error, 1)
	go func() { errc <- c.RestartAPIServer(ctx, downtime) }()
	// During the downtime nothing answers.
	time.Sleep(downtime / 2)
	if _, err := c.Kubectl(t.Context(), "get", "configmap", "before", "--request-timeout=2s"); err == nil {
		t.Error("kubectl succeeded while the apiserver was down")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("restart with %s downtime took %s", downtime, time.Since(begin).Round(time.Millisecond))

	if c.Server != server {
		t.Fatalf("server moved from %s to %s", server, c.Server)
	}
	if got := kubectl(t, c, "get", "configmap", "before", "-o", "jsonpath={.data.k}"); got != "v" {
		t.Fatalf("configmap after restart: %q", got)
	}
	// The rest of the control plane reconnected: a new Deployment still rolls out.
	apply(t, c, deployment("after", "default", "registry.test/web:v1", 2, nil, nil))
	kubectl(t, c, "rollout", "status", "deployment/after", "--timeout=90s")
}
