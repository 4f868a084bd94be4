// The policy file convention and the service account as a rendering says it.
package podidentity

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadPolicy(t *testing.T) {
	fsys := fstest.MapFS{"overlays/prod/aws-policy.json": {Data: []byte(`{"Version":"2012-10-17"}`)}, "overlays/staging/kustomization.yaml": {}}
	doc, ok, err := ReadPolicy(fsys, "prod")
	if err != nil || !ok || string(doc) != `{"Version":"2012-10-17"}` {
		t.Errorf("prod: %q %v %v", doc, ok, err)
	}
	if _, ok, err := ReadPolicy(fsys, "staging"); ok || err != nil {
		t.Errorf("staging has no policy: ok=%v err=%v", ok, err)
	}
}

const sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: shop-api, namespace: shop}\n"

func deployment(name, spec string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + ", namespace: shop}\nspec:\n  template:\n    spec:\n" + spec + "      containers: [{name: app, image: x}]\n"
}

func TestInspect(t *testing.T) {
	for _, tc := range []struct {
		name, manifests string
		want            string
		defines         bool
		err             string
	}{
		{"named", sa + "---\n" + deployment("api", "      serviceAccountName: shop-api\n"), "shop-api", true, ""},
		{"deprecated field", deployment("api", "      serviceAccount: shop-api\n"), "shop-api", false, ""},
		{"unset", deployment("api", ""), "", false, ""},
		{"two accounts", deployment("api", "      serviceAccountName: shop-api\n") + "---\n" + deployment("worker", ""), "", false,
			"different service accounts (default: worker; shop-api: api)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Inspect([]byte(tc.manifests))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || w.ServiceAccount != tc.want || w.Defines("shop-api") != tc.defines {
				t.Errorf("Inspect = %+v, %v", w, err)
			}
		})
	}
}
