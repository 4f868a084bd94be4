// Package kubecluster runs a real Kubernetes control plane on loopback for tests:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler v1.34.2, and kwok
// playing the kubelet of fake Nodes. Binaries come from .ci/tools (see EnsureTools).
// Their flags, certificates, kwok stages and Nodes are internal/controlplane's, the
// same definition the module's preview runs as Dagger services; this package only
// runs them as processes and waits for them.
//
// Pods become Running and Ready as soon as they are scheduled (and a Job's pods then
// Succeeded), unless their annotation fault.ship.test/mode (set it on a pod template: a
// Deployment's or a Job's spec.template.metadata.annotations) asks for a failure:
// "ImagePullBackOff", "CrashLoopBackOff", "Unready", or "Failed": Running, then every
// container terminated with reason Error and exit code fault.ship.test/exit-code (1-255,
// default 1) and the pod Failed, so a Job with backoffLimit 0 fails with
// BackoffLimitExceeded (see controlplane/kwok/stages.yaml). A pod whose nodeSelector
// matches no Node stays Pending with PodScheduled=False, reason Unschedulable, from the
// real scheduler. kwok reads its stages from Stage objects (kwok.x-k8s.io/v1alpha1,
// cluster-scoped), so a test can add its own.
//
// Pod logs work as on a real cluster (`kubectl logs`, GET .../pods/{pod}/log): kwok
// serves the kubelet API on loopback and the apiserver verifies it. A container logs
// what a test says with SetLogs, e.g. before creating a Job whose container is
// "migrate":
//
//	c.SetLogs(ctx, ns, "migrate", "applying 0042_add_index", "ERROR: relation \"users\" does not exist")
//
// Without SetLogs a log request fails, as for a container that never started. (kwok
// v0.7.0 picks a pod's logs by namespace and pod name only, never by label, hence the
// namespace and container name: a test namespace holds the one Job.) For finer cases
// create kwok Logs (one pod, by name) or ClusterLogs objects yourself: their logsFile
// is read by kwok, on this machine, in the CRI log format.
//
// The package uses only the standard library and controlplane (itself standard
// library only); it drives the cluster with the built kubectl and plain HTTPS.
package kubecluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"dagger/ship/internal/controlplane"
)

// FaultAnnotation is the pod (template) annotation that selects a fault stage.
const FaultAnnotation = controlplane.FaultAnnotation

// Values of FaultAnnotation.
const (
	FaultImagePullBackOff = controlplane.FaultImagePullBackOff
	FaultCrashLoopBackOff = controlplane.FaultCrashLoopBackOff
	FaultUnready          = controlplane.FaultUnready
	FaultFailed           = controlplane.FaultFailed
)

// FaultExitCodeAnnotation is the exit code (1-255, default 1) of a FaultFailed pod's containers.
const FaultExitCodeAnnotation = controlplane.FaultExitCodeAnnotation

// Options tunes Start; the zero value works.
type Options struct {
	// ToolsDir is where the binaries are (laid out as .ci/tools does). Empty means
	// EnsureTools(), which builds them if missing.
	ToolsDir string
	// Nodes is the number of kwok Nodes (kwok-node-0, kwok-node-1, ...). 0 means 1.
	Nodes int
	// StartTimeout bounds the start of the processes, once binaries exist. 0 means 2 min.
	StartTimeout time.Duration
}

// Cluster is a running control plane. Stop it when done.
type Cluster struct {
	Kubeconfig string // path to an admin (system:masters) kubeconfig file
	// KubectlPath is the path to the built kubectl binary. (It cannot be called
	// Kubectl: Go forbids a field and a method of the same name.)
	KubectlPath string
	Server      string // https://127.0.0.1:<port>
	CAData      []byte // PEM of the CA that signed the serving cert

	dir    string
	bins   binaries
	cfg    controlplane.Config
	pki    *controlplane.PKI
	client *http.Client // admin client for polling
	nodes  []string

	began time.Time // for the phase timings in start.log

	mu       sync.Mutex // guards procs and users
	procs    map[string]*proc
	users    int
	stopOnce sync.Once
}

