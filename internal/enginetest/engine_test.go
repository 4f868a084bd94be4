//go:build engine

// The engine suite: the README's local tour run with the real `dagger` CLI against whatever engine it is
// configured for, with this project's own loopback control plane (internal/testenv/kubecluster) and a real
// registry. It asserts on outputs and exit codes, and that no secret (registry password, kubeconfig key) and
// no manifest content ever appears in the `--progress=plain` logs. CI has no engine, so this is not part of
// .ci/test: run it with .ci/engine-test. It does not care how the engine was made.
//
// Environment: SHIP_PIP_INDEX_URL, when set, is passed to with-pip-index for test and build (for engines
// that cannot reach PyPI); SHIP_ENGINE_SHOW=1 logs every call's output, SHIP_ENGINE_SPANS=1 where its time
// went; SHIP_ENGINE_COLD=1 says the engine was started with empty state for this run, so the benchmark
// reports the first call's time as the cold start.
package enginetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"dagger/ship/internal/render"
	"dagger/ship/internal/testenv/kubecluster"
	"dagger/ship/internal/testenv/kubetest"
	"dagger/ship/internal/testenv/registry"
)

const (
	registryUser     = "ship"
	registryPassword = "engine-suite-Registry-Canary-7f3c9a"
	secretCanary     = "engine-suite-Secret-Canary-51d0e2"
	namespace        = "fastapi-dev"
)

// suite is what every test shares: the module checkout, one control plane, one registry.
type suite struct {
	root     string
	cluster  *kubecluster.Cluster
	registry *registry.Registry
	keyData  string // the admin kubeconfig's client key, a secret that must never be printed
	apiPort  string
}

var shared *suite

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("dagger"); err != nil {
		fmt.Fprintln(os.Stderr, "engine suite: the dagger CLI is not on PATH: install dagger v0.21.8 and point it at an engine")
		os.Exit(2)
	}
	out, err := exec.Command("dagger", "core", "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v0.21.8") {
		fmt.Fprintf(os.Stderr, "engine suite: no v0.21.8 engine answers `dagger core version` (%v): %s\n", err, out)
		os.Exit(2)
	}
	code := m.Run()
	if shared != nil {
		shared.cluster.Stop()
	}
	for _, dir := range suiteDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// setup starts the control plane and the registry once for the whole run.
func setup(t testing.TB) *suite {
	t.Helper()
	if shared != nil {
		return shared
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubecluster.Start(context.Background(), kubecluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kc, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`client-key-data: (\S+)`).FindStringSubmatch(string(kc))
	if key == nil {
		t.Fatal("the admin kubeconfig has no client key")
	}
	s := &suite{root: root, cluster: c, keyData: key[1], apiPort: c.Server[strings.LastIndex(c.Server, ":")+1:]}
	// The registry must outlive this first test: it is stopped with the test binary.
	s.registry = registry.StartPlainHTTP(keepAlive{t}, registryUser, registryPassword)
	for _, ns := range []string{namespace, "fastapi-staging"} {
		if _, err := c.Kubectl(context.Background(), "create", "namespace", ns); err != nil {
			t.Fatal(err)
		}
	}
	shared = s
	return s
}

// keepAlive is a testing.TB whose cleanups never run (the registry lives as long as the test binary). Its
// temporary directories (the registry's storage and htpasswd) are not the first test's either: that test's
// would be removed when it ends, and the registry would answer every later test with 400.
type keepAlive struct{ testing.TB }

func (keepAlive) Cleanup(func()) {}

func (k keepAlive) TempDir() string {
	dir, err := os.MkdirTemp("", "ship-engine-suite-")
	if err != nil {
		k.Fatal(err)
	}
	suiteDirs = append(suiteDirs, dir)
	return dir
}

// suiteDirs are removed when the test binary ends.
var suiteDirs []string

// result is one dagger call.
type result struct {
	args           []string
	stdout, stderr string
	err            error
	took           time.Duration
	lines          []timedLine // stderr lines as they arrived
}

type timedLine struct {
	at   time.Time
	text string
}

func (r result) String() string {
	return fmt.Sprintf("dagger call %s (%s, err %v)\nstdout:\n%s\nstderr (last 60 lines):\n%s", strings.Join(r.args, " "), r.took.Round(time.Millisecond),
		r.err, r.stdout, lastLines(r.stderr, 60))
}

// call runs `dagger --progress=plain call ...` in the module, and checks that nothing secret was printed.
func (s *suite) call(t testing.TB, args ...string) result {
	t.Helper()
	full := append([]string{"--progress=plain", "call"}, args...)
	cmd := exec.Command("dagger", full...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), "SHIP_REGISTRY_PASSWORD="+registryPassword, "DAGGER_NO_NAG=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := result{args: args}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sc := bufio.NewScanner(errPipe)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		r.lines = append(r.lines, timedLine{at: time.Now(), text: sc.Text()})
		stderr.WriteString(sc.Text() + "\n")
	}
	r.err = cmd.Wait()
	r.took = time.Since(start)
	first.Do(func() { first.took, first.ok = r.took, r.err == nil })
	r.stdout, r.stderr = stdout.String(), stderr.String()
	t.Logf("dagger call %s: %s", strings.Join(args, " "), r.took.Round(time.Millisecond))
	if os.Getenv("SHIP_ENGINE_SPANS") != "" {
		logSlowSpans(t, r.stderr)
	}
	if os.Getenv("SHIP_ENGINE_SHOW") != "" {
		t.Logf("stdout:\n%s", r.stdout)
	}
	if os.Getenv("SHIP_ENGINE_TIMELINE") != "" {
		logTimeline(t, start, r.lines)
	}
	s.noSecrets(t, r)
	return r
}

