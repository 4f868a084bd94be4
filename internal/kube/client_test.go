// The client against a real kube-apiserver, through a local kubectl proxy started with the module's own
// arguments: the requests a deploy makes (dry-run and real apply, reads, optimistic deletes, access
// reviews), a watch that hears changes, and the errors users act on (an untrusted certificate is named as
// such, an unknown kind says which).
package kube_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/testenv/kubecluster"
	"dagger/ship/internal/testenv/kubetest"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

func configMap(ns, name, value string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"team": "a"}},
		"data":     map[string]any{"k": value}}}
}

func TestApplyReadDelete(t *testing.T) {
	e := kubetest.New(t)
	ctx := context.Background()
	c := e.Client
	if _, err := c.Apply(ctx, configMap(e.Namespace, "cm", "1"), kube.ApplyOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, kube.ConfigMapKind, e.Namespace, "cm"); !kube.HasReason(err, kube.NotFound) {
		t.Fatalf("a dry-run persisted the object: %v", err)
	}
	created, err := c.Apply(ctx, configMap(e.Namespace, "cm", "1"), kube.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mf := created.GetManagedFields(); len(mf) != 1 || mf[0].Manager != kube.FieldManager || mf[0].Operation != "Apply" {
		t.Fatalf("managed fields: %+v", mf)
	}
	list, err := c.List(ctx, kube.ConfigMapKind, e.Namespace, "team=a")
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list by label: %v, %v", list, err)
	}
	updated, err := c.Apply(ctx, configMap(e.Namespace, "cm", "2"), kube.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := &kube.Precondition{UID: string(created.GetUID()), ResourceVersion: created.GetResourceVersion()}
	if err := c.Delete(ctx, kube.ConfigMapKind, e.Namespace, "cm", stale); !kube.HasReason(err, kube.Conflict) {
		t.Fatalf("delete with a stale resourceVersion: %v", err)
	}
	current := &kube.Precondition{UID: string(updated.GetUID()), ResourceVersion: updated.GetResourceVersion()}
	if err := c.Delete(ctx, kube.ConfigMapKind, e.Namespace, "cm", current); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, kube.ConfigMapKind, e.Namespace, "cm"); !kube.HasReason(err, kube.NotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestWatchHearsChanges(t *testing.T) {
	e := kubetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := e.Client.Watch(ctx, e.Namespace, kube.ConfigMapKind)
	seen := func(name string) {
		for {
			snap, _, err := w.Next(ctx, time.Second)
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			if snap == nil {
				continue
			}
			for _, cm := range snap.ConfigMaps {
				if cm.Name == name {
					return
				}
			}
		}
	}
	e.Kubectl("create", "configmap", "first", "-n", e.Namespace)
	seen("first")
	e.Kubectl("create", "configmap", "second", "-n", e.Namespace)
	seen("second")
}

func TestAccessReviewAndForbidden(t *testing.T) {
	e := kubetest.New(t)
	ctx := context.Background()
	if ok, err := e.Client.CanI(ctx, "patch", kube.DeploymentKind, e.Namespace); err != nil || !ok {
		t.Fatalf("admin may not patch deployments? %v %v", ok, err)
	}
	user := e.UserClient("nobody")
	if ok, err := user.CanI(ctx, "patch", kube.DeploymentKind, e.Namespace); err != nil || ok {
		t.Fatalf("a user without bindings may patch deployments? %v %v", ok, err)
	}
	_, err := user.Apply(ctx, configMap(e.Namespace, "cm", "1"), kube.ApplyOptions{})
	if !kube.HasReason(err, kube.Forbidden) || !strings.Contains(err.Error(), `user "nobody" cannot patch configmaps in namespace "`+e.Namespace+`"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownKindSaysWhich(t *testing.T) {
	e := kubetest.New(t)
	_, err := e.Client.Get(context.Background(), schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, e.Namespace, "w")
	if !kube.HasReason(err, kube.Invalid) || !strings.Contains(err.Error(), `kind Widget of group "example.com"`) {
		t.Fatalf("err = %v", err)
	}
}

// A kubeconfig whose CA did not sign the server's certificate: the proxy cannot verify the server, and the
// error says so instead of "the API server is unavailable".
func TestUntrustedServerCertificate(t *testing.T) {
	e := kubetest.New(t)
	data, err := os.ReadFile(e.Cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA := base64.StdEncoding.EncodeToString(selfSignedCA(t))
	cfg := regexp.MustCompile(`certificate-authority-data: \S+`).ReplaceAllString(string(data), "certificate-authority-data: "+wrongCA)
	path := filepath.Join(t.TempDir(), "wrong-ca.kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = e.ClientAs(path).Get(context.Background(), kube.ConfigMapKind, e.Namespace, "x")
	if !kube.HasReason(err, kube.Untrusted) || !strings.Contains(err.Error(), "certificate is not trusted") || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("err = %v", err)
	}
}

func selfSignedCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not-the-cluster-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A missing Namespace read as itself is NotFound; an object created in a missing namespace is told which
// namespace is missing.
func TestMissingNamespaceReasons(t *testing.T) {
	e := kubetest.New(t)
	ctx := context.Background()
	ns := schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	if _, err := e.Client.Get(ctx, ns, "", e.Namespace+"-absent"); !kube.HasReason(err, kube.NotFound) {
		t.Fatalf("reading a missing Namespace: %v", err)
	}
	_, err := e.Client.Create(ctx, configMap(e.Namespace+"-absent", "cm", "1"), false)
	if !kube.HasReason(err, kube.NamespaceNotFound) || !strings.Contains(err.Error(), "namespace "+e.Namespace+"-absent does not exist") {
		t.Fatalf("creating in a missing namespace: %v", err)
	}
}

// A kind the cluster learns after the client first asked (a CRD installed mid-deploy) is found on the next
// request, and a kind asked for without a version resolves to its group's preferred version.
func TestDiscoveryFollowsNewKindsAndPreferredVersions(t *testing.T) {
	e := kubetest.New(t)
	ctx := context.Background()
	group := strings.ReplaceAll(e.Namespace, "-", "") + ".example.com"
	gvk := schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Widget"}
	if _, err := e.Client.Get(ctx, gvk, e.Namespace, "w"); !kube.HasReason(err, kube.Invalid) {
		t.Fatalf("before the CRD: err = %v", err)
	}
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.` + group + `}
spec:
  group: ` + group + `
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
`
	e.KubectlStdin(crd, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = e.Cluster.Kubectl(context.Background(), "delete", "crd", "widgets."+group, "--wait=false")
	})
	e.Kubectl("wait", "--for=condition=Established", "crd/widgets."+group, "--timeout=60s")
	w := &unstructured.Unstructured{Object: map[string]any{"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": e.Namespace}}}
	if _, err := e.Client.Apply(ctx, w, kube.ApplyOptions{}); err != nil {
		t.Fatalf("after the CRD: %v", err)
	}
	got, err := e.Client.Get(ctx, schema.GroupVersionKind{Group: group, Kind: "Widget"}, e.Namespace, "w")
	if err != nil || got.GetAPIVersion() != group+"/v1" {
		t.Fatalf("read without a version: %v, %v", got, err)
	}
	if _, err := e.Client.Get(ctx, schema.GroupVersionKind{Group: "apps", Kind: "Deployment"}, e.Namespace, "absent"); !kube.HasReason(err, kube.NotFound) {
		t.Fatalf("a missing Deployment read without a version: %v", err)
	}
}