// Start runs a new control plane and returns once it is usable: the apiserver is
// ready, kube-system/default namespaces and the RBAC ClusterRole "edit" exist, the
// controller-manager has created the default ServiceAccount, and every Node is Ready
// and untainted. With the binaries built, kube-apiserver's own start dominates (about
// 8 CPU-seconds: 8-10 s on a 2-core machine shared with other builds, so Start took
// 11-13 s there; the rest of Start adds ~2 s). Options.StartTimeout bounds it, unless
// ctx ends first. <dir>/start.log records the phases (KUBECLUSTER_VERBOSE=1 prints them).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	toolsDir := opts.ToolsDir
	if toolsDir == "" {
		var err error
		if toolsDir, err = EnsureTools(); err != nil {
			return nil, err
		}
	}
	bins := binariesIn(toolsDir)
	if m := bins.missing(); len(m) > 0 {
		return nil, fmt.Errorf("kubecluster: missing binaries (run .ci/tools): %s", strings.Join(m, ", "))
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	var err error
	for attempt := 1; ; attempt++ {
		var c *Cluster
		c, err = start(ctx, opts, bins, timeout)
		if err == nil {
			return c, nil
		}
		// Free ports are picked before the processes bind them; retry if we lost a race.
		if attempt == 3 || !portConflict(err) || ctx.Err() != nil {
			return nil, err
		}
	}
}