// first is the run's first dagger call: on an engine with empty state, the module's cold load.
var first struct {
	sync.Once
	took time.Duration
	ok   bool
}

// coldFirstCall is the wall time of the run's first call, when SHIP_ENGINE_COLD=1 says the engine started
// this run with empty state, and that call succeeded.
func coldFirstCall() (time.Duration, bool) {
	if os.Getenv("SHIP_ENGINE_COLD") != "1" {
		return 0, false
	}
	return first.took, first.ok
}

// noSecrets fails the test when an output shows a secret or the content of a rendered manifest.
func (s *suite) noSecrets(t testing.TB, r result) {
	t.Helper()
	out := r.stdout + r.stderr
	for name, secret := range map[string]string{"the registry password": registryPassword, "the kubeconfig's client key": s.keyData,
		"a Secret's value": secretCanary} {
		if strings.Contains(out, secret) {
			t.Errorf("dagger call %s printed %s", strings.Join(r.args, " "), name)
		}
	}
	// Manifests travel only in request bodies: a field only the rendered Deployment has must not show in the
	// trace of any call but those whose output is the manifests (render) or a diff of them (plan).
	if strings.Contains(r.stderr, "readOnlyRootFilesystem") && !showsManifests(r.args) {
		t.Errorf("dagger call %s: the --progress=plain log shows the rendered manifests (readOnlyRootFilesystem found)", strings.Join(r.args, " "))
	}
}

func showsManifests(args []string) bool {
	for _, a := range args {
		if a == "render" || a == "plan" {
			return true
		}
	}
	return false
}

func (s *suite) target() []string {
	return []string{"--kubeconfig", "file:" + s.cluster.Kubeconfig, "--kube-api", "tcp://localhost:" + s.apiPort}
}

func (s *suite) withRegistry() []string {
	return []string{"with-registry", "--address", s.registry.Host, "--username", registryUser, "--password", "env:SHIP_REGISTRY_PASSWORD",
		"--api", "tcp://" + s.registry.Host}
}

