// Tests render the real k8s/ tree against golden files and each failure
// mode against a small fixture, asserting the exact message a user sees.
package render

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

const (
	testDigest = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	testRepo   = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-app"
)

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
	for _, overlay := range []string{"dev", "staging", "prod"} {
		t.Run(overlay, func(t *testing.T) {
			got, err := Render(os.DirFS("../../k8s"), Options{Overlay: overlay, Image: testRepo + "@" + testDigest})
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", overlay+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render of %s differs from %s (run with -update if intended):\n%s", overlay, golden, got)
			}
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
			out, err := Render(os.DirFS("../../k8s"), Options{Overlay: overlay, Image: testRepo + ":1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeAll(t, out)
			if len(objs) != 3 {
				t.Fatalf("got %d objects, want Deployment, Service, PodDisruptionBudget", len(objs))
			}
			for _, o := range objs {
				md := o["metadata"].(map[string]any)
				labels, _ := md["labels"].(map[string]any)
				if labels[ManagedByLabel] != ManagedByValue || labels[OverlayLabel] != overlay {
					t.Errorf("%s %s: labels %v lack %s=%s and %s=%s", o["kind"], md["name"], labels, ManagedByLabel, ManagedByValue, OverlayLabel, overlay)
				}
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

func TestImagePinning(t *testing.T) {
	cases := []struct{ ref, want string }{
		{testRepo + ":1.2.3", testRepo + ":1.2.3"},
		{testRepo + "@" + testDigest, testRepo + "@" + testDigest},
		{testRepo + ":1.2.3@" + testDigest, testRepo + "@" + testDigest}, // the digest wins
		{"127.0.0.1:5000/team/web:v2", "127.0.0.1:5000/team/web:v2"},
	}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			out, err := Render(os.DirFS("testdata/minimal-good"), Options{Overlay: "dev", Image: c.ref})
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
	opts := Options{Overlay: "prod", Image: testRepo + "@" + testDigest}
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
	out, err := Render(os.DirFS("testdata/patch-target-prefix"), Options{Overlay: "dev", Image: "a.example/web:1"})
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
		{"unknown overlay", "../../k8s", Options{Overlay: "qa", Image: img}, new(*UnknownOverlayError),
			`render: unknown overlay "qa"; available overlays: dev, prod, staging`},
		{"overlay path escape", "../../k8s", Options{Overlay: "../base", Image: img}, new(*UnknownOverlayError),
			`render: unknown overlay "../base"; available overlays: dev, prod, staging`},
		{"missing overlay kustomization", "testdata/missing-kustomization", Options{Overlay: "dev", Image: img}, new(*MissingKustomizationError),
			`render: overlays/dev has no kustomization.yaml; add one listing its resources and patches`},
		{"missing base kustomization", "testdata/missing-base-kustomization", Options{Overlay: "dev", Image: img}, new(*MissingKustomizationError),
			`render: base has no kustomization.yaml; add one listing its resources and patches`},
		{"broken YAML in a resource", "testdata/broken-yaml", Options{Overlay: "dev", Image: img}, new(*YAMLError),
			`render: base/configmap.yaml:5 is not valid YAML: mapping values are not allowed in this context`},
		{"broken YAML in a patch", "testdata/broken-yaml-overlay", Options{Overlay: "dev", Image: img}, new(*YAMLError),
			`render: overlays/dev/patch.yaml:7 is not valid YAML: did not find expected node content`},
		{"patch matching no object", "testdata/patch-no-match", Options{Overlay: "dev", Image: img}, new(*PatchTargetError),
			`render: overlay "dev": patch overlays/dev/typo.yaml targets Deployment "wbe", which matches no object; fix the patch's kind/name or target`},
		{"patch target matching no object", "testdata/patch-target-no-match", Options{Overlay: "dev", Image: img}, new(*PatchTargetError),
			`render: overlay "dev": patch #2 (inline) in overlays/dev/kustomization.yaml targets {kind=Deployment, name=api}, which matches no object; fix the patch's kind/name or target`},
		{"missing resource file", "testdata/missing-resource", Options{Overlay: "dev", Image: img}, new(*BuildError),
			`render: overlay "dev": kustomize build failed: overlays/dev/ingress.yaml does not exist; fix the list that names it in overlays/dev/kustomization.yaml`},
		{"remote base", "testdata/remote-base", Options{Overlay: "dev", Image: img}, new(*BuildError),
			`render: overlay "dev": kustomize build failed: overlays/dev/kustomization.yaml names the remote resource "https://example.invalid/team/base?ref=v1"; renders are hermetic, so vendor it into the manifests tree`},
		{"remote host/path base", "testdata/remote-hostpath", Options{Overlay: "dev", Image: img}, new(*BuildError),
			`render: overlay "dev": kustomize build failed: overlays/dev/kustomization.yaml names the remote resource "example.invalid/team/base"; renders are hermetic, so vendor it into the manifests tree`},
		{"empty image", "testdata/minimal-good", Options{Overlay: "dev", Image: ""}, new(*ImageError),
			`render: image reference "" is empty; pass the pushed image, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-app@sha256:<digest>`},
		{"unpinned image", "testdata/minimal-good", Options{Overlay: "dev", Image: "a.example/web"}, new(*ImageError),
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