func start(ctx context.Context, opts Options, bins binaries, timeout time.Duration) (_ *Cluster, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "kubecluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bins: bins, KubectlPath: bins.kubectl, procs: map[string]*proc{}, began: time.Now()}
	var background sync.WaitGroup // the seeding goroutine, which may start kwok
	defer func() {
		if err != nil {
			cancel()
			background.Wait()
			c.Stop()
		}
	}()
	nodes := opts.Nodes
	if nodes <= 0 {
		nodes = 1
	}
	c.nodes = controlplane.NodeNames(nodes)

	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	c.cfg = controlplane.Loopback(dir, controlplane.Ports{EtcdClient: ports[0], EtcdPeer: ports[1], APIServer: ports[2], Kubelet: ports[3]})
	c.Server = c.cfg.Server

	if err := c.writePKI(); err != nil {
		return nil, fmt.Errorf("kubecluster: certificates: %w", err)
	}

	c.phase("certificates written")

	etcd, err := c.startProc("etcd", bins.etcd, c.cfg.EtcdArgs(), nil)
	if err != nil {
		return nil, err
	}
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	if err := waitUntil(ctx, etcd, "etcd /health", func(ctx context.Context) error {
		body, err := httpGet(ctx, plain, c.cfg.EtcdClientURL+"/health")
		if err != nil {
			return err
		}
		if !bytes.Contains(body, []byte(`"health":"true"`)) {
			return fmt.Errorf("unhealthy: %s", body)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	c.phase("etcd healthy")

	api, err := c.startProc("kube-apiserver", bins.apiserver, c.cfg.APIServerArgs(), nil)
	if err != nil {
		return nil, err
	}
	// While the apiserver finishes starting, create what kwok needs: the apiserver
	// serves system:masters before it is ready.
	seeded := make(chan error, 1)
	background.Add(1)
	go func() {
		defer background.Done()
		err := c.seed(ctx, api)
		if err == nil && ctx.Err() == nil {
			err = c.startKwok()
		}
		seeded <- err
	}()
	if err := c.waitAPIServer(ctx, api); err != nil {
		return nil, err
	}
	c.phase("kube-apiserver ready")

	// Controller-manager and scheduler, as admin. (Started only once the apiserver is
	// ready: the controller-manager gives up if it is not healthy within 10 s.)
	if _, err := c.startProc("kube-controller-manager", bins.controllerManager, c.cfg.ControllerManagerArgs(), nil); err != nil {
		return nil, err
	}
	if _, err := c.startProc("kube-scheduler", bins.scheduler, c.cfg.SchedulerArgs(), nil); err != nil {
		return nil, err
	}
	if err := <-seeded; err != nil {
		return nil, err
	}
	kwok := c.proc("kwok")

	// Usable: bootstrap objects, the controller-manager at work, Nodes ready.
	for _, path := range []string{
		"/api/v1/namespaces/default",
		"/api/v1/namespaces/kube-system",
		"/apis/rbac.authorization.k8s.io/v1/clusterroles/edit",
	} {
		if err := waitUntil(ctx, api, path, func(ctx context.Context) error {
			_, err := c.get(ctx, path)
			return err
		}); err != nil {
			return nil, err
		}
	}
	c.phase("bootstrap objects exist")
	kcm := c.proc("kube-controller-manager")
	if err := waitUntil(ctx, kcm, "the controller-manager to create ServiceAccount default/default", func(ctx context.Context) error {
		_, err := c.get(ctx, "/api/v1/namespaces/default/serviceaccounts/default")
		return err
	}); err != nil {
		return nil, err
	}
	c.phase("default ServiceAccount exists")
	if err := c.waitNodes(ctx, kwok); err != nil {
		return nil, err
	}
	c.phase("nodes ready")
	return c, nil
}

// kwokGrace is how long kwok gets to make the Nodes Ready before it is started once more. Now and then
// (seen once in dozens of starts, on a loaded machine) kwok starts with every stage in place and still
// never initializes a Node; a restart always has.
const kwokGrace = 30 * time.Second

// waitNodes waits until every Node is Ready and untainted, restarting kwok once if it does nothing.
func (c *Cluster) waitNodes(ctx context.Context, kwok *proc) error {
	ready := func(ctx context.Context) error {
		for _, n := range c.nodes {
			if err := c.nodeReady(ctx, n); err != nil {
				return err
			}
		}
		return nil
	}
	gctx, cancel := context.WithTimeout(ctx, kwokGrace)
	err := waitUntil(gctx, kwok, "the Nodes to be Ready and untainted", ready)
	cancel()
	if err == nil || ctx.Err() != nil || kwok.exited() {
		return err
	}
	c.phase("kwok left the Nodes unready; restarting it")
	kwok.kill()
	if err := c.startKwok(); err != nil {
		return err
	}
	return waitUntil(ctx, c.proc("kwok"), "the Nodes to be Ready and untainted (kwok restarted)", ready)
}

// phase records how long start has taken so far in <dir>/start.log (and on stderr
// when KUBECLUSTER_VERBOSE is set).
func (c *Cluster) phase(what string) {
	line := fmt.Sprintf("%8s %s\n", time.Since(c.began).Round(time.Millisecond), what)
	if f, err := os.OpenFile(filepath.Join(c.dir, "start.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		_, _ = f.WriteString(line)
		f.Close()
	}
	if os.Getenv("KUBECLUSTER_VERBOSE") != "" {
		fmt.Fprint(os.Stderr, "kubecluster: "+line)
	}
}

// writePKI makes the control plane's certificates, writes them where its flags say,
// and sets up the admin client the harness polls with.
func (c *Cluster) writePKI() error {
	pki, err := controlplane.NewPKI(c.cfg)
	if err != nil {
		return err
	}
	if err := pki.WriteDir(c.cfg.PKIDir); err != nil {
		return err
	}
	c.pki = pki
	c.CAData = pki.ServingCA
	c.Kubeconfig = c.cfg.Path(controlplane.AdminKubeconfigFile)
	adminCert, err := tls.X509KeyPair(pki.AdminCert, pki.AdminKey)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pki.ServingCA) {
		return errors.New("the serving CA holds no certificate")
	}
	c.client = &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:           nil, // never a proxy: everything is on loopback
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{adminCert}},
		},
	}
	return nil
}

func (c *Cluster) startProc(name, bin string, args, env []string) (*proc, error) {
	p, err := startProc(c.dir, name, bin, args, env)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	return p, nil
}

func (c *Cluster) proc(name string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

// startAPIServer starts kube-apiserver with the cluster's flags and waits for /readyz.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	p, err := c.startProc("kube-apiserver", c.bins.apiserver, c.cfg.APIServerArgs(), nil)
	if err != nil {
		return err
	}
	return c.waitAPIServer(ctx, p)
}

func (c *Cluster) waitAPIServer(ctx context.Context, p *proc) error {
	return waitUntil(ctx, p, "kube-apiserver /readyz", func(ctx context.Context) error {
		_, err := c.get(ctx, "/readyz")
		return err
	})
}