// pip is the with-pip-index prefix, when the machine needs a package index of its own.
func pip() []string {
	if os.Getenv("SHIP_PIP_INDEX_URL") == "" {
		return nil
	}
	return []string{"with-pip-index", "--url", "env:SHIP_PIP_INDEX_URL"}
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func mustSucceed(t testing.TB, r result, wants ...string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("failed:\n%s", r)
	}
	for _, w := range wants {
		if !strings.Contains(r.stdout, w) {
			t.Fatalf("output lacks %q:\n%s", w, r)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var digestRef = regexp.MustCompile(`[\w.:/-]+:[\w.-]+@sha256:[0-9a-f]{64}`)

// digestOf is the @sha256:... part of a reference (rendering drops the tag of repo:tag@digest).
func digestOf(ref string) string {
	_, d, _ := strings.Cut(ref, "@")
	return "@" + d
}

// registryDigest asks the registry itself which digest a tag names.
func (s *suite) registryDigest(t testing.TB, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, s.registry.URL()+"/v2/"+repo+"/manifests/"+tag, nil)
	req.SetBasicAuth(registryUser, registryPassword)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json")
	resp, err := (&http.Client{Transport: s.registry.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registry: %s:%s: %s", repo, tag, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// brokenManifests is a copy of k8s/ whose dev overlay makes kwok fail the new pods (ImagePullBackOff) and
// carries a Secret with a canary value.
func (s *suite) brokenManifests(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(s.root, "k8s"))); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "overlays", "dev")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dev, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("fault.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: fastapi-app}\nspec:\n  template:\n    metadata:\n      annotations:\n        "+
		kubecluster.FaultAnnotation+": "+kubecluster.FaultImagePullBackOff+"\n")
	write("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: engine-suite-canary}\nstringData: {token: "+secretCanary+"}\n")
	k, err := os.ReadFile(filepath.Join(dev, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	k = bytes.Replace(k, []byte("resources:\n  - ../../base\n"), []byte("resources:\n  - ../../base\n  - secret.yaml\n"), 1)
	k = bytes.Replace(k, []byte("patches:\n"), []byte("patches:\n  - path: fault.yaml\n"), 1)
	if err := os.WriteFile(filepath.Join(dev, "kustomization.yaml"), k, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLocalTour is the README's tour, in order: each step needs the previous ones.
func TestLocalTour(t *testing.T) {
	s := setup(t)
	repo := s.registry.Host + "/fastapi-app"
	var ref1, ref2 string

	t.Run("validate", func(t *testing.T) {
		mustSucceed(t, s.call(t, "validate", "--overlay", "dev"), "3 objects checked, 0 findings")
	})
	t.Run("render", func(t *testing.T) {
		mustSucceed(t, s.call(t, "render", "--overlay", "dev", "--image", "localhost/fastapi-app:v1", "contents"),
			"image: localhost/fastapi-app:v1", "ship/app: fastapi-app", "namespace: fastapi-dev")
	})
	t.Run("test", func(t *testing.T) {
		r := s.call(t, join(pip(), []string{"test"})...)
		mustSucceed(t, r, "passed")
	})
	t.Run("image-archive", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "v1.tar")
		mustSucceed(t, s.call(t, join(pip(), []string{"image-archive", "--name", "localhost/fastapi-app:v1", "--revision", "v1", "export", "--path", out})...))
		if tags := repoTags(t, out); !strings.Contains(tags, "localhost/fastapi-app:v1") {
			t.Fatalf("the archive names %s", tags)
		}
	})
	t.Run("publish once", func(t *testing.T) {
		r := s.call(t, join(pip(), s.withRegistry(), []string{"publish", "--repository", repo, "--revision", "v1", "--tags", "latest"})...)
		mustSucceed(t, r, repo+":v1@sha256:")
		ref1 = strings.TrimSpace(r.stdout)
		if want := s.registryDigest(t, "fastapi-app", "v1"); !strings.HasSuffix(ref1, "@"+want) {
			t.Fatalf("publish printed %s, the registry has %s", ref1, want)
		}
		again := s.call(t, join(pip(), s.withRegistry(), []string{"publish", "--repository", repo, "--revision", "v1"})...)
		mustSucceed(t, again)
		if strings.TrimSpace(again.stdout) != ref1 || !strings.Contains(again.stderr, "already published") {
			t.Fatalf("the second publish of v1 was not a reuse of %s:\n%s", ref1, again)
		}
	})
	t.Run("plan before the first deploy", func(t *testing.T) {
		mustSucceed(t, s.call(t, join([]string{"plan", "--overlay", "dev", "--image", ref1}, s.target())...),
			"3 object(s) change", "+++ planned/apps.v1.Deployment.fastapi-dev.fastapi-app")
	})
	t.Run("deploy", func(t *testing.T) {
		mustSucceed(t, s.call(t, join([]string{"deploy", "--allow-unverified", "--overlay", "dev", "--image", ref1, "--revision", "v1"}, s.target())...),
			"## ship deploy dev: succeeded", "| Release | revision v1, image "+ref1,
			"| Provenance | NOT VERIFIED (--allow-unverified): no key to verify the provenance with")
	})
	t.Run("status", func(t *testing.T) {
		mustSucceed(t, s.call(t, join([]string{"status", "--overlay", "dev"}, s.target())...), "revision 1", "release: revision v1")
	})
	t.Run("deploy a new revision through the whole chain", func(t *testing.T) {
		// Without a signing key the revision it builds is unsigned: the gate refuses it before the cluster changes.
		refused := s.call(t, join(pip(), s.withRegistry(), []string{"deploy", "--overlay", "dev", "--repository", repo, "--revision", "v2"}, s.target())...)
		if refused.err == nil || !strings.Contains(refused.stderr, "refusing to deploy") || !strings.Contains(refused.stderr, "nothing was deployed") {
			t.Fatalf("an unsigned revision was deployed:\n%s", refused)
		}
		r := s.call(t, join(pip(), s.withRegistry(), []string{"deploy", "--overlay", "dev", "--repository", repo, "--revision", "v2", "--allow-unverified"}, s.target())...)
		mustSucceed(t, r, "## ship deploy dev: succeeded", "| Release | revision v2", "| Provenance | NOT VERIFIED (--allow-unverified)")
		ref2 = digestRef.FindString(r.stdout)
		if !strings.HasPrefix(ref2, repo+":v2@sha256:") {
			t.Fatalf("no v2 digest in the report:\n%s", r)
		}
		plan := s.call(t, join([]string{"plan", "--overlay", "dev", "--image", ref2}, s.target())...)
		mustSucceed(t, plan, "no changes")
	})
	t.Run("redeploy the same revision reuses its image", func(t *testing.T) {
		r := s.call(t, join(pip(), s.withRegistry(), []string{"deploy", "--overlay", "dev", "--repository", repo, "--revision", "v2", "--allow-unverified"}, s.target())...)
		mustSucceed(t, r, "## ship deploy dev: succeeded", ref2)
		if !strings.Contains(r.stderr, "already published") {
			t.Fatalf("v2 was rebuilt:\n%s", r)
		}
	})
	t.Run("a failing deploy is rolled back", func(t *testing.T) {
		broken := s.brokenManifests(t)
		r := s.call(t, join([]string{"--manifests", broken, "deploy", "--allow-unverified", "--overlay", "dev", "--image", ref1, "--revision", "broken"}, s.target())...)
		if r.err == nil {
			t.Fatalf("the failing deploy succeeded:\n%s", r)
		}
		for _, want := range []string{"ImagePullBackOff", "`deployment/fastapi-app`: rolled back from revision", digestOf(ref2), "healthy again", "(the deploy report is above)"} {
			if !strings.Contains(r.stderr, want) {
				t.Fatalf("the failure does not say %q:\n%s", want, r)
			}
		}
		mustSucceed(t, s.call(t, join([]string{"status", "--overlay", "dev"}, s.target())...), digestOf(ref2))
	})
	t.Run("rollback", func(t *testing.T) {
		r := s.call(t, join([]string{"rollback", "--overlay", "dev"}, s.target())...)
		mustSucceed(t, r, "rolled back 1 deployment(s), healthy", digestOf(ref1))
		mustSucceed(t, s.call(t, join([]string{"status", "--overlay", "dev"}, s.target())...), digestOf(ref1), "release: revision v1")
	})
	t.Run("promote", func(t *testing.T) {
		never := s.call(t, join(s.withRegistry(), []string{"promote", "--to", "staging", "--repository", repo, "--revision", "never-built"}, s.target())...)
		if never.err == nil || !strings.Contains(never.stderr, "revision never-built was never published") {
			t.Fatalf("promoting an unpublished revision:\n%s", never)
		}
		wrong := s.call(t, join(s.withRegistry(), []string{"promote", "--allow-unverified", "--to", "staging", "--repository", repo, "--revision", "v2", "--expect-image", ref1}, s.target())...)
		if wrong.err == nil || !strings.Contains(wrong.stderr, "a different digest); nothing was deployed") {
			t.Fatalf("promoting with the wrong expected image:\n%s", wrong)
		}
		r := s.call(t, join(s.withRegistry(), []string{"promote", "--allow-unverified", "--to", "staging", "--repository", repo, "--revision", "v2", "--expect-image", ref2,
			"--run-url", "https://ci.example/runs/7", "--actor", "alice"}, s.target())...)
		mustSucceed(t, r, "## ship promote staging: succeeded", "| Release | revision v2, image "+ref2, "by alice, run https://ci.example/runs/7")
		t.Logf("promote's report:\n%s", r.stdout)
		// dev runs v1 since the rollback: promoting from dev brings exactly that digest to staging.
		r = s.call(t, join([]string{"promote", "--allow-unverified", "--to", "staging", "--from", "dev"}, s.target())...)
		mustSucceed(t, r, "## ship promote staging: succeeded", "promoted from dev", digestOf(ref1))
		mustSucceed(t, s.call(t, join([]string{"status", "--overlay", "staging"}, s.target())...), digestOf(ref1), "promoted from dev")
	})
	t.Run("concurrent deploys take turns", func(t *testing.T) {
		var wg sync.WaitGroup
		rs := make([]result, 2)
		for i, ref := range []string{ref1, ref2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs[i] = s.call(t, join([]string{"deploy", "--allow-unverified", "--overlay", "dev", "--image", ref, "--owner", fmt.Sprintf("concurrent-%d", i)}, s.target())...)
			}()
		}
		wg.Wait()
		for _, r := range rs {
			mustSucceed(t, r, "## ship deploy dev: succeeded")
		}
		if !strings.Contains(rs[0].stderr+rs[1].stderr, "for the deploy lock on fastapi-dev, held by concurrent-") {
			t.Log("the two deploys did not overlap (no lock wait seen); they still both succeeded")
		}
	})
}

// repoTags reads the RepoTags of a docker-archive tarball.
func repoTags(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatal("no manifest.json in the archive")
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			var m []struct{ RepoTags []string }
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				t.Fatal(err)
			}
			var tags []string
			for _, e := range m {
				tags = append(tags, e.RepoTags...)
			}
			return strings.Join(tags, ",")
		}
	}
}

