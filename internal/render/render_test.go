// Tests render the real k8s/ tree against golden files and each failure
// mode against a small fixture, asserting the exact message a user sees.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"dagger/ship/internal/testenv/golden"
)

const (
	testDigest = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	testRepo   = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-app"
	shopRepo   = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api"
	shopDir    = "../../testdata/shop-api/k8s"
)

// fastapi renders with our service's identity, which the fixtures share.
func fastapi(overlay, image string) Options {
	return Options{Overlay: overlay, Image: image, ImageName: "fastapi-app", AppName: "fastapi-app"}
}

// shop renders the second sample app with its own identity.
func shop(overlay, image string) Options {
	return Options{Overlay: overlay, Image: image, ImageName: "shop-api", AppName: "shop-api"}
}

func TestOverlays(t *testing.T) {
	got, err := Overlays(os.DirFS("../../k8s"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "dev,prod,staging" {
		t.Fatalf("Overlays = %v, want [dev prod staging]", got)
	}
}

func TestGolden(t *testing.T) {
	cases := []struct {
		dir, golden string
		opts        Options
	}{
		{"../../k8s", "dev.yaml", fastapi("dev", testRepo+"@"+testDigest)},
		{"../../k8s", "staging.yaml", fastapi("staging", testRepo+"@"+testDigest)},
		{"../../k8s", "prod.yaml", fastapi("prod", testRepo+"@"+testDigest)},
		{shopDir, "shop-api-qa.yaml", shop("qa", shopRepo+"@"+testDigest)},
		{shopDir, "shop-api-live.yaml", shop("live", shopRepo+"@"+testDigest)},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			got, err := Render(os.DirFS(c.dir), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", c.golden), got)
		})
	}
}

// TestRealOverlays checks what the golden files only show: per-environment
// differences and the ownership labels on every object.
func TestRealOverlays(t *testing.T) {
	want := map[string]struct {
		ns          string
		replicas    int
		serviceType string
		cpuLimit    string
		pdb         string
	}{
		"dev":     {"fastapi-dev", 1, "ClusterIP", "250m", "maxUnavailable=1"},
		"staging": {"fastapi-staging", 2, "LoadBalancer", "500m", "maxUnavailable=1"},
		"prod":    {"fastapi-prod", 3, "LoadBalancer", "1", "minAvailable=2"},
	}
	for overlay, w := range want {
		t.Run(overlay, func(t *testing.T) {
			out, err := Render(os.DirFS("../../k8s"), fastapi(overlay, testRepo+":1.2.3"))
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeAll(t, out)
			if len(objs) != 3 {
				t.Fatalf("got %d objects, want Deployment, Service, PodDisruptionBudget", len(objs))
			}
			for _, o := range objs {
				md := o["metadata"].(map[string]any)
				checkOwnership(t, o, overlay, "fastapi-app")
				if md["namespace"] != w.ns {
					t.Errorf("%s namespace = %v, want %s", o["kind"], md["namespace"], w.ns)
				}
				if o["kind"] == "Namespace" {
					t.Errorf("overlays must not contain Namespace objects")
				}
			}
			dep := find(t, objs, "Deployment")
			spec := dep["spec"].(map[string]any)
			if int(spec["replicas"].(float64)) != w.replicas {
				t.Errorf("replicas = %v, want %d", spec["replicas"], w.replicas)
			}
			sel := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
			if len(sel) != 2 || sel["app.kubernetes.io/name"] == nil || sel["app.kubernetes.io/instance"] == nil {
				t.Errorf("selector = %v, want only name+instance", sel)
			}
			c := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
			if c["image"] != testRepo+":1.2.3" {
				t.Errorf("image = %v, want %s", c["image"], testRepo+":1.2.3")
			}
			if lim := c["resources"].(map[string]any)["limits"].(map[string]any)["cpu"]; lim != w.cpuLimit {
				t.Errorf("cpu limit = %v, want %s", lim, w.cpuLimit)
			}
			if typ := find(t, objs, "Service")["spec"].(map[string]any)["type"]; typ != w.serviceType {
				t.Errorf("Service type = %v, want %s", typ, w.serviceType)
			}
			pdb := find(t, objs, "PodDisruptionBudget")["spec"].(map[string]any)
			k, v, _ := strings.Cut(w.pdb, "=")
			if len(pdb) != 2 || fmt.Sprint(pdb[k]) != v {
				t.Errorf("PDB spec = %v, want only %s and selector", pdb, w.pdb)
			}
		})
	}
}

// TestShopOverlays checks the second sample app keeps its own shape: its
// namespaces, container, port, health paths and a PDB only in live.
func TestShopOverlays(t *testing.T) {
	if got, err := Overlays(os.DirFS(shopDir)); err != nil || strings.Join(got, ",") != "live,qa" {
		t.Fatalf("Overlays = %v, %v; want [live qa]", got, err)
	}
	want := map[string]struct {
		ns       string
		replicas int
		objects  int // ConfigMap, Service, Deployment, and in live the PodDisruptionBudget
	}{
		"qa":   {"shop-qa", 1, 3},
		"live": {"shop-live", 3, 4},
	}
	for overlay, w := range want {
		t.Run(overlay, func(t *testing.T) {
			out, err := Render(os.DirFS(shopDir), shop(overlay, shopRepo+":2.0.0"))
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeAll(t, out)
			if len(objs) != w.objects {
				t.Fatalf("got %d objects, want %d", len(objs), w.objects)
			}
			for _, o := range objs {
				checkOwnership(t, o, overlay, "shop-api")
				if ns := o["metadata"].(map[string]any)["namespace"]; ns != w.ns {
					t.Errorf("%s namespace = %v, want %s", o["kind"], ns, w.ns)
				}
			}
			spec := find(t, objs, "Deployment")["spec"].(map[string]any)
			if int(spec["replicas"].(float64)) != w.replicas {
				t.Errorf("replicas = %v, want %d", spec["replicas"], w.replicas)
			}
			c := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
			got := fmt.Sprint(c["name"], " ", c["image"], " ", c["ports"].([]any)[0].(map[string]any)["containerPort"], " ",
				c["livenessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"], " ",
				c["readinessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"])
			if want := "api " + shopRepo + ":2.0.0 9090 /live /ready"; got != want {
				t.Errorf("container = %q, want %q", got, want)
			}
		})
	}
}

func TestImagePinning(t *testing.T) {
	cases := []struct{ ref, want string }{
		{testRepo + ":1.2.3", testRepo + ":1.2.3"},
		{testRepo + "@" + testDigest, testRepo + "@" + testDigest},
		{testRepo + ":1.2.3@" + testDigest, testRepo + "@" + testDigest}, // the digest wins
		{"127.0.0.1:5000/team/web:v2", "127.0.0.1:5000/team/web:v2"},
	}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			out, err := Render(os.DirFS("testdata/minimal-good"), fastapi("dev", c.ref))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), "image: "+c.want+"\n") {
				t.Errorf("rendered output lacks image %s:\n%s", c.want, out)
			}
			// Set by kustomize, not by text substitution: data is untouched.
			if !strings.Contains(string(out), "note: image fastapi-app is set at render time") {
				t.Errorf("ConfigMap data was rewritten:\n%s", out)
			}
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	opts := fastapi("prod", testRepo+"@"+testDigest)
	a, err := Render(os.DirFS("../../k8s"), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(os.DirFS("../../k8s"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two renders of the same input differ")
	}
}

// A patch whose target names the pre-prefix name and original namespace
// does apply in kustomize; the no-match check must not reject it.
func TestPatchTargetBeforePrefixIsFine(t *testing.T) {
	out, err := Render(os.DirFS("testdata/patch-target-prefix"), fastapi("dev", "a.example/web:1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "name: dev-web\n") || !strings.Contains(string(out), "replicas: 1\n") {
		t.Errorf("prefixed, patched Deployment missing:\n%s", out)
	}
}

func TestRenderErrors(t *testing.T) {
	const img = "a.example/web:1"
	cases := []struct {
		name    string
		fixture string
		opts    Options
		target  any // pointer to the expected error type
		want    string
	}{
		{"unknown overlay", "../../k8s", fastapi("qa", img), new(*UnknownOverlayError),
			`render: unknown overlay "qa"; available overlays: dev, prod, staging`},
		{"overlay path escape", "../../k8s", fastapi("../base", img), new(*UnknownOverlayError),
			`render: unknown overlay "../base"; available overlays: dev, prod, staging`},
		{"missing overlay kustomization", "testdata/missing-kustomization", fastapi("dev", img), new(*MissingKustomizationError),
			`render: overlays/dev has no kustomization.yaml; add one listing its resources and patches`},
		{"missing base kustomization", "testdata/missing-base-kustomization", fastapi("dev", img), new(*MissingKustomizationError),
			`render: base has no kustomization.yaml; add one listing its resources and patches`},
		{"broken YAML in a resource", "testdata/broken-yaml", fastapi("dev", img), new(*YAMLError),
			`render: base/configmap.yaml:5 is not valid YAML: mapping values are not allowed in this context`},
		{"broken YAML in a patch", "testdata/broken-yaml-overlay", fastapi("dev", img), new(*YAMLError),
			`render: overlays/dev/patch.yaml:7 is not valid YAML: did not find expected node content`},
		{"patch matching no object", "testdata/patch-no-match", fastapi("dev", img), new(*PatchTargetError),
			`render: overlay "dev": patch overlays/dev/typo.yaml targets Deployment "wbe", which matches no object; fix the patch's kind/name or target`},
		{"patch target matching no object", "testdata/patch-target-no-match", fastapi("dev", img), new(*PatchTargetError),
			`render: overlay "dev": patch #2 (inline) in overlays/dev/kustomization.yaml targets {kind=Deployment, name=api}, which matches no object; fix the patch's kind/name or target`},
		{"missing resource file", "testdata/missing-resource", fastapi("dev", img), new(*BuildError),
			`render: overlay "dev": kustomize build failed: overlays/dev/ingress.yaml does not exist; fix the list that names it in overlays/dev/kustomization.yaml`},
		{"remote base", "testdata/remote-base", fastapi("dev", img), new(*BuildError),
			`render: overlay "dev": kustomize build failed: overlays/dev/kustomization.yaml names the remote resource "https://example.invalid/team/base?ref=v1"; renders are hermetic, so vendor it into the manifests tree`},
		{"remote host/path base", "testdata/remote-hostpath", fastapi("dev", img), new(*BuildError),
			`render: overlay "dev": kustomize build failed: overlays/dev/kustomization.yaml names the remote resource "example.invalid/team/base"; renders are hermetic, so vendor it into the manifests tree`},
		{"empty image", "testdata/minimal-good", fastapi("dev", ""), new(*ImageError),
			`render: image reference "" is empty; pass the pushed image, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-app@sha256:<digest>`},
		{"unpinned image", "testdata/minimal-good", fastapi("dev", "a.example/web"), new(*ImageError),
			`render: image reference "a.example/web" has neither a tag nor a digest; pin it, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-app@sha256:<digest>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Render(os.DirFS(c.fixture), c.opts)
			if err == nil {
				t.Fatalf("Render succeeded, want error %q; output:\n%s", c.want, out)
			}
			if !errors.As(err, c.target) {
				t.Errorf("error %T (%v) is not a %T", err, err, c.target)
			}
			if err.Error() != c.want {
				t.Errorf("error message\n got: %s\nwant: %s", err, c.want)
			}
		})
	}
}

// checkOwnership asserts the three labels a deploy prunes by, and that none
// leaked into the selector (selectors are immutable).
func checkOwnership(t *testing.T, o map[string]any, overlay, app string) {
	t.Helper()
	md := o["metadata"].(map[string]any)
	labels, _ := md["labels"].(map[string]any)
	if labels[ManagedByLabel] != ManagedByValue || labels[OverlayLabel] != overlay || labels[AppLabel] != app {
		t.Errorf("%s %s: labels %v lack %s=%s, %s=%s and %s=%s", o["kind"], md["name"], labels,
			ManagedByLabel, ManagedByValue, OverlayLabel, overlay, AppLabel, app)
	}
	spec, _ := o["spec"].(map[string]any)
	sel, _ := spec["selector"].(map[string]any) // a Service's labels, or a workload's matchLabels
	match, _ := sel["matchLabels"].(map[string]any)
	if sel[AppLabel] != nil || match[AppLabel] != nil {
		t.Errorf("%s %s: selector %v carries %s", o["kind"], md["name"], sel, AppLabel)
	}
}

func decodeAll(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML does not parse: %v", err)
		}
		objs = append(objs, o)
	}
	return objs
}

func find(t *testing.T, objs []map[string]any, kind string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o["kind"] == kind {
			return o
		}
	}
	t.Fatalf("no %s rendered", kind)
	return nil
}