// startKwok starts kwok, which takes its stages from Stage objects.
func (c *Cluster) startKwok() error {
	kwokHome := filepath.Join(c.dir, "kwok-home") // keeps kwok from reading ~/.kwok/kwok.yaml
	if err := os.MkdirAll(kwokHome, 0o700); err != nil {
		return err
	}
	_, err := c.startProc("kwok", c.bins.kwok, c.cfg.KwokArgs(), []string{"HOME=" + kwokHome})
	return err
}

// seed creates what kwok needs before it starts: the Stage, Logs and ClusterLogs CRDs,
// the stages and the Nodes. Plain HTTPS (the apiserver takes YAML bodies) is much quicker
// than kubectl, whose discovery lags behind a new CRD. Every step is retried until the
// apiserver (still starting) accepts it.
func (c *Cluster) seed(ctx context.Context, api *proc) error {
	const crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
	for _, doc := range append(yamlDocs(controlplane.StageCRD()), yamlDocs(controlplane.LogsCRDs())...) {
		if err := waitUntil(ctx, api, "kwok's CRDs to be created", func(ctx context.Context) error {
			return c.create(ctx, crds, "application/yaml", doc)
		}); err != nil {
			return err
		}
	}
	for _, name := range append([]string{controlplane.StageCRDName}, controlplane.LogsCRDNames()...) {
		if err := waitUntil(ctx, api, "CRD "+name+" to be established", func(ctx context.Context) error {
			return c.conditionTrue(ctx, crds+"/"+name, "Established")
		}); err != nil {
			return err
		}
	}
	for _, doc := range yamlDocs(controlplane.Stages()) {
		if err := waitUntil(ctx, api, "kwok stages to be created", func(ctx context.Context) error {
			// Right after Established, the new resource can briefly answer 404.
			return c.create(ctx, "/apis/kwok.x-k8s.io/v1alpha1/stages", "application/yaml", doc)
		}); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if err := waitUntil(ctx, api, "the Nodes to be created", func(ctx context.Context) error {
			return c.create(ctx, "/api/v1/nodes", "application/json", controlplane.Node(n))
		}); err != nil {
			return err
		}
	}
	c.phase("kwok's CRDs, stages and Nodes created")
	return nil
}

// RestartAPIServer kills kube-apiserver, waits downtime, and starts it again on the
// same port with the same certificates and etcd, returning once it is ready. The other
// processes keep running and reconnect by themselves.
func (c *Cluster) RestartAPIServer(ctx context.Context, downtime time.Duration) error {
	p := c.proc("kube-apiserver")
	if p == nil {
		return errors.New("kubecluster: cluster is stopped")
	}
	p.kill()
	select {
	case <-time.After(downtime):
	case <-ctx.Done():
		return ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return c.startAPIServer(ctx)
}

// Namespace creates a namespace named prefix-<4 hex digits>, unique in the cluster so that tests sharing it
// (and go test -count=N) never collide, and deletes it when the test ends.
func (c *Cluster) Namespace(tb testing.TB, prefix string) string {
	tb.Helper()
	name := fmt.Sprintf("%s-%04x", prefix, rand.IntN(1<<16))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Kubectl(ctx, "create", "namespace", name); err != nil {
		tb.Fatalf("kubecluster: creating namespace %s: %v", name, err)
	}
	tb.Cleanup(func() { _, _ = c.Kubectl(context.Background(), "delete", "namespace", name, "--wait=false") })
	return name
}

// PauseControllers freezes kube-controller-manager, as a controller that lags behind does: the API server
// accepts changes nobody acts on until resume is called (it is also called at the end of the test).
func (c *Cluster) PauseControllers(tb testing.TB) (resume func()) {
	tb.Helper()
	p := c.proc("kube-controller-manager")
	if p == nil {
		tb.Fatal("kubecluster: cluster is stopped")
	}
	if err := freeze(p); err != nil {
		tb.Fatalf("kubecluster: pausing the controller-manager: %v", err)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if err := thaw(p); err != nil {
				tb.Errorf("kubecluster: resuming the controller-manager: %v", err)
			}
		})
	}
	tb.Cleanup(resume)
	return resume
}