// TestPreview is the main job on a fresh machine: preview prints one report of a real test, build, run and
// probe of the image and of two deploys, a plan and a rollback on an ephemeral cluster inside the engine;
// for the second sample app too (other name, port, probes, overlays), and preview-cluster keeps the cluster.
func TestPreview(t *testing.T) {
	s := setup(t)
	t.Run("fastapi", func(t *testing.T) {
		r := s.call(t, join(pip(), []string{"preview"})...)
		mustSucceed(t, r, "## The image, run and probed", "readiness GET http://", "/readyz: HTTP 200", "liveness GET http://", "/healthz: HTTP 200",
			`"revision":"preview-1"`, "## The preview cluster", "## Plan of revision preview-1", "3 object(s) change",
			"+        image: preview.local/fastapi-app:preview-2", "### ship rollback dev: succeeded",
			"image preview.local/fastapi-app:preview-1", "which kwok marks Running and Ready without running the image",
			"## Provenance", "signed as a Sigstore bundle with an ephemeral key", "verified with the deploy gate's own check", "The bundle lived in memory only")
		t.Logf("preview's provenance section:\n%s", section(r.stdout, "## Provenance"))
		if n := strings.Count(r.stdout, "### ship deploy dev: succeeded"); n != 2 {
			t.Fatalf("%d successful deploys in the report, want 2:\n%s", n, r.stdout)
		}
	})
	t.Run("another service", func(t *testing.T) {
		r := s.call(t, "--app", "testdata/shop-api/app", "--manifests", "testdata/shop-api/k8s", "--test-command", "python -m unittest discover -s tests",
			"preview", "--overlay", "qa")
		mustSucceed(t, r, "# ship preview of shop-api (overlay qa, namespace shop-qa)", "startup GET http://", ":9090/live: HTTP 200",
			"readiness GET http://", ":9090/ready: HTTP 200", "### ship rollback qa: succeeded", "image preview.local/shop-api:preview-1")
	})
	t.Run("kept cluster", func(t *testing.T) {
		r := s.call(t, join(pip(), []string{"preview-cluster", "kubectl", "with-exec", "--args", "kubectl,get,deployments,-A,-o,name", "stdout"})...)
		mustSucceed(t, r, "deployment.apps/fastapi-app")
	})
}

