// Tests for the app's identity: the defaults found on both sample apps, each
// way detection can be ambiguous or come up empty, and the render that
// refuses a logical image name no container uses, with the message a user
// of another service reads.
package render

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func TestResolveIdentityDefaults(t *testing.T) {
	cases := []struct {
		name    string
		fsys    fs.FS
		overlay string
		want    Identity
	}{
		{"fastapi dev", os.DirFS("../../k8s"), "dev", Identity{"fastapi-app", "fastapi-app"}},
		{"fastapi prod", os.DirFS("../../k8s"), "prod", Identity{"fastapi-app", "fastapi-app"}},
		{"shop-api qa", os.DirFS(shopDir), "qa", Identity{"shop-api", "shop-api"}},
		{"shop-api live", os.DirFS(shopDir), "live", Identity{"shop-api", "shop-api"}},
		{"a pinned sidecar is not the app's image", tree(deployment("web", "web", "web", "busybox:1.36")), "dev", Identity{"web", "web"}},
		{"fastapi-app among several unpinned", tree(deployment("web", "web", "worker", "fastapi-app")), "dev", Identity{"fastapi-app", "web"}},
		{"registry images beside one logical", tree(deployment("web", "web", "shop", "a.example/proxy:1", "localhost/cache:2")), "dev", Identity{"shop", "web"}},
		{"one app over several workloads", tree(deployment("web", "shop", "shop"), deployment("worker", "shop", "shop"), deployment("unlabelled", "", "shop")), "dev", Identity{"shop", "shop"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveIdentity(c.fsys, c.overlay, Identity{})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("ResolveIdentity = %+v, want %+v", got, c.want)
			}
		})
	}
}

// Given names are kept and not derived: a manifest set whose defaults are
// ambiguous still works once the flags are passed.
func TestResolveIdentityKeepsGiven(t *testing.T) {
	ambiguous := tree(deployment("a", "a", "a"), deployment("b", "b", "b"))
	given := Identity{ImageName: "b", AppName: "shop"}
	if got, err := ResolveIdentity(ambiguous, "dev", given); err != nil || got != given {
		t.Errorf("ResolveIdentity(both given) = %+v, %v; want %+v", got, err, given)
	}
	oneApp := tree(deployment("a", "shop", "a", "b"))
	if got, err := ResolveIdentity(oneApp, "dev", Identity{ImageName: "b"}); err != nil || got != (Identity{"b", "shop"}) {
		t.Errorf("ResolveIdentity(image name given) = %+v, %v; want {b shop}", got, err)
	}
	if got, err := ResolveIdentity(ambiguous, "dev", Identity{AppName: "shop"}); err == nil {
		t.Errorf("ResolveIdentity(app name given, images ambiguous) = %+v, want an --image-name error", got)
	}
}

