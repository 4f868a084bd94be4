// Integration tests of the deployer against a real kube-apiserver (kwok nodes), through a kubectl proxy:
// fresh deploy, new digest with a plan first, prune, all-or-nothing dry-run, failing rollouts with rollback,
// the lock, an apiserver restart mid-wait, and least privilege. Each test has its own namespace. The tests
// of issue-specific behaviour (faults, shared namespaces, releases) are in faults_test.go and
// release_test.go.
package deploy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/lock"
	"dagger/ship/internal/report"
	"dagger/ship/internal/rollout"
)

func changeIn(r *report.Report, obj string) string {
	for _, c := range r.Changes {
		if c.Object == obj {
			return c.Action
		}
	}
	return ""
}

func TestFreshDeployThenNewDigestWithPlan(t *testing.T) {
	e := newEnv(t)
	imgA, imgB := image("a"), image("b")
	rep, err := e.run(e.options(imgA))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Succeeded || len(rep.Workloads) != 1 || rep.Workloads[0].Outcome != "rolled out" || rep.Workloads[0].Revision != "1" {
		t.Fatalf("fresh deploy report: %+v", rep.Workloads)
	}
	if got := changeIn(rep, "deployment.apps/fastapi-app"); got != "created" {
		t.Fatalf("deployment change = %q", got)
	}
	if md := rep.Markdown(); !strings.Contains(md, "dev: succeeded") || !strings.Contains(md, imgA) {
		t.Fatalf("markdown:\n%s", md)
	}

	plan, err := Plan(context.Background(), e.Client, e.options(imgB))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(plan.Changed, "apps.v1.Deployment."+e.ns+".fastapi-app") || !strings.Contains(plan.Diff, imgB) || len(plan.Prune) != 0 {
		t.Fatalf("plan: %s\n%s", plan.Summary(), plan.Diff)
	}
	if slices.Contains(plan.Changed, "v1.Service."+e.ns+".fastapi-app") {
		t.Fatalf("plan says the unchanged Service changes: %v", plan.Changed)
	}

	rep, err = e.run(e.options(imgB))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Workloads[0].Revision != "2" || changeIn(rep, "deployment.apps/fastapi-app") != "configured" || changeIn(rep, "service/fastapi-app") != "unchanged" {
		t.Fatalf("second deploy: workloads %+v changes %+v", rep.Workloads, rep.Changes)
	}
	st := e.status()
	if len(st.Workloads) != 1 || st.Workloads[0].Revision != "2" || st.Workloads[0].Images[0] != imgB || st.Workloads[0].Available != 1 {
		t.Fatalf("status: %s", st)
	}
	plan, err = Plan(context.Background(), e.Client, e.options(imgB))
	if err != nil || !plan.Empty() {
		t.Fatalf("plan after deploy: %v %s", err, plan.Summary())
	}
}

func TestPruneOnlyOwnedObjects(t *testing.T) {
	e := newEnv(t)
	img := image("prune")
	extra := ownedConfigMap(e.ns, "extra", app, "dev")
	o := e.options(img)
	o.Manifests = append(o.Manifests, extra...)
	if _, err := e.run(o); err != nil {
		t.Fatal(err)
	}
	e.kubectl("create", "configmap", "foreign", "-n", e.ns, "--from-literal=k=v")
	e.kubectl("create", "configmap", "other-overlay", "-n", e.ns, "--from-literal=k=v")
	e.kubectl("label", "configmap", "other-overlay", "-n", e.ns, "app.kubernetes.io/managed-by=ship", "ship/app="+app, "ship/overlay=prod")

	plan, err := Plan(context.Background(), e.Client, e.options(img))
	if err != nil || !slices.Equal(plan.Prune, []string{"configmap/extra"}) {
		t.Fatalf("plan prune = %v, %v", plan.Prune, err)
	}
	// A failed rollout prunes nothing: the revision it rolls back to may still use the object.
	rep, err := e.run(e.options(image("prune-bad"), fault("ImagePullBackOff")))
	if err == nil || changeIn(rep, "configmap/extra") != "kept: not pruned, the rollout failed" {
		t.Fatalf("failed deploy: err %v, changes %+v", err, rep.Changes)
	}
	e.kubectl("get", "configmap", "extra", "-n", e.ns)
	rep, err = e.run(e.options(img))
	if err != nil {
		t.Fatal(err)
	}
	if changeIn(rep, "configmap/extra") != "pruned" {
		t.Fatalf("changes: %+v", rep.Changes)
	}
	names := e.kubectl("get", "configmaps", "-n", e.ns, "-o", "name")
	if strings.Contains(names, "configmap/extra\n") || !strings.Contains(names, "configmap/foreign") || !strings.Contains(names, "configmap/other-overlay") {
		t.Fatalf("configmaps after prune:\n%s", names)
	}
}

