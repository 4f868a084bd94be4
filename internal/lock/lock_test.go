// The lock against a real kube-apiserver: held locks refuse, a waiter gets the lock once it is released, a
// release leaves nothing behind, and a holder whose lock expired and was taken over can neither renew nor
// release (delete) its successor's lock.
package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/testenv/kubecluster"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

type env struct {
	t  *testing.T
	c  *kubecluster.Cluster
	r  kube.ExecRunner
	ns string
}

func newEnv(t *testing.T) *env {
	c := kubecluster.Shared(t)
	e := &env{t: t, c: c, r: kube.ExecRunner{Kubectl: c.KubectlPath, Kubeconfig: c.Kubeconfig},
		ns: fmt.Sprintf("lock-%04x", rand.IntN(1<<16))}
	e.kubectl("create", "namespace", e.ns)
	t.Cleanup(func() { _, _ = c.Kubectl(context.Background(), "delete", "namespace", e.ns, "--wait=false") })
	return e
}

func (e *env) kubectl(args ...string) string {
	e.t.Helper()
	out, err := e.c.Kubectl(context.Background(), args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

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
	return Acquire(context.Background(), e.r, o)
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
	if r.l.AcquiredAt.Before(released) || !strings.Contains(progress.String(), "waiting for the deploy lock on "+e.ns+", held by deploy-a") {
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
	time.Sleep(2500 * time.Millisecond)
	var progress bytes.Buffer
	b, err := e.acquire("successor", time.Minute, 0, &progress)
	if err != nil {
		t.Fatalf("expired lock not taken over: %v", err)
	}
	if !strings.Contains(progress.String(), "took over the deploy lock on "+e.ns+": crashed's lock expired") {
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
	if _, err := e.c.KubectlStdin(context.Background(), doc, "create", "-f", "-"); err != nil {
		t.Fatal(err)
	}
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
