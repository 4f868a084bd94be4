// Unit tests for the pure parts of package kube: error classification and manifest parsing. They guard the
// messages users act on.
package kube

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestClassify(t *testing.T) {
	cm := schema.GroupResource{Resource: "configmaps"}
	forbidden := apierrors.NewForbidden(cm, "ship-deploy-lock", errors.New(`User "ci-deployer" cannot create resource "configmaps" in API group "" in the namespace "app"`))
	forbiddenApps := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "x",
		errors.New(`User "u" cannot patch resource "deployments" in API group "apps" in the namespace "n"`))
	nsMissing := apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "nope")
	proxyX509 := apierrors.NewGenericServerResponse(502, "get", cm, "", "Error while proxying request: tls: failed to verify certificate: x509: certificate signed by unknown authority", 0, true)
	cases := []struct {
		name    string
		err     error
		want    Reason
		wantMsg []string
	}{
		{"forbidden", forbidden, Forbidden, []string{`user "ci-deployer" cannot create configmaps in namespace "app"`, `"edit" ClusterRole`}},
		{"forbidden group", forbiddenApps, Forbidden, []string{"cannot patch deployments.apps"}},
		{"namespace missing", nsMissing, NamespaceNotFound, []string{"namespace nope does not exist: run bootstrap or create it"}},
		{"not found", apierrors.NewNotFound(cm, "ship-deploy-lock"), NotFound, nil},
		{"exists", apierrors.NewAlreadyExists(cm, "ship-deploy-lock"), AlreadyExists, nil},
		{"conflict", apierrors.NewConflict(cm, "l", errors.New("the object has been modified")), Conflict, nil},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "app", field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), -1, "must be greater than or equal to 0")}), Invalid, []string{"spec.replicas"}},
		{"overloaded", apierrors.NewTooManyRequests("slow down", 1), Unavailable, nil},
		{"refused", &url.Error{Op: "Get", URL: "http://kube-proxy/api", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}, Unavailable, []string{"unavailable"}},
		{"unauthorized", apierrors.NewUnauthorized("Unauthorized"), Unauthorized, []string{"rejected the credentials"}},
		{"untrusted through the proxy", proxyX509, Untrusted, []string{"certificate is not trusted", "x509: certificate signed by unknown authority"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := classify("apply", c.err)
			if !HasReason(err, c.want) {
				t.Fatalf("%v: reason is not %s", err, c.want)
			}
			for _, m := range c.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q lacks %q", err.Error(), m)
				}
			}
		})
	}
	if classify("x", nil) != nil {
		t.Fatal("classify(nil) is not nil")
	}
}

func TestParseManifestsAndNamespace(t *testing.T) {
	objs, err := ParseManifests([]byte(`
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
---
# only a comment
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Ref.String())
	}
	if want := []string{"namespace/app", "deployment.apps/web", "service/web"}; !slices.Equal(names, want) {
		t.Fatalf("refs = %v, want %v", names, want)
	}
	if ns, err := NamespaceOf(objs); err != nil || ns != "app" {
		t.Fatalf("NamespaceOf = %q, %v", ns, err)
	}
	objs[2].Namespace = "other"
	if _, err := NamespaceOf(objs); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Fatalf("disagreeing namespaces: err = %v", err)
	}
}

func TestParseManifestsRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":   "---\n",
		"no name": "apiVersion: v1\nkind: Service\nmetadata: {}\n",
		"yaml":    "apiVersion: v1\nkind: [\n",
	} {
		if _, err := ParseManifests([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
