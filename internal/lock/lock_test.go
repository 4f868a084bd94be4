// The lock against a real kube-apiserver, through the proxy: held locks refuse, a waiter gets the lock once
// it is released, a release leaves nothing behind, a holder whose lock expired and was taken over can
// neither renew nor release (delete) its successor's lock, a skewed clock cannot take a live lock, and a
// holder hears that it lost its lock.
package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/testenv/kubecluster"
	"dagger/ship/internal/testenv/kubetest"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

type env struct {
	*kubetest.Env
	t  *testing.T
	ns string
}

func newEnv(t *testing.T) *env {
	k := kubetest.New(t)
	return &env{Env: k, t: t, ns: k.Namespace}
}

func (e *env) kubectl(args ...string) string { return e.Kubectl(args...) }

// holderInCluster is the lock's holder annotation, or "" when there is no lock object.
func (e *env) holderInCluster() string {
	e.t.Helper()
	return strings.TrimSpace(e.kubectl("get", "configmap", "-n", e.ns, "--ignore-not-found", "--field-selector", "metadata.name="+Name,
		"-o", `jsonpath={.items[*].metadata.annotations.ship/lock-holder}`))
}

func (e *env) acquire(holder string, ttl, wait time.Duration, progress *bytes.Buffer) (*Lock, error) {
	o := Options{Namespace: e.ns, Holder: holder, TTL: ttl, Wait: wait, Interval: 200 * time.Millisecond}
	if progress != nil {
		o.Progress = progress
	}
	return Acquire(context.Background(), e.Client, o)
}

