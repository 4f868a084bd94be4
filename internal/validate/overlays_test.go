// The shipped overlays are what production runs: each must render and pass
// every check with RequireDigest, and the same check must refuse an image
// pinned only by tag (so the pass is not vacuous). The second sample app,
// shop-api, must pass the same way with its own identity.
package validate

import (
	"errors"
	"os"
	"strings"
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

const (
	shopDir   = "../../testdata/shop-api/k8s"
	shopImage = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

func renderShop(tb testing.TB, overlay, image string) []byte {
	tb.Helper()
	out, err := render.Render(os.DirFS(shopDir), render.Options{Overlay: overlay, Image: image, ImageName: "shop-api", AppName: "shop-api"})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestSampleAppValidates(t *testing.T) {
	for overlay, objects := range map[string]int{"qa": 3, "live": 4} {
		t.Run(overlay, func(t *testing.T) {
			r, err := Manifests(renderShop(t, overlay, shopImage), Options{RequireDigest: true, ImageName: "shop-api"})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != 0 || len(r.Objects) != objects {
				t.Fatalf("want %d objects and no findings at all, got:\n%s", objects, r)
			}
			tagged, err := Manifests(renderShop(t, overlay, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api:2.0.0"), Options{RequireDigest: true, ImageName: "shop-api"})
			if err != nil {
				t.Fatal(err)
			}
			if !hasFinding(tagged, "Deployment shop-"+overlay+"/shop-api", "spec.template.spec.containers[api].image", "not pinned by digest") {
				t.Errorf("tag-only image passed RequireDigest:\n%s", tagged)
			}
		})
	}
}

// The report: shop-api's manifests rendered with our logical name.
// The render that every validate and deploy starts with now refuses it and
// says what to pass, instead of validate calling the image unpinned.
func TestSampleAppWithOurImageNameIsRefused(t *testing.T) {
	_, err := render.Render(os.DirFS(shopDir), render.Options{Overlay: "qa", Image: shopImage, ImageName: "fastapi-app", AppName: "shop-api"})
	var ine *render.ImageNameError
	if !errors.As(err, &ine) {
		t.Fatalf("Render error = %v, want *render.ImageNameError", err)
	}
	for _, part := range []string{`no container image is named "fastapi-app"`, "the manifests use shop-api", "pass --image-name shop-api"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q lacks %q", err, part)
		}
	}
}

// Unrendered, the sample's base names its own placeholder; validate names
// the flag whichever logical name it was told.
func TestSampleBasePlaceholder(t *testing.T) {
	base, err := os.ReadFile(shopDir + "/base/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const field = "spec.template.spec.containers[api].image"
	cases := map[string]string{
		"shop-api":    `still the logical placeholder "shop-api"`,
		"fastapi-app": `if "shop-api" is your app's logical image name, pass --image-name shop-api so ship replaces it`,
	}
	for imageName, want := range cases {
		r, err := Manifests(base, Options{ImageName: imageName})
		if err != nil {
			t.Fatal(err)
		}
		if !hasFinding(r, "Deployment shop-api", field, want) {
			t.Errorf("ImageName %s: no finding %q:\n%s", imageName, want, r)
		}
	}
}