func TestReportShowsLoadBalancerAddress(t *testing.T) {
	e := newEnv(t)
	o := e.options(image("lb-1"))
	o.Manifests = []byte(strings.Replace(string(o.Manifests), "type: ClusterIP", "type: LoadBalancer", 1))
	if !strings.Contains(string(o.Manifests), "type: LoadBalancer") {
		t.Fatal("the dev overlay's Service is no longer ClusterIP: update this test")
	}
	rep, err := e.run(o)
	if err != nil || len(rep.Addresses) != 0 {
		t.Fatalf("before any address is assigned: err %v, addresses %v", err, rep.Addresses)
	}
	// What a cloud load-balancer controller does once the balancer exists.
	e.kubectl("patch", "service", "fastapi-app", "-n", e.ns, "--subresource=status", "--type=merge",
		"-p", `{"status":{"loadBalancer":{"ingress":[{"hostname":"a1.elb.example"}]}}}`)
	o2 := e.options(image("lb-2"))
	o2.Manifests = []byte(strings.Replace(string(o2.Manifests), "type: ClusterIP", "type: LoadBalancer", 1))
	rep, err = e.run(o2)
	if err != nil || !slices.Equal(rep.Addresses, []string{"a1.elb.example:80 (service/fastapi-app)"}) {
		t.Fatalf("err %v, addresses %v", err, rep.Addresses)
	}
	if !strings.Contains(rep.Markdown(), "| External address | `a1.elb.example:80 (service/fastapi-app)` |") {
		t.Fatalf("markdown:\n%s", rep.Markdown())
	}
}

func TestRejectedObjectAppliesNothing(t *testing.T) {
	e := newEnv(t)
	o := e.options(image("x"))
	o.Manifests = append(o.Manifests, []byte("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: would-be-created, namespace: "+e.ns+"}\ndata: {k: v}\n"+
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: broken, namespace: "+e.ns+"}\nspec:\n  ports: [{port: 99999}]\n")...)
	_, err := e.run(o)
	if !kube.HasReason(err, kube.Invalid) || !strings.Contains(err.Error(), "nothing was applied") || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("err = %v", err)
	}
	left := e.kubectl("get", "deployments,services,configmaps,poddisruptionbudgets", "-n", e.ns, "-o", "name")
	for _, name := range []string{"fastapi-app", "would-be-created", "broken"} {
		if strings.Contains(left, name) {
			t.Fatalf("%s was applied despite the rejected object:\n%s", name, left)
		}
	}
}

func TestMissingNamespace(t *testing.T) {
	e := newEnv(t)
	o := e.options(image("x"))
	o.Manifests = []byte(strings.ReplaceAll(string(o.Manifests), "namespace: "+e.ns, "namespace: "+e.ns+"-absent"))
	_, err := e.run(o)
	if !kube.HasReason(err, kube.NamespaceNotFound) || !strings.Contains(err.Error(), "namespace "+e.ns+"-absent does not exist: run bootstrap or create it") {
		t.Fatalf("err = %v", err)
	}
}