// section is the report's section starting at heading, up to the next heading of the same level.
func section(report, heading string) string {
	_, rest, ok := strings.Cut(report, heading)
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(rest, "\n## ")
	return heading + body
}

// BenchmarkDeployVsPeer times deploy on the engine against `kubectl apply` + `kubectl rollout status` run
// on the host, on the same cluster, alternating. It reports, and never asserts: the whole dagger call and
// the deploy's own duration (its report) each against the peer's wall time, the time spent before the
// deploy connecting and checking the cluster, and how late each reported success after an independent
// watch saw the rollout complete. It also times a warm `dagger call validate`, which never reaches the
// cluster: what any call of this module costs on this engine (floor/peer). With SHIP_ENGINE_COLD=1 (the
// engine was started with empty state for this run), the first call of the run is the module's cold load,
// and its wall time is reported too. With SHIP_DEPLOY_BEFORE=<commit>, that commit of the project deploys
// too, alternately in the same run, and its ratio is reported as before-dagger-call/peer:
//
//	SHIP_DEPLOY_BEFORE=61cdc82 .ci/engine-test -run '^$' -bench DeployVsPeer -benchtime 5x
func BenchmarkDeployVsPeer(b *testing.B) {
	s := setup(b)
	ctx := context.Background()
	kubectl := func(stdin string, args ...string) {
		if _, err := s.cluster.KubectlStdin(ctx, stdin, args...); err != nil {
			b.Fatal(err)
		}
	}
	before := beforeSuite(b, s, os.Getenv("SHIP_DEPLOY_BEFORE"))
	// A first deploy (not timed) creates the Deployment the watches follow, and loads the module.
	mustSucceed(b, s.call(b, join([]string{"deploy", "--allow-unverified", "--overlay", "dev", "--image", s.registry.Host + "/fastapi-app@sha256:" + strings.Repeat("0", 64)}, s.target())...))
	if before != nil {
		mustSucceed(b, before.deploy(b, s.registry.Host+"/fastapi-app@sha256:"+strings.Repeat("1", 64)))
	}
	b.ResetTimer()
	var own, check, whole, floor, peer, lag, peerLag, beforeWhole stats
	deployBefore := func(i int) {
		if before == nil {
			return
		}
		img := fmt.Sprintf("%s/fastapi-app@sha256:%x", s.registry.Host, sha256.Sum256([]byte(fmt.Sprintf("before-%d-%d", time.Now().UnixNano(), i))))
		r := before.deploy(b, img)
		mustSucceed(b, r, "## ship deploy dev: succeeded")
		beforeWhole.add(r.took)
	}
	for i := range b.N {
		if i%2 == 1 {
			deployBefore(i)
		}
		img := fmt.Sprintf("%s/fastapi-app@sha256:%x", s.registry.Host, sha256.Sum256([]byte(fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))))
		w := s.watch(b)
		r := s.call(b, join([]string{"deploy", "--allow-unverified", "--overlay", "dev", "--image", img}, s.target())...)
		events := s.stopWatch(b, w, img)
		mustSucceed(b, r, "## ship deploy dev: succeeded")
		own.add(reportDuration(b, r.stdout))
		check.add(spanDuration(r.stderr, "check inputs"))
		whole.add(r.took)
		done, seen := kubetest.RolledOutAt(events, img)
		at, printed := lineAt(r.lines, "workload(s) rolled out in")
		if seen && printed {
			lag.add(at.Sub(done))
		} else {
			b.Logf("deploy %d: success lag not timed (rollout seen by the watch: %v, success line in the log: %v)", i, seen, printed)
		}
		if i%2 == 0 {
			deployBefore(i)
		}

		v := s.call(b, "validate", "--overlay", "dev")
		mustSucceed(b, v)
		floor.add(v.took)

		peerImg := fmt.Sprintf("%s/fastapi-app@sha256:%x", s.registry.Host, sha256.Sum256([]byte("peer-"+img)))
		manifests := renderDev(b, s.root, peerImg)
		w = s.watch(b)
		start := time.Now()
		kubectl(string(manifests), "apply", "--server-side", "--field-manager=ship", "--force-conflicts", "-f", "-")
		kubectl("", "rollout", "status", "deployment/fastapi-app", "-n", namespace, "--timeout=2m")
		reported := time.Now()
		peer.add(reported.Sub(start))
		if done, ok := kubetest.RolledOutAt(s.stopWatch(b, w, peerImg), peerImg); ok {
			peerLag.add(reported.Sub(done))
		} else {
			b.Logf("peer %d: success lag not timed (the watch did not see the rollout)", i)
		}
	}
	b.ReportMetric(whole.mean(), "dagger-call-ms")
	b.ReportMetric(own.mean(), "deploy-report-ms")
	b.ReportMetric(check.mean(), "connect-and-check-ms")
	b.ReportMetric(floor.mean(), "validate-call-ms")
	b.ReportMetric(peer.mean(), "peer-ms")
	b.ReportMetric(whole.mean()/peer.mean(), "dagger-call/peer")
	b.ReportMetric(floor.mean()/peer.mean(), "floor/peer")
	b.ReportMetric(own.mean()/peer.mean(), "report/peer")
	b.ReportMetric((own.mean()+check.mean())/peer.mean(), "(report+connect)/peer")
	if beforeWhole.n > 0 {
		b.ReportMetric(beforeWhole.mean(), "before-dagger-call-ms")
		b.ReportMetric(beforeWhole.mean()/peer.mean(), "before-dagger-call/peer")
	}
	if lag.n > 0 {
		b.ReportMetric(lag.mean(), "success-lag-ms")
	}
	if peerLag.n > 0 {
		b.ReportMetric(peerLag.mean(), "peer-success-lag-ms")
	}
	if cold, ok := coldFirstCall(); ok {
		b.ReportMetric(float64(cold.Milliseconds()), "cold-first-call-ms")
	}
}

