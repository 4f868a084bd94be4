// Integration tests of the deployer under faults and in shared namespaces, on the real control plane: two
// apps deploying an overlay of the same name into one namespace, an apply that fails half-way, a deploy
// that loses its lock, the lock wait, a manual rollback after an automatic one, configuration a rollback
// target still mounts, a slow but progressing rollout, autoscaled replicas, and the preflight check. Each
// test would fail with the behaviour the fix replaced (see the comment on each).
package deploy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/lock"
	"dagger/ship/internal/render"
)

// Two apps, each with an overlay named "dev", in one namespace, each with an extra owned object that a
// later deploy drops. Keyed on the overlay alone, each deploy pruned the other app's objects.
func TestTwoAppsShareANamespaceWithoutPruningEachOther(t *testing.T) {
	e := newEnv(t)
	shop := shopAsDev(t)
	shopOptions := func(img string, extra string) Options {
		m := e.render(shop, render.Options{Overlay: "dev", Image: img, ImageName: "shop-api", AppName: "shop-api"})
		return Options{App: "shop-api", Overlay: "dev", Image: img, Owner: "shop", Manifests: append(m, extra...), Progress: testWriter{t}, LockWait: time.Minute}
	}
	fast := e.options(image("fast-1"))
	fast.Manifests = append(fast.Manifests, ownedConfigMap(e.ns, "fast-extra", app, "dev")...)
	if _, err := e.run(fast); err != nil {
		t.Fatal(err)
	}
	if _, err := e.run(shopOptions(image("shop-1"), ownedConfigMap(e.ns, "shop-extra", "shop-api", "dev"))); err != nil {
		t.Fatal(err)
	}
	// An object labelled by an older ship (overlay, no app): it may be either app's, so neither prunes it.
	e.KubectlStdin(strings.Replace(ownedConfigMap(e.ns, "legacy", "x", "dev"), "ship/app: x, ", "", 1), "apply", "-f", "-")

	rep, err := e.run(e.options(image("fast-2")))
	if err != nil {
		t.Fatal(err)
	}
	if changeIn(rep, "configmap/fast-extra") != "pruned" || changeIn(rep, "configmap/shop-extra") != "" || changeIn(rep, "deployment.apps/shop-api") != "" {
		t.Fatalf("fastapi's deploy changes: %+v", rep.Changes)
	}
	if notes := strings.Join(rep.Notes, "\n"); !strings.Contains(notes, "configmap/legacy: not pruned") {
		t.Fatalf("the legacy object is not reported: %q", notes)
	}
	if _, err := e.run(shopOptions(image("shop-2"), "")); err != nil {
		t.Fatal(err)
	}
	left := e.kubectl("get", "deployments,services,configmaps", "-n", e.ns, "-o", "name")
	for _, want := range []string{"deployment.apps/fastapi-app", "deployment.apps/shop-api", "service/fastapi-app", "service/shop-api", "configmap/legacy"} {
		if !strings.Contains(left, want+"\n") {
			t.Errorf("%s was pruned by the other app:\n%s", want, left)
		}
	}
	for _, gone := range []string{"configmap/fast-extra", "configmap/shop-extra"} {
		if strings.Contains(left, gone+"\n") {
			t.Errorf("%s was not pruned by its own app:\n%s", gone, left)
		}
	}
	if s := e.status(); len(s.Workloads) != 1 || s.Workloads[0].Name != "deployment/fastapi-app" {
		t.Fatalf("status of fastapi-app shows another app's workloads: %s", s)
	}
}

// shopAsDev is the second sample app with its qa overlay renamed dev, so both apps have a "dev" overlay.
func shopAsDev(t *testing.T) fs.FS {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../testdata/shop-api/k8s")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+"/overlays/qa", dir+"/overlays/dev"); err != nil {
		t.Fatal(err)
	}
	return os.DirFS(dir)
}

