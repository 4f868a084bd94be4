// Package lock keeps two deploys to one namespace from interleaving. The lock is a ConfigMap (the "edit"
// ClusterRole covers configmaps but not leases) with holder, acquired-at and expires-at annotations that
// exists only while held: created with `kubectl create` (AlreadyExists means held), renewed with an
// optimistic `kubectl replace` carrying the resourceVersion, taken over the same way once expired, and
// released by a delete preconditioned on our UID and resourceVersion. It guards against a crashed deploy
// blocking the namespace forever, against two takeovers both succeeding, and against a holder whose lock
// expired releasing the lock its successor now holds. A free namespace costs one kubectl call to lock.
package lock

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dagger/ship/internal/kube"
)

// Object name and annotations of the lock.
const (
	Name            = "ship-deploy-lock"
	HolderKey       = "ship/lock-holder"
	AcquiredAtKey   = "ship/lock-acquired-at"
	ExpiresAtKey    = "ship/lock-expires-at"
	ReleasedKey     = "ship/lock-released" // set by releases before locks were deleted; still honoured
	DefaultTTL      = 2 * time.Minute
	DefaultInterval = time.Second
)

// Options configure Acquire.
type Options struct {
	Namespace string
	Holder    string        // unique per deploy; shown to whoever waits
	TTL       time.Duration // default 2 min; renewed every TTL/3 by KeepAlive
	Wait      time.Duration // how long to wait for a held lock; 0 = refuse at once
	Interval  time.Duration // retry period while waiting; default 1 s
	Progress  io.Writer
	Now       func() time.Time
}

// HeldError says who holds the lock and until when.
type HeldError struct {
	Namespace, Holder string
	Expires           time.Time
	Waited            time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("another deploy holds the lock on namespace %s: %s, until %s (waited %s); wait for it to finish, or raise the lock wait",
		e.Namespace, e.Holder, e.Expires.UTC().Format(time.RFC3339), e.Waited.Round(time.Second))
}

// Lock is a held lock.
type Lock struct {
	r          kube.Runner
	o          Options
	AcquiredAt time.Time
	mu         sync.Mutex
	cm         corev1.ConfigMap
	stop       func()
}

// Acquire takes the lock, waiting up to o.Wait while another live holder has it.
func Acquire(ctx context.Context, r kube.Runner, o Options) (*Lock, error) {
	o = defaults(o)
	start, told := o.Now(), false
	for {
		l, held, err := try(ctx, r, o)
		if err != nil || l != nil {
			return l, err
		}
		waited := o.Now().Sub(start)
		if held == nil {
			continue // the lock vanished or changed under us: try again at once
		}
		if waited >= o.Wait {
			held.Waited = waited
			return nil, held
		}
		if !told {
			fmt.Fprintf(o.Progress, "waiting for the deploy lock on %s, held by %s until %s\n", o.Namespace, held.Holder, held.Expires.UTC().Format(time.RFC3339))
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the deploy lock: %w", ctx.Err())
		case <-time.After(o.Interval):
		}
	}
}

// try makes one attempt: created, taken over, held by someone alive (HeldError), or raced (all nil).
func try(ctx context.Context, r kube.Runner, o Options) (*Lock, *HeldError, error) {
	now := o.Now()
	out, err := kube.Exec(ctx, r, kube.Create(o.Namespace, document(o, now, nil)))
	if err == nil {
		return newLock(r, o, out)
	}
	if !kube.HasReason(err, kube.AlreadyExists) {
		return nil, nil, fmt.Errorf("acquiring the deploy lock: %w", err)
	}
	cur, err := get(ctx, r, o.Namespace)
	if kube.HasReason(err, kube.NotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the deploy lock: %w", err)
	}
	expires, _ := time.Parse(time.RFC3339Nano, cur.Annotations[ExpiresAtKey])
	if now.Before(expires) && cur.Annotations[ReleasedKey] != "true" {
		return nil, &HeldError{Namespace: o.Namespace, Holder: cur.Annotations[HolderKey], Expires: expires}, nil
	}
	out, err = kube.Exec(ctx, r, kube.Replace(o.Namespace, document(o, now, cur)))
	if kube.HasReason(err, kube.Conflict) || kube.HasReason(err, kube.NotFound) {
		return nil, nil, nil // someone else took it over first
	}
	if err != nil {
		return nil, nil, fmt.Errorf("taking over the expired deploy lock: %w", err)
	}
	if prev := cur.Annotations[HolderKey]; prev != "" && cur.Annotations[ReleasedKey] != "true" {
		fmt.Fprintf(o.Progress, "took over the deploy lock on %s: %s's lock expired at %s\n", o.Namespace, prev, expires.UTC().Format(time.RFC3339))
	}
	return newLock(r, o, out)
}