func TestFailingRolloutRollsBack(t *testing.T) {
	for _, c := range []struct {
		mode, want string
		timeout    time.Duration
		outcome    string // "failed" is the fail-fast verdict; "timed out" means it waited for the deadline
	}{
		{"ImagePullBackOff", "ImagePullBackOff", 0, "failed"},
		{"CrashLoopBackOff", "CrashLoopBackOff", 0, "failed"},
		{"Unready", "Ready=False", 6 * time.Second, "timed out"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			e := newEnv(t)
			good := image("good-" + c.mode)
			if _, err := e.run(e.options(good)); err != nil {
				t.Fatal(err)
			}
			o := e.options(image("bad-"+c.mode), fault(c.mode))
			o.Timeout = c.timeout
			rep, err := e.run(o)
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("err = %v, want a *Failure", err)
			}
			var rerr *rollout.Error
			if !errors.As(err, &rerr) {
				t.Fatalf("cause is not a rollout verdict: %v", err)
			}
			// How fast is measured by BenchmarkFailureDetection; here, that it failed fast rather than at the deadline.
			if got := rep.Workloads[0].Outcome; got != c.outcome {
				t.Errorf("outcome = %q, want %q", got, c.outcome)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(strings.Join(rep.Diagnosis, "\n"), c.want) {
				t.Errorf("diagnosis lacks %q:\n%v", c.want, err)
			}
			if len(rep.Rollbacks) != 1 || !rep.Rollbacks[0].Healthy || rep.Rollbacks[0].ToRevision != "1" || rep.Rollbacks[0].Images[0] != good {
				t.Fatalf("rollbacks: %+v", rep.Rollbacks)
			}
			if !strings.Contains(err.Error(), "rolled back deployment/fastapi-app to revision 1 ("+good+"), healthy again") {
				t.Errorf("error does not say what it rolled back to:\n%v", err)
			}
			st := e.status().Workloads[0]
			if st.Images[0] != good || st.Available != 1 || st.Revision != "3" {
				t.Fatalf("after rollback: %+v", st)
			}
		})
	}
}

func TestFailingRolloutWithoutRollback(t *testing.T) {
	e := newEnv(t)
	if _, err := e.run(e.options(image("good"))); err != nil {
		t.Fatal(err)
	}
	bad := image("bad")
	o := e.options(bad, fault("ImagePullBackOff"))
	o.NoRollback = true
	rep, err := e.run(o)
	if err == nil || len(rep.Rollbacks) != 0 || !strings.Contains(rep.RollbackNote, "automatic rollback is off") {
		t.Fatalf("err %v, rollbacks %+v, note %q", err, rep.Rollbacks, rep.RollbackNote)
	}
	if st := e.status().Workloads[0]; st.Images[0] != bad || st.Revision != "2" {
		t.Fatalf("NoRollback still rolled back: %+v", st)
	}
}