// An admission policy that refuses one object only outside a dry-run (as a quota or a webhook with side
// effects can): the dry-run passes, the real apply changes the Deployment, then stops at that object. The
// deploy used to report the error and leave the half-applied Deployment rolling out unwatched.
func TestApplyFailingHalfWayIsFollowedAndRolledBack(t *testing.T) {
	e := newEnv(t)
	good, bad := image("half-good"), image("half-new")
	if _, err := e.run(e.options(good)); err != nil {
		t.Fatal(err)
	}
	refuseOutsideDryRun(t, e, "poison")
	o := e.options(bad)
	o.Manifests = append(o.Manifests, ownedConfigMap(e.ns, "poison", app, "dev")...)
	rep, err := e.run(o)
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.Failed.Name != "poison" || !strings.Contains(err.Error(), "deployment.apps/fastapi-app") {
		t.Fatalf("err = %v", err)
	}
	if len(rep.Workloads) != 1 || rep.Workloads[0].Outcome != "rolled out" || rep.Workloads[0].Images[0] != bad {
		t.Fatalf("the changed Deployment was not followed: %+v", rep.Workloads)
	}
	if len(rep.Rollbacks) != 1 || !rep.Rollbacks[0].Healthy || rep.Rollbacks[0].Images[0] != good {
		t.Fatalf("rollbacks: %+v", rep.Rollbacks)
	}
	if st := e.status().Workloads[0]; st.Images[0] != good || st.Available != 1 {
		t.Fatalf("after the failed apply: %+v", st)
	}
}

// refuseOutsideDryRun installs a ValidatingAdmissionPolicy that denies creating a ConfigMap of that name in
// the env's namespace unless the request is a dry-run, and waits until it is in force.
func refuseOutsideDryRun(t *testing.T, e *env, name string) {
	policy := "ship-test-refuse-" + e.ns
	e.KubectlStdin(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: `+policy+`}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}
  validations:
    - expression: "request.dryRun == true || object.metadata.name != '`+name+`'"
      message: "`+name+` is refused outside a dry-run"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: `+policy+`}
