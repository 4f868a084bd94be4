// Test fixtures shared by the integration tests: one real control plane per test binary, one namespace
// per test, manifests rendered from the repository's own k8s/ overlays by the real renderer.
package deploy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/render"
	"dagger/ship/internal/report"
	"dagger/ship/internal/testenv/kubecluster"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

type env struct {
	t  testing.TB
	c  *kubecluster.Cluster
	r  kube.ExecRunner
	ns string
}

// newEnv gives a test its own namespace on the shared cluster (created as admin, as bootstrap would).
func newEnv(t testing.TB) *env {
	t.Helper()
	c := kubecluster.Shared(t)
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	ns := fmt.Sprintf("t-%s-%04x", strings.Trim(name, "-"), rand.IntN(1<<16))
	e := &env{t: t, c: c, ns: ns, r: kube.ExecRunner{Kubectl: c.KubectlPath, Kubeconfig: c.Kubeconfig}}
	e.kubectl("create", "namespace", ns)
	t.Cleanup(func() { _, _ = c.Kubectl(context.Background(), "delete", "namespace", ns, "--wait=false") })
	return e
}

func (e *env) kubectl(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.c.Kubectl(ctx, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// image is a digest-pinned reference; kwok never pulls it.
func image(tag string) string {
	return fmt.Sprintf("127.0.0.1:5000/fastapi-app@sha256:%x", sha256.Sum256([]byte(tag)))
}

// manifests renders the dev overlay for image into the env's namespace; edits adjust the Deployment.
func (e *env) manifests(img string, edits ...func(dep map[string]any)) []byte {
	e.t.Helper()
	out, err := render.Render(os.DirFS("../../k8s"), render.Options{Overlay: "dev", Image: img, ImageName: "fastapi-app", AppName: "fastapi-app"})
	if err != nil {
		e.t.Fatalf("render: %v", err)
	}
	objs, err := kube.ParseManifests(out)
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range objs {
		if o.Body.GetNamespace() != "" {
			o.Body.SetNamespace(e.ns)
		}
		if o.Kind == "Deployment" {
			for _, edit := range edits {
				edit(o.Body.Object)
			}
		}
		doc, err := yaml.Marshal(o.Body.Object)
		if err != nil {
			e.t.Fatal(err)
		}
		b.WriteString("---\n" + string(doc))
	}
	return []byte(b.String())
}

// fault makes kwok fail the new pods in the given way (see kubecluster/kwok/stages.yaml).
func fault(mode string) func(map[string]any) {
	return func(dep map[string]any) {
		md := dep["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		ann["fault.ship.test/mode"] = mode
		md["annotations"] = ann
	}
}

// minReady keeps a rollout going for a while, so something can happen in the middle of it.
func minReady(seconds int) func(map[string]any) {
	return func(dep map[string]any) { dep["spec"].(map[string]any)["minReadySeconds"] = seconds }
}

func (e *env) options(img string, edits ...func(map[string]any)) Options {
	return Options{Overlay: "dev", Image: img, Owner: e.t.Name(), Manifests: e.manifests(img, edits...),
		Progress: testWriter{e.t}, LockWait: 2 * time.Minute}
}

func (e *env) run(o Options) (*report.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return Run(ctx, e.r, o)
}

func (e *env) status() *StatusResult {
	e.t.Helper()
	s, err := Status(context.Background(), e.r, e.ns, "dev")
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