func TestFirstDeployFailingHasNothingToRollBackTo(t *testing.T) {
	e := newEnv(t)
	rep, err := e.run(e.options(image("bad"), fault("CrashLoopBackOff")))
	if err == nil || !strings.Contains(err.Error(), "deployment/fastapi-app: first deploy, nothing to roll back to") || len(rep.Rollbacks) != 0 {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentDeploysDoNotInterleave(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	reps := make([]*report.Report, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := e.options(image("concurrent-"+string(rune('a'+i))), minReady(2))
			o.Owner = "deploy-" + string(rune('a'+i))
			reps[i], errs[i] = e.run(o)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("deploy %d: %v", i, err)
		}
	}
	first, second := reps[0], reps[1]
	if second.LockAcquired.Before(first.LockAcquired) {
		first, second = second, first
	}
	for _, r := range reps {
		if r.Applied.Before(r.LockAcquired) || r.LockReleased.Before(r.Finished) {
			t.Fatalf("apply outside the lock: %+v", r)
		}
	}
	if second.LockAcquired.Before(first.LockReleased) {
		t.Fatalf("deploys interleaved: first held the lock %s..%s, second acquired at %s",
			first.LockAcquired.Format(time.StampMilli), first.LockReleased.Format(time.StampMilli), second.LockAcquired.Format(time.StampMilli))
	}
}

func TestLockHeldRefusesAndExpiredLockIsTakenOver(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	held, err := lock.Acquire(ctx, e.Client, lock.Options{Namespace: e.ns, Holder: "someone-else", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = held // never renewed nor released: its holder "crashed"
	o := e.options(image("x"))
	o.LockWait = 0
	_, err = e.run(o)
	var he *lock.HeldError
	if !errors.As(err, &he) || he.Holder != "someone-else" || !strings.Contains(err.Error(), "someone-else") {
		t.Fatalf("err = %v", err)
	}
	// A waiter takes over once it has itself seen the lock go unrenewed for its TTL.
	o.LockWait = 10 * time.Second
	if _, err := e.run(o); err != nil {
		t.Fatalf("expired lock not taken over: %v", err)
	}
	if err := held.Renew(ctx); err == nil || !strings.Contains(err.Error(), "lost the deploy lock") {
		t.Fatalf("the crashed holder could still renew: %v", err)
	}
}

func TestAPIServerRestartMidWait(t *testing.T) {
	e := newEnv(t)
	if _, err := e.run(e.options(image("before"))); err != nil {
		t.Fatal(err)
	}
	w := &startLineWriter{testWriter: testWriter{t}, started: make(chan struct{})}
	o := e.options(image("after"), minReady(6))
	o.Progress = w
	restarted := make(chan error, 1)
	go func() {
		<-w.started
		restarted <- e.Cluster.RestartAPIServer(context.Background(), 3*time.Second)
	}()
	rep, err := e.run(o)
	if err != nil {
		t.Fatalf("deploy did not survive the restart: %v", err)
	}
	if rerr := <-restarted; rerr != nil {
		t.Fatal(rerr)
	}
	if rep.Workloads[0].Outcome != "rolled out" || rep.Workloads[0].Revision != "2" {
		t.Fatalf("workloads: %+v", rep.Workloads)
	}
}

func TestLeastPrivilege(t *testing.T) {
	e := newEnv(t)
	c := e.UserClient("ci-deployer")
	ctx := context.Background()
	_, err := Run(ctx, c, e.options(image("x")))
	if !kube.HasReason(err, kube.Forbidden) || !strings.Contains(err.Error(), `user "ci-deployer" cannot create configmaps in namespace "`+e.ns+`"`) ||
		!strings.Contains(err.Error(), `needs the "edit" ClusterRole bound in that namespace`) {
		t.Fatalf("without a binding: err = %v", err)
	}
	e.kubectl("create", "rolebinding", "ci-deployer-edit", "-n", e.ns, "--clusterrole=edit", "--user=ci-deployer")
	rep, err := Run(ctx, c, e.options(image("x")))
	if err != nil || !rep.Succeeded {
		t.Fatalf("with edit bound: %v", err)
	}
	if left := e.kubectl("get", "configmaps", "-n", e.ns, "-o", "name"); strings.Contains(left, lock.Name) {
		t.Fatalf("the deploy lock was not released:\n%s", left)
	}
	if _, err := Rollback(ctx, c, RollbackOptions{App: app, Overlay: "dev", Namespace: e.ns, Progress: testWriter{t}}); err == nil || !strings.Contains(err.Error(), "no earlier revision") {
		t.Fatalf("rollback with a single revision: %v", err)
	}
}

func TestManualRollback(t *testing.T) {
	e := newEnv(t)
	a, b := image("a"), image("b")
	for _, img := range []string{a, b} {
		if _, err := e.run(e.options(img)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := e.rollback(1)
	if err != nil || len(rep.Rollbacks) != 1 || rep.Rollbacks[0].Images[0] != a || !rep.Rollbacks[0].Healthy {
		t.Fatalf("rollback: %v %+v", err, rep)
	}
	if st := e.status().Workloads[0]; st.Images[0] != a || st.Revision != "3" {
		t.Fatalf("status: %+v", st)
	}
}
