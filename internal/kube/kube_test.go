// Unit tests for the pure parts of package kube: error classification, manifest parsing and the step
// contract (manifests on stdin, never a path). They guard the messages users act on.
package kube

import (
	"slices"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		name, stderr string
		want         Reason
		wantMsg      []string
	}{
		{"forbidden", `Error from server (Forbidden): error when creating "STDIN": configmaps is forbidden: User "ci-deployer" cannot create resource "configmaps" in API group "" in the namespace "app"`,
			Forbidden, []string{`user "ci-deployer" cannot create configmaps in namespace "app"`, `"edit" ClusterRole`}},
		{"forbidden group", `Error from server (Forbidden): deployments.apps "x" is forbidden: User "u" cannot patch resource "deployments" in API group "apps" in the namespace "n"`,
			Forbidden, []string{"cannot patch deployments.apps"}},
		{"namespace missing", `Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found`,
			NamespaceNotFound, []string{"namespace nope does not exist: run bootstrap or create it"}},
		{"not found", `Error from server (NotFound): configmaps "ship-deploy-lock" not found`, NotFound, nil},
		{"exists", `Error from server (AlreadyExists): error when creating "STDIN": configmaps "ship-deploy-lock" already exists`, AlreadyExists, nil},
		{"conflict", `Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "l": the object has been modified; please apply your changes to the latest version and try again`, Conflict, nil},
		{"invalid", `The Deployment "app" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`, Invalid, []string{"spec.replicas"}},
		{"down", `The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?`, Unavailable, nil},
		{"refused", `Unable to connect to the server: dial tcp 127.0.0.1:6443: connect: connection refused`, Unavailable, nil},
		{"unauthorized", `error: You must be logged in to the server (Unauthorized)`, Unauthorized, []string{"rejected the credentials"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := Classify(Step{Name: "apply"}, Result{Stderr: []byte(c.stderr), ExitCode: 1})
			if e.Reason != c.want {
				t.Fatalf("reason = %s, want %s", e.Reason, c.want)
			}
			for _, m := range c.wantMsg {
				if !strings.Contains(e.Error(), m) {
					t.Errorf("message %q lacks %q", e.Error(), m)
				}
			}
			if !HasReason(e, c.want) {
				t.Errorf("HasReason(%s) = false", c.want)
			}
		})
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

func TestParseVersions(t *testing.T) {
	v, err := ParseVersions([]byte("Deployment apps/v1 web 123\nService     v1  web   <none>\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v["deployment.apps/web"] != "123" || v["service/web"] != "<none>" || len(v) != 2 {
		t.Fatalf("versions = %v", v)
	}
	if _, err := ParseVersions([]byte("garbage line\n")); err == nil {
		t.Fatal("malformed line accepted")
	}
}

// Manifests must travel on stdin: the module's container has no local files.
func TestStepsTakeManifestsOnStdin(t *testing.T) {
	m := []byte("kind: X")
	for _, s := range []Step{ServerSideDryRun("n", m), Apply("n", m), CurrentVersions("n", m), Diff("n", m), Create("n", m), Replace("n", m)} {
		i := slices.Index(s.Args, "-f")
		if i < 0 || s.Args[i+1] != "-" || string(s.Stdin) != "kind: X" {
			t.Errorf("%s: args %v do not read the manifests from stdin", s.Name, s.Args)
		}
		if strings.Contains(s.String(), "kind: X") {
			t.Errorf("%s: String() leaks stdin", s.Name)
		}
	}
	if s := ServerSideDryRun("n", m); !slices.Contains(s.Args, "--dry-run=server") || !slices.Contains(s.Args, "--field-manager=ship") {
		t.Errorf("dry-run args %v", s.Args)
	}
}
