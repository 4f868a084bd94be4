// Test fixtures shared by the integration tests: one real control plane per test binary, reached through a
// kubectl proxy as the module reaches it, one namespace per test, manifests rendered from the repository's
// own k8s/ overlays (and the second sample app's) by the real renderer.
package deploy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/render"
	"dagger/ship/internal/report"
	"dagger/ship/internal/testenv/kubecluster"
	"dagger/ship/internal/testenv/kubetest"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

const app = "fastapi-app"

type env struct {
	*kubetest.Env
	t  testing.TB
	ns string
}

// newEnv gives a test its own namespace on the shared cluster (created as admin, as bootstrap would).
func newEnv(t testing.TB) *env {
	t.Helper()
	k := kubetest.New(t)
	return &env{Env: k, t: t, ns: k.Namespace}
}

func (e *env) kubectl(args ...string) string {
	e.t.Helper()
	return e.Kubectl(args...)
}

// image is a digest-pinned reference; kwok never pulls it.
func image(tag string) string {
	return fmt.Sprintf("127.0.0.1:5000/fastapi-app@sha256:%x", sha256.Sum256([]byte(tag)))
}

// manifests renders the dev overlay for img into the env's namespace; edits adjust the Deployment.
func (e *env) manifests(img string, edits ...func(dep map[string]any)) []byte {
	e.t.Helper()
	return e.render(os.DirFS("../../k8s"), render.Options{Overlay: "dev", Image: img, ImageName: app, AppName: app}, edits...)
}

// render renders an overlay of any manifests into the env's namespace.
func (e *env) render(manifests fs.FS, o render.Options, edits ...func(dep map[string]any)) []byte {
	e.t.Helper()
	out, err := render.Render(manifests, o)
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

// fault makes kwok fail the new pods in the given way (see controlplane/kwok/stages.yaml).
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

// setSpec sets one field of the Deployment's spec.
func setSpec(field string, value any) func(map[string]any) {
	return func(dep map[string]any) { dep["spec"].(map[string]any)[field] = value }
}

func (e *env) options(img string, edits ...func(map[string]any)) Options {
	return Options{App: app, Overlay: "dev", Image: img, Owner: e.t.Name(), Manifests: e.manifests(img, edits...),
		Progress: testWriter{e.t}, LockWait: 2 * time.Minute}
}

func (e *env) run(o Options) (*report.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return Run(ctx, e.Client, o)
}

func (e *env) owner() kube.Owner { return kube.Owner{App: app, Overlay: "dev"} }

func (e *env) status() *StatusResult {
	e.t.Helper()
	s, err := Status(context.Background(), e.Client, e.ns, e.owner())
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) rollback(to int64) (*report.Report, error) {
	return Rollback(context.Background(), e.Client, RollbackOptions{App: app, Overlay: "dev", Namespace: e.ns, ToRevision: to,
		LockWait: time.Minute, Progress: testWriter{e.t}})
}

// ownedConfigMap is a ConfigMap labelled as the given app's overlay deployed it.
func ownedConfigMap(ns, name, app, overlay string) string {
	return fmt.Sprintf("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {app.kubernetes.io/managed-by: ship, ship/app: %s, ship/overlay: %s}\ndata: {k: v}\n",
		name, ns, app, overlay)
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