// Stop kills every process (SIGKILL) and removes the cluster's temp dir. Set
// KUBECLUSTER_KEEP=1 to keep the dir (logs, kubeconfigs) for debugging.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	c.stopOnce.Do(func() {
		c.mu.Lock()
		procs := c.procs
		c.procs = map[string]*proc{}
		c.mu.Unlock()
		for _, name := range []string{"kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
			if p := procs[name]; p != nil && !p.exited() {
				_ = p.cmd.Process.Kill()
			}
		}
		for _, p := range procs {
			p.kill()
		}
		if os.Getenv("KUBECLUSTER_KEEP") != "" {
			fmt.Fprintf(os.Stderr, "kubecluster: keeping %s\n", c.dir)
			return
		}
		_ = os.RemoveAll(c.dir)
	})
}

// Dir returns the cluster's temp dir, which holds the logs (<process>.log),
// kubeconfigs and certificates.
func (c *Cluster) Dir() string { return c.dir }

// Nodes returns the names of the kwok Nodes.
func (c *Cluster) Nodes() []string { return append([]string(nil), c.nodes...) }

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// UserKubeconfig writes a kubeconfig for a user authenticated by a client certificate
// from the client CA, with CN=user and O=groups, and returns its path. RBAC applies:
// the user can do nothing until bound to a role.
func (c *Cluster) UserKubeconfig(user string, groups ...string) (string, error) {
	data, err := c.pki.UserKubeconfig(user, groups...)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.users++
	n := c.users
	c.mu.Unlock()
	path := filepath.Join(c.dir, fmt.Sprintf("user-%d-%s.kubeconfig", n, unsafeFileChars.ReplaceAllString(user, "_")))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// Kubectl runs kubectl as admin and returns its stdout; the error includes stderr.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	return c.KubectlStdin(ctx, "", args...)
}

// KubectlStdin is Kubectl with stdin (e.g. for `apply -f -`).
func (c *Cluster) KubectlStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	return c.KubectlAs(ctx, c.Kubeconfig, stdin, args...)
}

// KubectlAs runs kubectl with another kubeconfig (e.g. from UserKubeconfig).
func (c *Cluster) KubectlAs(ctx context.Context, kubeconfig, stdin string, args ...string) (string, error) {
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + filepath.Join(c.dir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, c.KubectlPath, full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "HTTPS_PROXY=", "https_proxy=", "NO_PROXY=*")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// get fetches an API path as admin; any status but 200 is an error.
func (c *Cluster) get(ctx context.Context, path string) ([]byte, error) {
	return httpGet(ctx, c.client, c.Server+path)
}

func httpGet(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

type objectStatus struct {
	Spec struct {
		Taints []struct {
			Key    string `json:"key"`
			Effect string `json:"effect"`
		} `json:"taints"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (c *Cluster) getStatus(ctx context.Context, path string) (*objectStatus, error) {
	body, err := c.get(ctx, path)
	if err != nil {
		return nil, err
	}
	var o objectStatus
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

func (c *Cluster) conditionTrue(ctx context.Context, path, condition string) error {
	o, err := c.getStatus(ctx, path)
	if err != nil {
		return err
	}
	for _, cond := range o.Status.Conditions {
		if cond.Type == condition && cond.Status == "True" {
			return nil
		}
	}
	return fmt.Errorf("%s: condition %s not True", path, condition)
}

func (c *Cluster) nodeReady(ctx context.Context, name string) error {
	path := "/api/v1/nodes/" + name
	if err := c.conditionTrue(ctx, path, "Ready"); err != nil {
		return err
	}
	o, err := c.getStatus(ctx, path)
	if err != nil {
		return err
	}
	if len(o.Spec.Taints) > 0 {
		return fmt.Errorf("node %s still tainted: %+v", name, o.Spec.Taints)
	}
	return nil
}

// yamlDocs splits a multi-document YAML file, dropping documents that are only comments.
func yamlDocs(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if regexp.MustCompile(`(?m)^kind:`).MatchString(doc) {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

// create POSTs an object; AlreadyExists counts as success, so it can be retried.
func (c *Cluster) create(ctx context.Context, path, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Server+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusConflict {
		return nil
	}
	return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(respBody))
}