func newLock(r kube.Runner, o Options, out []byte) (*Lock, *HeldError, error) {
	var cm corev1.ConfigMap
	if err := json.Unmarshal(out, &cm); err != nil {
		return nil, nil, fmt.Errorf("decoding the deploy lock: %w", err)
	}
	// AcquiredAt is taken after the write succeeded: before it, someone else may still have held the lock.
	return &Lock{r: r, o: o, AcquiredAt: o.Now(), cm: cm}, nil, nil
}

// Holder is who holds this lock.
func (l *Lock) Holder() string { return l.o.Holder }

// Renew pushes the expiry forward; it fails if someone else took the lock.
func (l *Lock) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(ctx)
}

// Release deletes the lock, only if it is still ours as we last wrote it, and stops renewal.
func (l *Lock) Release(ctx context.Context) error {
	if l.stop != nil {
		l.stop()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := kube.Exec(ctx, l.r, kube.DeleteConfigMapIfUnchanged(l.o.Namespace, Name, string(l.cm.UID), l.cm.ResourceVersion))
	if kube.HasReason(err, kube.Conflict) || kube.HasReason(err, kube.NotFound) {
		return takenOver(l.o.Namespace, err)
	}
	if err != nil {
		return fmt.Errorf("releasing the deploy lock: %w", err)
	}
	return nil
}

func (l *Lock) write(ctx context.Context) error {
	out, err := kube.Exec(ctx, l.r, kube.Replace(l.o.Namespace, document(l.o, l.o.Now(), &l.cm)))
	if kube.HasReason(err, kube.Conflict) || kube.HasReason(err, kube.NotFound) {
		return takenOver(l.o.Namespace, err)
	}
	if err != nil {
		return fmt.Errorf("updating the deploy lock: %w", err)
	}
	return json.Unmarshal(out, &l.cm)
}

func takenOver(ns string, err error) error {
	return fmt.Errorf("the deploy lock on %s was taken over by another deploy (ours had expired): %w", ns, err)
}

// KeepAlive renews the lock every TTL/3 until Release; errors go to Progress (the next renewal retries).
func (l *Lock) KeepAlive(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		t := time.NewTicker(l.o.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := l.Renew(ctx); err != nil && ctx.Err() == nil {
					fmt.Fprintf(l.o.Progress, "renewing the deploy lock: %v\n", err)
				}
			}
		}
	}()
}

func get(ctx context.Context, r kube.Runner, ns string) (*corev1.ConfigMap, error) {
	out, err := kube.Exec(ctx, r, kube.GetConfigMap(ns, Name))
	if err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(out, &cm); err != nil {
		return nil, fmt.Errorf("decoding the deploy lock: %w", err)
	}
	return &cm, nil
}

// document is the lock held by o.Holder from now; prev (if any) supplies the resourceVersion and,
// when we already hold it, the original acquisition time.
func document(o Options, now time.Time, prev *corev1.ConfigMap) []byte {
	acquired := now.UTC().Format(time.RFC3339Nano)
	rv := ""
	if prev != nil {
		rv = prev.ResourceVersion
		if prev.Annotations[HolderKey] == o.Holder && prev.Annotations[ReleasedKey] != "true" {
			acquired = prev.Annotations[AcquiredAtKey]
		}
	}
	cm := corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: o.Namespace, ResourceVersion: rv,
			Labels: map[string]string{kube.ManagedByLabel: kube.ManagedByValue, "ship/role": "deploy-lock"},
			Annotations: map[string]string{HolderKey: o.Holder, AcquiredAtKey: acquired,
				ExpiresAtKey: now.Add(o.TTL).UTC().Format(time.RFC3339Nano)}},
	}
	b, _ := json.Marshal(cm) // a ConfigMap of strings always marshals
	return b
}

func defaults(o Options) Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}
