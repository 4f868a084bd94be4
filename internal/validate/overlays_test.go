// The shipped overlays are what production runs: each must render and pass
// every check with RequireDigest, and the same check must refuse an image
// pinned only by tag (so the pass is not vacuous).
package validate

import (
	"os"
	"testing"

	"dagger/ship/internal/render"
)

const shippedImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-app@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

func renderShipped(tb testing.TB, overlay, image string) []byte {
	tb.Helper()
	out, err := render.Render(os.DirFS("../../k8s"), render.Options{Overlay: overlay, Image: image, ImageName: "fastapi-app", AppName: "fastapi-app"})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func shippedOverlays(tb testing.TB) []string {
	tb.Helper()
	overlays, err := render.Overlays(os.DirFS("../../k8s"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(overlays) != 3 {
		tb.Fatalf("overlays = %v, want dev, prod, staging", overlays)
	}
	return overlays
}

func TestShippedOverlaysValidate(t *testing.T) {
	for _, overlay := range shippedOverlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r, err := Manifests(renderShipped(t, overlay, shippedImage), Options{RequireDigest: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if len(r.Objects) != 3 {
				t.Errorf("checked %v, want Service, Deployment, PodDisruptionBudget", r.Objects)
			}

			tagged, err := Manifests(renderShipped(t, overlay, "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-app:1.2.3"), Options{RequireDigest: true})
			if err != nil {
				t.Fatal(err)
			}
			want := "Deployment fastapi-" + overlay + "/fastapi-app"
			if !hasFinding(tagged, want, "spec.template.spec.containers[app].image", "not pinned by digest") {
				t.Errorf("tag-only image passed RequireDigest:\n%s", tagged)
			}
		})
	}
}

// The base on its own still names the placeholder image; validation must
// say so rather than let it reach a cluster.
func TestUnrenderedBaseIsRefused(t *testing.T) {
	base, err := os.ReadFile("../../k8s/base/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Manifests(base, Options{ImageName: "fastapi-app"})
	if err != nil {
		t.Fatal(err)
	}
	if !hasFinding(r, "Deployment fastapi-app", "spec.template.spec.containers[app].image", "logical placeholder") {
		t.Errorf("placeholder image not reported:\n%s", r)
	}
}