// beforeDeployer deploys with an earlier commit of the project, exported from this repository.
type beforeDeployer struct {
	suite          *suite
	allowFlagKnown bool // the commit has the provenance gate, so an unattested image needs --allow-unverified
}

// beforeSuite exports rev (nil when rev is empty) for BenchmarkDeployVsPeer to deploy with, side by side.
func beforeSuite(b *testing.B, s *suite, rev string) *beforeDeployer {
	if rev == "" {
		return nil
	}
	other := s.atCommit(b, "SHIP_DEPLOY_BEFORE", rev)
	_, err := os.Stat(filepath.Join(other.root, "gate.go"))
	return &beforeDeployer{suite: other, allowFlagKnown: err == nil}
}

// atCommit is the suite with the project exported at rev (named by the variable env) as its module.
func (s *suite) atCommit(b *testing.B, env, rev string) *suite {
	dir := b.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", s.root, rev, dir)
	if out, err := archive.CombinedOutput(); err != nil {
		b.Fatalf("export %s=%s: %v\n%s", env, rev, err, out)
	}
	other := *s
	other.root = dir
	return &other
}

func (d *beforeDeployer) deploy(b *testing.B, img string) result {
	args := []string{"deploy", "--overlay", "dev", "--image", img}
	if d.allowFlagKnown {
		args = append(args, "--allow-unverified")
	}
	return d.suite.call(b, join(args, d.suite.target())...)
}

