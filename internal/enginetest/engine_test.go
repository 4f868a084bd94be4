//go:build engine

// The engine suite: the README's local tour run with the real `dagger` CLI against whatever engine it is
// configured for, with this project's own loopback control plane (internal/testenv/kubecluster) and a real
// registry. It asserts on outputs and exit codes, and that no secret (registry password, kubeconfig key) and
// no manifest content ever appears in the `--progress=plain` logs. CI has no engine, so this is not part of
// .ci/test: run it with .ci/engine-test. It does not care how the engine was made.
//
// Environment: SHIP_PIP_INDEX_URL, when set, is passed to with-pip-index for test and build (for engines
// that cannot reach PyPI).
package enginetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
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

	"dagger/ship/internal/testenv/kubecluster"
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
	os.Exit(code)
}

// setup starts the control plane and the registry once for the whole run.
func setup(t *testing.T) *suite {
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
	if _, err := c.Kubectl(context.Background(), "create", "namespace", namespace); err != nil {
		t.Fatal(err)
	}
	shared = s
	return s
}

// keepAlive is a testing.TB whose cleanups never run (the registry lives as long as the test binary).
type keepAlive struct{ testing.TB }

func (keepAlive) Cleanup(func()) {}

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
	r.stdout, r.stderr = stdout.String(), stderr.String()
	t.Logf("dagger call %s: %s", strings.Join(args, " "), r.took.Round(time.Millisecond))
	s.noSecrets(t, r)
	return r
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
	// Manifests travel only in request bodies: a field only the rendered Deployment has must not show.
	if strings.Contains(out, "readOnlyRootFilesystem") && !isRenderCall(r.args) {
		t.Errorf("dagger call %s printed the rendered manifests (readOnlyRootFilesystem found)", strings.Join(r.args, " "))
	}
}

func isRenderCall(args []string) bool {
	for _, a := range args {
		if a == "render" {
			return true
		}
	}
	return false
}

func (s *suite) target() []string {
	return []string{"--kubeconfig", "file:" + s.cluster.Kubeconfig, "--kube-api", "tcp://localhost:" + s.apiPort}
}

func (s *suite) withRegistry() []string {
	return []string{"with-registry", "--address", s.registry.Host, "--username", registryUser, "--password", "env:SHIP_REGISTRY_PASSWORD"}
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

var digestRef = regexp.MustCompile(`\S+:[\w.-]+@sha256:[0-9a-f]{64}`)

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
		mustSucceed(t, s.call(t, join([]string{"deploy", "--overlay", "dev", "--image", ref1, "--revision", "v1"}, s.target())...),
			"## ship deploy dev: succeeded", "| Release | revision v1, image "+ref1)
	})
	t.Run("status", func(t *testing.T) {
		mustSucceed(t, s.call(t, join([]string{"status", "--overlay", "dev"}, s.target())...), "revision 1", "release: revision v1")
	})
	t.Run("deploy a new revision through the whole chain", func(t *testing.T) {
		r := s.call(t, join(pip(), s.withRegistry(), []string{"deploy", "--overlay", "dev", "--repository", repo, "--revision", "v2"}, s.target())...)
		mustSucceed(t, r, "## ship deploy dev: succeeded", "| Release | revision v2")
		ref2 = digestRef.FindString(r.stdout)
		if !strings.HasPrefix(ref2, repo+":v2@sha256:") {
			t.Fatalf("no v2 digest in the report:\n%s", r)
		}
		plan := s.call(t, join([]string{"plan", "--overlay", "dev", "--image", ref2}, s.target())...)
		mustSucceed(t, plan, "no changes")
	})
	t.Run("redeploy the same revision reuses its image", func(t *testing.T) {
		r := s.call(t, join(pip(), s.withRegistry(), []string{"deploy", "--overlay", "dev", "--repository", repo, "--revision", "v2"}, s.target())...)
		mustSucceed(t, r, "## ship deploy dev: succeeded", ref2)
		if !strings.Contains(r.stderr, "already published") {
			t.Fatalf("v2 was rebuilt:\n%s", r)
		}
	})
	t.Run("a failing deploy is rolled back", func(t *testing.T) {
		broken := s.brokenManifests(t)
		r := s.call(t, join([]string{"--manifests", broken, "deploy", "--overlay", "dev", "--image", ref1, "--revision", "broken"}, s.target())...)
		if r.err == nil {
			t.Fatalf("the failing deploy succeeded:\n%s", r)
		}
		for _, want := range []string{"ImagePullBackOff", "rolled back deployment/fastapi-app to revision", ref2, "healthy again"} {
			if !strings.Contains(r.stderr, want) {
				t.Fatalf("the failure does not say %q:\n%s", want, r)
			}
		}
		mustSucceed(t, s.call(t, join([]string{"status", "--overlay", "dev"}, s.target())...), ref2)
	})
	t.Run("rollback", func(t *testing.T) {
		r := s.call(t, join([]string{"rollback", "--overlay", "dev"}, s.target())...)
		mustSucceed(t, r, "rolled back 1 deployment(s), healthy", ref1)
		mustSucceed(t, s.call(t, join([]string{"status", "--overlay", "dev"}, s.target())...), ref1, "release: revision v1")
	})
	t.Run("concurrent deploys take turns", func(t *testing.T) {
		var wg sync.WaitGroup
		rs := make([]result, 2)
		for i, ref := range []string{ref1, ref2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs[i] = s.call(t, join([]string{"deploy", "--overlay", "dev", "--image", ref, "--owner", fmt.Sprintf("concurrent-%d", i)}, s.target())...)
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