spec:
  policyName: `+policy+`
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: `+e.ns+`}}
`, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = e.Cluster.Kubectl(context.Background(), "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.Cluster.Kubectl(context.Background(), "create", "configmap", name, "-n", e.ns)
		if err != nil && strings.Contains(err.Error(), "refused outside a dry-run") {
			return
		}
		if err == nil {
			e.kubectl("delete", "configmap", name, "-n", e.ns)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy is not in force: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// Another deploy takes the lock while this one waits for its rollout. The deploy used to print the failed
// renewal and carry on to prune (or roll back) a namespace it no longer held.
func TestLostLockStopsTheDeploy(t *testing.T) {
	e := newEnv(t)
	first := e.options(image("lost-1"))
	first.Manifests = append(first.Manifests, ownedConfigMap(e.ns, "stale", app, "dev")...)
	if _, err := e.run(first); err != nil {
		t.Fatal(err)
	}
	w := &startLineWriter{testWriter: testWriter{t}, started: make(chan struct{})}
	o := e.options(image("lost-2"), minReady(20))
	o.Progress, o.LockTTL = w, 3*time.Second
	go func() {
		<-w.started
		e.kubectl("annotate", "configmap", lock.Name, "-n", e.ns, "--overwrite", lock.HolderKey+"=intruder")
	}()
	start := time.Now()
	rep, err := e.run(o)
	var lost *lock.LostError
	if !errors.As(err, &lost) || lost.By != "intruder" || !strings.Contains(err.Error(), "did not prune or roll back") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("the deploy went on for %s after losing its lock (its rollout takes 20 s)", took)
	}
	if len(rep.Rollbacks) != 0 || changeIn(rep, "configmap/stale") == "pruned" {
		t.Fatalf("changed the namespace after losing the lock: rollbacks %+v, changes %+v", rep.Rollbacks, rep.Changes)
	}
	e.kubectl("get", "configmap", "stale", "-n", e.ns)
	if h := e.kubectl("get", "configmap", lock.Name, "-n", e.ns, "-o", "jsonpath={.metadata.annotations.ship/lock-holder}"); h != "intruder" {
		t.Fatalf("the intruder's lock was released: holder %q", h)
	}
}

// --lock-wait: a second deploy waits that long for a live holder, then refuses, naming it.
func TestLockWaitThenRefusesNamingTheHolder(t *testing.T) {
	e := newEnv(t)
	holder, err := lock.Acquire(context.Background(), e.Client, lock.Options{Namespace: e.ns, Holder: "busy-deploy", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	holder.KeepAlive(context.Background(), func(error) {})
	defer func() { _ = holder.Release(context.Background()) }()
	o := e.options(image("wait"))
	o.LockWait = 5 * time.Second
	start := time.Now()
	_, err = e.run(o)
	var he *lock.HeldError
	if !errors.As(err, &he) || he.Holder != "busy-deploy" || !strings.Contains(err.Error(), "--lock-wait") {
		t.Fatalf("err = %v", err)
	}
	if waited := time.Since(start); waited < 5*time.Second {
		t.Fatalf("refused after %s, before the lock wait", waited)
	}
}

// After an automatic rollback Kubernetes renumbers the restored revision, so the failed one is "the
// previous revision"; a manual rollback used to bring it back.
func TestManualRollbackSkipsTheFailedRevision(t *testing.T) {
	e := newEnv(t)
	good := image("skip-good")
	if _, err := e.run(e.options(good)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.run(e.options(image("skip-bad"), fault("ImagePullBackOff"))); err == nil {
		t.Fatal("the bad deploy succeeded")
	}
	if st := e.status().Workloads[0]; st.Revision != "3" || st.Images[0] != good {
		t.Fatalf("after the automatic rollback: %+v", st)
	}
	if _, err := e.rollback(0); err == nil || !strings.Contains(err.Error(), "no earlier revision than 3 that did not fail (known 2 (failed), 3)") {
		t.Fatalf("manual rollback after the automatic one: %v", err)
	}
	newer := image("skip-newer")
	if _, err := e.run(e.options(newer)); err != nil {
		t.Fatal(err)
	}
	rep, err := e.rollback(0)
	if err != nil || rep.Rollbacks[0].ToRevision != "3" || rep.Rollbacks[0].Images[0] != good {
		t.Fatalf("rollback from revision 4: %v %+v", err, rep)
	}
}

// A hash-suffixed ConfigMap (as kustomize's generator names them) that the previous revision mounts is no
// longer rendered by the new one. Prune used to delete it, so a rollback to that revision could not start.
func TestPruneKeepsConfigARollbackTargetUses(t *testing.T) {
	e := newEnv(t)
	withConfig := func(name string) func(map[string]any) {
		return func(dep map[string]any) {
			spec := dep["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			c := spec["containers"].([]any)[0].(map[string]any)
			c["envFrom"] = []any{map[string]any{"configMapRef": map[string]any{"name": name}}}
		}
	}
	deploy := func(img, cm string) Options {
		o := e.options(img, withConfig(cm))
		o.Manifests = append(o.Manifests, ownedConfigMap(e.ns, cm, app, "dev")...)
		return o
	}
	if _, err := e.run(deploy(image("cfg-1"), "settings-aaaa")); err != nil {
		t.Fatal(err)
	}
	rep, err := e.run(deploy(image("cfg-2"), "settings-bbbb"))
	if err != nil {
		t.Fatal(err)
	}
	if got := changeIn(rep, "configmap/settings-aaaa"); got != "kept: used by revision 1, a rollback target" {
		t.Fatalf("old config: %q (changes %+v)", got, rep.Changes)
	}
	if _, err := e.rollback(0); err != nil {
		t.Fatalf("rollback to the revision that mounts the old config: %v", err)
	}
	e.kubectl("get", "configmap", "settings-aaaa", "-n", e.ns)
}

// progressDeadlineSeconds is "no progress for N seconds". Four replicas, each available two seconds after
// it is ready, one at a time, take far longer than the five-second deadline while progressing all along;
// the deploy used to fail that rollout at five seconds and roll it back.
func TestSlowButProgressingRolloutSucceeds(t *testing.T) {
	e := newEnv(t)
	slow := []func(map[string]any){setSpec("replicas", 4), setSpec("progressDeadlineSeconds", 5), minReady(2)}
	if _, err := e.run(e.options(image("slow-1"), setSpec("replicas", 4))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := e.run(e.options(image("slow-2"), slow...))
	if err != nil {
		t.Fatalf("a progressing rollout failed after %s: %v", time.Since(start), err)
	}
	if took := rep.Workloads[0].Duration; took < 5*time.Second {
		t.Fatalf("the rollout took %s: it no longer outlasts the deadline, so this test proves nothing", took)
	}
}

const hpaDoc = `---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: fastapi-app, namespace: NS, labels: {app.kubernetes.io/managed-by: ship, ship/app: fastapi-app, ship/overlay: dev}}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: fastapi-app}
  minReplicas: 1
  maxReplicas: 5
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]
`

// With an autoscaler, every deploy used to reset spec.replicas to the manifest's count; and once ship
// stops applying the field, server-side apply would reset it to the default (1) unless it is handed over.
func TestAutoscaledReplicasAreLeftToTheAutoscaler(t *testing.T) {
	e := newEnv(t)
	// First without an autoscaler: ship applies replicas 3 and owns the field.
	if _, err := e.run(e.options(image("hpa-1"), setSpec("replicas", 3))); err != nil {
		t.Fatal(err)
	}
	withHPA := func(img string) Options {
		o := e.options(img)
		o.Manifests = append(o.Manifests, strings.ReplaceAll(hpaDoc, "NS", e.ns)...)
		return o
	}
	// The autoscaler arrives with this deploy; the replicas ship owned are handed over, not reset.
	rep, err := e.run(withHPA(image("hpa-2")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "spec.replicas left to HorizontalPodAutoscaler fastapi-app") {
		t.Fatalf("notes: %q", rep.Notes)
	}
	replicas := func() string {
		return e.kubectl("get", "deployment", "fastapi-app", "-n", e.ns, "-o", "jsonpath={.spec.replicas}")
	}
	if got := replicas(); got != "3" {
		t.Fatalf("replicas after the deploy that added the autoscaler = %s, want 3", got)
	}
	// Scaled again (as the autoscaler does, through the scale subresource), then redeployed.
	e.kubectl("scale", "deployment", "fastapi-app", "-n", e.ns, "--replicas=4")
	if _, err := e.run(withHPA(image("hpa-3"))); err != nil {
		t.Fatal(err)
	}
	if got := replicas(); got != "4" {
		t.Fatalf("replicas after a redeploy = %s, want the autoscaler's 4 (the dev overlay says 1)", got)
	}
}

// The check before the build: the cluster answers and this identity may deploy here, or it says why.
func TestPreflight(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.manifests(image("pre"))
	if err := Preflight(ctx, e.Client, m, app, "dev"); err != nil {
		t.Fatalf("admin: %v", err)
	}
	ci := e.UserClient("ci-preflight")
	if err := Preflight(ctx, ci, m, app, "dev"); !kube.HasReason(err, kube.Forbidden) || !strings.Contains(err.Error(), "checking the cluster before the build") {
		t.Fatalf("no rights: %v", err)
	}
	e.kubectl("create", "role", "only-configmaps", "-n", e.ns, "--verb=create,get,update,delete", "--resource=configmaps")
	e.kubectl("create", "rolebinding", "only-configmaps", "-n", e.ns, "--role=only-configmaps", "--user=ci-preflight")
	err := Preflight(ctx, ci, m, app, "dev")
	if err == nil || !strings.Contains(err.Error(), "may not create service, patch service, create deployment.apps, patch deployment.apps") {
		t.Fatalf("configmaps only: %v", err)
	}
	e.kubectl("create", "rolebinding", "edit", "-n", e.ns, "--clusterrole=edit", "--user=ci-preflight")
	if err := Preflight(ctx, ci, m, app, "dev"); err != nil {
		t.Fatalf("with edit: %v", err)
	}
	missing := []byte(strings.ReplaceAll(string(m), "namespace: "+e.ns, "namespace: "+e.ns+"-absent"))
	if err := Preflight(ctx, e.Client, missing, app, "dev"); !kube.HasReason(err, kube.NamespaceNotFound) {
		t.Fatalf("missing namespace: %v", err)
	}
}

// startLineWriter signals once a rollout progress line appears.
type startLineWriter struct {
	testWriter
	once    sync.Once
	started chan struct{}
}

func (w *startLineWriter) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "deployment/fastapi-app: ") {
		w.once.Do(func() { close(w.started) })
	}
	return w.testWriter.Write(p)
}