func TestHeldLockRefusesThenReleaseLeavesNothing(t *testing.T) {
	e := newEnv(t)
	a, err := e.acquire("deploy-a", time.Minute, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.holderInCluster(); got != "deploy-a" {
		t.Fatalf("holder in cluster = %q", got)
	}
	_, err = e.acquire("deploy-b", time.Minute, 0, nil)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "deploy-a" || !strings.Contains(err.Error(), "another deploy holds the lock on namespace "+e.ns) {
		t.Fatalf("second acquire: %v", err)
	}
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.holderInCluster(); got != "" {
		t.Fatalf("after release the lock object is still there, held by %q", got)
	}
	b, err := e.acquire("deploy-b", time.Minute, 0, nil)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestWaiterGetsTheLockOnRelease(t *testing.T) {
	e := newEnv(t)
	a, err := e.acquire("deploy-a", time.Minute, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		l   *Lock
		err error
	}
	got := make(chan result, 1)
	var progress bytes.Buffer
	go func() {
		l, err := e.acquire("deploy-b", time.Minute, time.Minute, &progress)
		got <- result{l, err}
	}()
	time.Sleep(1500 * time.Millisecond) // b has found the lock held and is waiting
	select {
	case r := <-got:
		t.Fatalf("b got past a held lock: %+v", r)
	default:
	}
	released := time.Now()
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.l.AcquiredAt.Before(released) || !strings.Contains(progress.String(), "for the deploy lock on "+e.ns+", held by deploy-a") {
		t.Fatalf("acquired at %s (released %s); progress %q", r.l.AcquiredAt, released, progress.String())
	}
	if h := e.holderInCluster(); h != "deploy-b" {
		t.Fatalf("holder in cluster = %q", h)
	}
}

func TestExpiredHolderCannotTouchItsSuccessorsLock(t *testing.T) {
	e := newEnv(t)
	a, err := e.acquire("crashed", 2*time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Expiry is judged by the waiter's own clock from when it first saw the lock: it waits a whole TTL.
	var progress bytes.Buffer
	b, err := e.acquire("successor", time.Minute, 10*time.Second, &progress)
	if err != nil {
		t.Fatalf("expired lock not taken over: %v", err)
	}
	if !strings.Contains(progress.String(), "took over the deploy lock on "+e.ns+": it was not renewed for 2s; superseding an interrupted unknown by crashed") {
		t.Fatalf("progress: %q", progress.String())
	}
	if err := a.Renew(context.Background()); err == nil || !strings.Contains(err.Error(), "taken over") {
		t.Fatalf("the expired holder renewed: %v", err)
	}
	if err := a.Release(context.Background()); err == nil || !strings.Contains(err.Error(), "taken over") {
		t.Fatalf("the expired holder released: %v", err)
	}
	if h := e.holderInCluster(); h != "successor" {
		t.Fatalf("after the stale release the holder is %q, want successor", h)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Older releases left the object in place marked released; such a lock is free.
func TestLockMarkedReleasedIsFree(t *testing.T) {
	e := newEnv(t)
	doc := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":%q,"annotations":{%q:"old",%q:%q,%q:"true"}}}`,
		Name, e.ns, HolderKey, ExpiresAtKey, time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano), ReleasedKey)
	e.KubectlStdin(doc, "create", "-f", "-")
	var progress bytes.Buffer
	l, err := e.acquire("new", time.Minute, 0, &progress)
	if err != nil {
		t.Fatalf("released lock refused: %v", err)
	}
	if strings.Contains(progress.String(), "took over") {
		t.Fatalf("a released lock was reported as taken over: %q", progress.String())
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A holder whose clock is an hour behind writes timestamps that look long expired. Judged by timestamps,
// a waiter would take its lock at once; judged by the waiter's own clock (the lock keeps changing as it is
// renewed), the live lock is never taken.
func TestSkewedClockCannotTakeALiveLock(t *testing.T) {
	e := newEnv(t)
	behind := func() time.Time { return time.Now().Add(-time.Hour) }
	a, err := Acquire(context.Background(), e.Client, Options{Namespace: e.ns, Holder: "slow-clock", TTL: 3 * time.Second, Now: behind})
	if err != nil {
		t.Fatal(err)
	}
	a.KeepAlive(context.Background(), func(err error) { t.Errorf("the live holder lost its lock: %v", err) })
	defer func() { _ = a.Release(context.Background()) }()
	start := time.Now()
	_, err = e.acquire("waiter", time.Minute, 8*time.Second, nil)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "slow-clock" {
		t.Fatalf("the waiter got a live lock (after %s): %v", time.Since(start), err)
	}
	if h := e.holderInCluster(); h != "slow-clock" {
		t.Fatalf("holder in cluster = %q", h)
	}
}

// When another deploy takes the lock (here: rewritten with another holder in one write), the holder's
// keep-alive says so once, naming the new holder, so the deploy can stop.
func TestKeepAliveReportsALostLock(t *testing.T) {
	e := newEnv(t)
	a, err := e.acquire("first", 3*time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 2)
	a.KeepAlive(context.Background(), func(err error) { lost <- err })
	e.kubectl("annotate", "configmap", Name, "-n", e.ns, "--overwrite", HolderKey+"=second")
	select {
	case err := <-lost:
		var le *LostError
		if !errors.As(err, &le) || le.By != "second" || !strings.Contains(err.Error(), "lost the deploy lock on namespace "+e.ns+" to second") {
			t.Fatalf("lost: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the keep-alive never noticed that its lock was taken")
	}
	if err := a.Release(context.Background()); err == nil {
		t.Fatal("the old holder released its successor's lock")
	}
	if h := e.holderInCluster(); h != "second" {
		t.Fatalf("holder = %q", h)
	}
}

// A holder killed mid-deploy leaves its lock unreleased: status sees it as stale, and whoever takes it over
// learns what was interrupted (action, image, revision, phase) from the lock itself.
func TestTakeoverNamesTheInterruptedDeploy(t *testing.T) {
	e := newEnv(t)
	work := Work{Action: "deploy", Image: "registry.test/app@sha256:aaaa", Revision: "r2"}
	a, err := Acquire(context.Background(), e.Client, Options{Namespace: e.ns, Holder: "killed", TTL: 2 * time.Second, Work: work})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetPhase(context.Background(), "rollout"); err != nil {
		t.Fatal(err)
	}
	st, err := Inspect(context.Background(), e.Client, e.ns, time.Now())
	if err != nil || st == nil || st.Stale || st.Phase != "rollout" || st.Work != work || st.Holder != "killed" {
		t.Fatalf("a live lock inspected as %+v (%v)", st, err)
	}
	// The holder is never released: a killed process. A renewal keeps the phase.
	if err := a.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err = Inspect(context.Background(), e.Client, e.ns, time.Now().Add(3*time.Second))
	if err != nil || st == nil || !st.Stale || st.Phase != "rollout" {
		t.Fatalf("an unrenewed lock inspected as %+v (%v)", st, err)
	}
	var progress bytes.Buffer
	b, err := e.acquire("next", time.Minute, 10*time.Second, &progress)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Release(context.Background()) }()
	got := b.Superseded
	if got == nil || got.Holder != "killed" || got.Work != work || got.Phase != "rollout" {
		t.Fatalf("superseded = %+v", got)
	}
	want := `deploy of registry.test/app@sha256:aaaa (revision r2) by killed stopped during "rollout" without releasing the lock`
	if !strings.Contains(got.String(), want) || !strings.Contains(progress.String(), want) {
		t.Fatalf("superseded %q, progress %q: want %q", got, progress.String(), want)
	}
	// A lock released normally is not an interruption.
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := e.acquire("after", time.Minute, 0, nil)
	if err != nil || c.Superseded != nil {
		t.Fatalf("a released lock was reported as interrupted: %+v (%v)", c, err)
	}
	if st, err := Inspect(context.Background(), e.Client, e.ns, time.Now()); err != nil || st == nil || st.Stale {
		t.Fatalf("inspect of a live lock: %+v (%v)", st, err)
	}
	_ = c.Release(context.Background())
	if st, err := Inspect(context.Background(), e.Client, e.ns, time.Now()); err != nil || st != nil {
		t.Fatalf("inspect of a free namespace: %+v (%v)", st, err)
	}
}
