// The convention end to end on the sample service, with the real kustomize
// renderer: an overlay that adds a ServiceAccount and aws-policy.json yields
// the runtime role for that account; an overlay without the file yields none,
// and its pods run under the default account.
package podidentity

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"dagger/ship/internal/policy"
	"dagger/ship/internal/render"
)

func sampleFS(t *testing.T) fstest.MapFS {
	t.Helper()
	root := os.DirFS("../../testdata/shop-api/k8s")
	out := fstest.MapFS{}
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(root, p)
		out[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	k := out["overlays/live/kustomization.yaml"]
	edited := strings.Replace(string(k.Data), "  - pdb.yaml\n", "  - pdb.yaml\n  - serviceaccount.yaml\n", 1)
	edited = strings.Replace(edited, "  - path: resources.yaml", "  - path: resources.yaml\n  - path: serviceaccount-patch.yaml", 1)
	if edited == string(k.Data) {
		t.Fatal("the sample's live overlay changed: update this test's edit")
	}
	out["overlays/live/kustomization.yaml"] = &fstest.MapFile{Data: []byte(edited)}
	out["overlays/live/serviceaccount.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shop-api\n")}
	out["overlays/live/serviceaccount-patch.yaml"] = &fstest.MapFile{Data: []byte(
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop-api\nspec:\n  template:\n    spec:\n      serviceAccountName: shop-api\n")}
	out["overlays/live/aws-policy.json"] = &fstest.MapFile{Data: []byte(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:eu-west-1:123456789012:orders"}]}`)}
	return out
}

func renderSample(t *testing.T, fsys fs.FS, overlay string) Workload {
	t.Helper()
	out, err := render.Render(fsys, render.Options{Overlay: overlay, ImageName: "shop-api", AppName: "shop-api",
		Image: "registry.example/shop-api@sha256:" + strings.Repeat("a", 64)})
	if err != nil {
		t.Fatal(err)
	}
	w, err := Inspect(out)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestSampleServiceConvention(t *testing.T) {
	fsys := sampleFS(t)
	live := renderSample(t, fsys, "live")
	doc, ok, err := ReadPolicy(fsys, "live")
	if err != nil || !ok || live.ServiceAccount != "shop-api" || !live.Defines("shop-api") {
		t.Fatalf("live: policy %v %v, workload %+v", ok, err, live)
	}
	in := policy.Inputs{Account: "123456789012", Region: "eu-west-1", GitHubOwner: "acme", GitHubRepo: "shop", RepoID: "123456789",
		ECRRepository: "shop-api", Cluster: "prod", Environments: []policy.Environment{
			{Name: "qa", Namespace: "shop-qa"},
			{Name: "live", Namespace: "shop-live", Runtime: &policy.RuntimeAccess{ServiceAccount: live.ServiceAccount, Policy: doc, Source: PolicyPath("live")}}}}
	b, err := policy.Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := b.Role("ship-shop-live-runtime")
	if !ok || r.PodIdentity == nil || r.PodIdentity.Namespace != "shop-live" || r.PodIdentity.ServiceAccount != "shop-api" {
		t.Fatalf("runtime role = %+v", r)
	}
	if _, ok := b.Role("ship-shop-qa-runtime"); ok {
		t.Error("qa has no aws-policy.json but got a runtime role")
	}
	qa := renderSample(t, fsys, "qa")
	if _, ok, _ := ReadPolicy(fsys, "qa"); ok || qa.ServiceAccount != "" {
		t.Errorf("qa: policy %v, workload %+v", ok, qa)
	}
}