// stopWatch stops a watch once it has seen img rolled out (or after 5 s): the watch hears the last change a
// moment after the one who made it, and the events keep their own arrival times. A watch that ended early
// is a broken yardstick, not a slow deploy.
func (s *suite) stopWatch(t testing.TB, w *kubecluster.Watcher, img string) []kubecluster.Event {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && w.Err() == nil; time.Sleep(50 * time.Millisecond) {
		if _, ok := kubetest.RolledOutAt(w.Events(), img); ok {
			break
		}
	}
	events := w.Stop()
	if err := w.Err(); err != nil {
		t.Fatalf("the benchmark's watch broke: %v", err)
	}
	return events
}

type stats struct{ sum, n float64 }

func (s *stats) add(d time.Duration) { s.sum += float64(d.Milliseconds()); s.n++ }
func (s *stats) mean() float64 {
	if s.n == 0 {
		return 0
	}
	return s.sum / s.n
}

var (
	ansi       = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	durationRe = regexp.MustCompile(`\| Duration \| ([0-9.hms]+)[ |]`)
)

// reportDuration is the Duration row of a deploy report.
func reportDuration(t testing.TB, md string) time.Duration {
	m := durationRe.FindStringSubmatch(md)
	if m == nil {
		t.Fatalf("no Duration in the report:\n%s", md)
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// spanDuration is how long a named step took, from the --progress=plain log ("<name> DONE [1.7s]").
func spanDuration(log, name string) time.Duration {
	re := regexp.MustCompile(regexp.QuoteMeta(name) + ` DONE \[([0-9.hms]+)\]`)
	m := re.FindStringSubmatch(ansi.ReplaceAllString(log, ""))
	if m == nil {
		return 0
	}
	d, _ := time.ParseDuration(m[1])
	return d
}

// logSlowSpans logs the steps of a call that took a tenth of a second or more (SHIP_ENGINE_SPANS=1), to see where
// a call's time goes.
func logSlowSpans(t testing.TB, log string) {
	re := regexp.MustCompile(`^\s*(\d+)\s*:\s*(.*?) (DONE|CACHED|ERROR) \[([0-9.hms]+)\]`)
	for _, line := range strings.Split(ansi.ReplaceAllString(log, ""), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			if d, err := time.ParseDuration(m[4]); err == nil && d >= 100*time.Millisecond {
				t.Logf("  span %s %s: %s", m[1], strings.TrimSpace(strings.TrimLeft(m[2], "┆ ")), d)
			}
		}
	}
}

// logTimeline logs each line of a call's log with when it arrived (SHIP_ENGINE_TIMELINE=1): the spans'
// own durations are rounded to a tenth of a second, the arrival times show what overlaps what.
func logTimeline(t testing.TB, start time.Time, lines []timedLine) {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%6dms %s\n", l.at.Sub(start).Milliseconds(), ansi.ReplaceAllString(l.text, ""))
	}
	t.Logf("timeline:\n%s", b.String())
}

// lineAt is when a log line containing text first arrived.
func lineAt(lines []timedLine, text string) (time.Time, bool) {
	for _, l := range lines {
		if strings.Contains(l.text, text) {
			return l.at, true
		}
	}
	return time.Time{}, false
}

// renderDev renders the dev overlay for the peer, as the module would.
func renderDev(t testing.TB, root, img string) []byte {
	out, err := render.Render(os.DirFS(filepath.Join(root, "k8s")), render.Options{Overlay: "dev", Image: img, ImageName: "fastapi-app", AppName: "fastapi-app"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *suite) watch(t testing.TB) *kubecluster.Watcher {
	return s.cluster.Watch(t, namespace, "get", "deployment", "fastapi-app")
}