func TestResolveIdentityErrors(t *testing.T) {
	long := strings.Repeat("a", 64)
	cases := []struct {
		name  string
		fsys  fstest.MapFS
		given Identity
		flag  string
		want  string
	}{
		{"several logical images", tree(deployment("a", "a", "web"), deployment("b", "a", "worker")), Identity{}, "--image-name",
			`render: overlay "dev": several container images have no registry host (web, worker), so which one ship replaces with the pushed image is ambiguous; pass --image-name with one of them`},
		{"only registry images", tree(deployment("a", "a", "a.example/web:1", "127.0.0.1:5000/db@sha256:"+strings.Repeat("0", 64))), Identity{}, "--image-name",
			`render: overlay "dev": every container image has a registry host (127.0.0.1:5000/db@sha256:` + strings.Repeat("0", 64) + `, a.example/web:1), so none is a logical name for ship to replace; pass --image-name with the image to replace, or name your app's image without a registry host in the manifests (e.g. image: shop-api)`},
		{"no containers", tree(configMap), Identity{}, "--image-name",
			`render: overlay "dev": no container names an image, so there is no logical image name for ship to replace; pass --image-name <name>`},
		{"workloads name two apps", tree(deployment("a", "shop", "web"), deployment("b", "cart", "web")), Identity{}, "--app-name",
			`render: overlay "dev": the workloads name several apps in app.kubernetes.io/name ("cart" on Deployment team/b; "shop" on Deployment team/a), so the app name for ship's ownership label ship/app is ambiguous; pass --app-name <name>`},
		{"no app label", tree(deployment("a", "", "web"), configMap), Identity{}, "--app-name",
			`render: overlay "dev": no Deployment, StatefulSet or DaemonSet has the label app.kubernetes.io/name in its metadata.labels, so the app name for ship's ownership label ship/app is unknown; pass --app-name <name>, or add the label`},
		{"app name with spaces", tree(deployment("a", "a", "web")), Identity{AppName: "Shop API"}, "--app-name",
			`render: app name "Shop API" is not a valid Kubernetes label value: at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit; pass --app-name with a valid one`},
		{"app name too long", tree(deployment("a", "a", "web")), Identity{AppName: long}, "--app-name", `app name "` + long + `" is not a valid Kubernetes label value`},
		{"app name ending in a dash", tree(deployment("a", "a", "web")), Identity{AppName: "shop-"}, "--app-name", `app name "shop-" is not a valid Kubernetes label value`},
		{"image name with a tag", tree(deployment("a", "a", "web")), Identity{ImageName: "web:1"}, "--image-name",
			`render: image name "web:1" is not an image repository name without tag or digest; pass --image-name with the name alone, e.g. shop-api`},
		{"image name with a regexp", tree(deployment("a", "a", "web")), Identity{ImageName: "w.*"}, "--image-name", `image name "w.*" is not an image repository name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveIdentity(c.fsys, "dev", c.given)
			var ie *IdentityError
			if !errors.As(err, &ie) {
				t.Fatalf("ResolveIdentity = %+v, %v; want an *IdentityError", got, err)
			}
			if ie.Flag != c.flag || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error (flag %s)\n got: %s\nwant: %s (flag %s)", ie.Flag, err, c.want, c.flag)
			}
		})
	}
	if _, err := ResolveIdentity(os.DirFS("../../k8s"), "qa", Identity{}); !errors.As(err, new(*UnknownOverlayError)) {
		t.Errorf("unknown overlay: err = %v, want *UnknownOverlayError", err)
	}
}

// The case: another team's manifests rendered with our logical image
// name. Without the check the pushed image replaced nothing and validate
// blamed the manifests for an unpinned image.
func TestRenderRefusesAnImageNameNoContainerUses(t *testing.T) {
	cases := []struct {
		name string
		fsys fs.FS
		opts Options
		want []string // the message's parts: the images used, the name substituted, the flag
	}{
		{"shop-api with our default", os.DirFS(shopDir), fastapi("qa", shopRepo+"@"+testDigest), []string{
			`render: overlay "qa": `,
			`no container image is named "fastapi-app", the logical image name ship replaces with the pushed image`,
			`the manifests use shop-api`,
			`; pass --image-name shop-api`,
		}},
		{"only registry images", tree(deployment("web", "web", "a.example/web:1", "b.example/proxy:2")), shop("dev", shopRepo+":1"), []string{
			`no container image is named "shop-api"`,
			`the manifests use a.example/web:1, b.example/proxy:2`,
			`; pass --image-name with the name they give your app's image`,
		}},
		{"no containers", tree(configMap), shop("dev", shopRepo+":1"), []string{
			`no container image is named "shop-api"`,
			`the manifests name no container image at all`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Render(c.fsys, c.opts)
			var ine *ImageNameError
			if !errors.As(err, &ine) {
				t.Fatalf("Render = %v; want an *ImageNameError; output:\n%s", err, out)
			}
			for _, part := range c.want {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q lacks %q", err, part)
				}
			}
		})
	}
}

// checkImageReplaced expects kustomize to write exactly pinnedRef; that must
// hold whatever tag or digest the logical name carries in the manifests.
func TestRenderReplacesAPinnedLogicalName(t *testing.T) {
	old := "@sha256:" + strings.Repeat("1", 64)
	for _, in := range []string{"web:dev", "web" + old, "web:dev" + old} {
		for _, img := range []string{shopRepo + ":2", shopRepo + "@" + testDigest} {
			out, err := Render(tree(deployment("a", "a", in)), Options{Overlay: "dev", Image: img, ImageName: "web", AppName: "a"})
			if err != nil {
				t.Fatalf("%s replaced by %s: %v", in, img, err)
			}
			if !strings.Contains(string(out), "image: "+img+"\n") {
				t.Errorf("%s replaced by %s: output lacks it:\n%s", in, img, out)
			}
		}
	}
}

// Render checks the identity it is given, as ResolveIdentity does, so a
// caller that skips ResolveIdentity cannot render unlabelled objects.
func TestRenderChecksIdentity(t *testing.T) {
	for _, opts := range []Options{
		{Overlay: "qa", Image: shopRepo + ":1", AppName: "shop-api"},
		{Overlay: "qa", Image: shopRepo + ":1", ImageName: "shop-api"},
		{Overlay: "qa", Image: shopRepo + ":1", ImageName: "shop-api", AppName: "shop api"},
	} {
		if _, err := Render(os.DirFS(shopDir), opts); !errors.As(err, new(*IdentityError)) {
			t.Errorf("Render(%+v) error = %v, want *IdentityError", opts, err)
		}
	}
}

// tree is a manifests tree whose base holds docs and whose one overlay,
// dev, moves them into the namespace team.
func tree(docs ...string) fstest.MapFS {
	return fstest.MapFS{
		"base/kustomization.yaml":         {Data: []byte("resources: [objects.yaml]\n")},
		"base/objects.yaml":               {Data: []byte(strings.Join(docs, "---\n"))},
		"overlays/dev/kustomization.yaml": {Data: []byte("namespace: team\nresources: [../../base]\n")},
	}
}

// deployment is a Deployment named name whose containers run images, with
// app as its app.kubernetes.io/name label unless app is empty.
func deployment(name, app string, images ...string) string {
	labels := "{}"
	if app != "" {
		labels = fmt.Sprintf("{%s: %s}", NameLabel, app)
	}
	var containers strings.Builder
	for i, image := range images {
		fmt.Fprintf(&containers, "        - {name: c%d, image: %q}\n", i, image)
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  labels: %s
spec:
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers:
%s`, name, labels, name, name, containers.String())
}

const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"
