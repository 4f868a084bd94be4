// The budget: in-process render+validate of one overlay must cost
// at most 1/5 of `kubectl kustomize` on it. These benchmarks measure both
// and report the ratio; they assert nothing about time.
package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"dagger/ship/internal/render"
)

// kubectlPath finds the project's kubectl v1.34.2 by the tools-cache rule
// (never /usr/bin/kubectl, a gcloud dispatcher on some machines).
func kubectlPath() string {
	if p := os.Getenv("SHIP_KUBECTL"); p != "" {
		return p
	}
	dir := os.Getenv("SHIP_TOOLS_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".cache", "ship", "tools")
	}
	return filepath.Join(dir, "kubernetes-v1.34.2", "kubectl")
}

func requireKubectl(b *testing.B) string {
	p := kubectlPath()
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		b.Skipf("no kubectl binary at %s (set SHIP_KUBECTL or build the tools cache)", p)
	}
	return p
}

func renderValidate(b *testing.B, overlay string) {
	out, err := render.Render(os.DirFS("../../k8s"), render.Options{Overlay: overlay, Image: shippedImage, ImageName: "fastapi-app", AppName: "fastapi-app"})
	if err != nil {
		b.Fatal(err)
	}
	r, err := Manifests(out, Options{RequireDigest: true})
	if err != nil || !r.OK() {
		b.Fatalf("validate: %v %v", err, r)
	}
}

func kubectlKustomize(b *testing.B, kubectl, overlay string) {
	out, err := exec.Command(kubectl, "kustomize", filepath.Join("../../k8s/overlays", overlay)).CombinedOutput()
	if err != nil {
		b.Fatalf("kubectl kustomize %s: %v\n%s", overlay, err, out)
	}
}

func BenchmarkRenderValidate(b *testing.B) {
	for _, overlay := range shippedOverlays(b) {
		b.Run(overlay, func(b *testing.B) {
			for b.Loop() {
				renderValidate(b, overlay)
			}
		})
	}
}

func BenchmarkKubectlKustomize(b *testing.B) {
	kubectl := requireKubectl(b)
	for _, overlay := range shippedOverlays(b) {
		b.Run(overlay, func(b *testing.B) {
			for b.Loop() {
				kubectlKustomize(b, kubectl, overlay)
			}
		})
	}
}

// BenchmarkRenderVsKubectl times both on every overlay in the same process,
// interleaved so machine load affects both alike, and reports the ratio.
func BenchmarkRenderVsKubectl(b *testing.B) {
	kubectl := requireKubectl(b)
	overlays := shippedOverlays(b)
	var inProcess, external time.Duration
	for b.Loop() {
		for _, overlay := range overlays {
			start := time.Now()
			renderValidate(b, overlay)
			inProcess += time.Since(start)
			start = time.Now()
			kubectlKustomize(b, kubectl, overlay)
			external += time.Since(start)
		}
	}
	b.ReportMetric(float64(external)/float64(inProcess), "x-faster")
	b.ReportMetric(float64(inProcess.Nanoseconds())/float64(b.N*len(overlays)), "inprocess-ns/overlay")
	b.ReportMetric(float64(external.Nanoseconds())/float64(b.N*len(overlays)), "kubectl-ns/overlay")
}
