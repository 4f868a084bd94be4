// Package lock keeps two deploys to one namespace from interleaving. The lock is a ConfigMap (the "edit"
// ClusterRole covers configmaps but not leases) that exists only while held: created (AlreadyExists means
// held), renewed by an optimistic update carrying the resourceVersion, taken over the same way once its
// holder stopped renewing, and released by a delete preconditioned on our UID and resourceVersion.
//
// Expiry is judged the way client-go's leader election judges it: by the observer's own clock, as the time
// since the lock's resourceVersion last changed, never by a timestamp the holder wrote. Two runners whose
// clocks disagree by minutes therefore cannot take a live lock from each other. It also guards against a
// crashed deploy blocking the namespace forever, two takeovers both succeeding, a holder whose lock was
// taken over releasing its successor's lock, and a holder that lost its lock carrying on (KeepAlive tells).
//
// The lease is short (15 s, renewed every 5 s) because the one holder that never releases is the one that
// was killed: a cancelled CI job or a Ctrl-C. The lock also says what its holder is doing (action, image,
// revision, phase), so whoever takes over an unreleased lock can say which deploy was interrupted, where.
package lock

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"dagger/ship/internal/kube"
)

// Object name and annotations of the lock.
const (
	Name          = "ship-deploy-lock"
	HolderKey     = "ship/lock-holder"
	AcquiredAtKey = "ship/lock-acquired-at" // holder's clock: shown to people, never used to judge expiry
	RenewedAtKey  = "ship/lock-renewed-at"  // likewise
	TTLKey        = "ship/lock-ttl-seconds" // how long observers wait for a renewal before taking over
	ExpiresAtKey  = "ship/lock-expires-at"  // written by older versions; informational
	ReleasedKey   = "ship/lock-released"    // set by releases before locks were deleted; still honoured
	ActionKey     = "ship/lock-action"      // what the holder does: deploy, promote, rollback
	ImageKey      = "ship/lock-image"       // the image it deploys
	RevisionKey   = "ship/lock-revision"    // the source revision it deploys
	PhaseKey      = "ship/lock-phase"       // where it is: lock, pre-deploy jobs, apply, rollout, ...
	// DefaultTTL is short so that a holder killed without releasing (a cancelled CI job) blocks the next
	// deploy for seconds, not minutes; renewals every TTL/3 keep a live holder's lock.
	DefaultTTL    = 15 * time.Second
	DefaultPeriod = time.Second
)

// Work is what a holder does under the lock, written into it for whoever comes next.
type Work struct {
	Action, Image, Revision string
}

// Interrupted is a holder that stopped renewing without releasing: a killed or cancelled deploy.
type Interrupted struct {
	Holder   string
	Work     Work
	Phase    string // the last phase it announced
	Acquired string // by the holder's clock
	Renewed  string // its last renewal, by the holder's clock
}

func (i *Interrupted) String() string {
	return fmt.Sprintf("%s stopped during %q without releasing the lock (started %s, last renewed %s)",
		i.What(), i.Stage(), orUnknown(i.Acquired), orUnknown(i.Renewed))
}

// Stage is the last phase the holder announced, "unknown" if none.
func (i *Interrupted) Stage() string { return orUnknown(i.Phase) }

// What names the holder's work: "deploy of IMAGE (revision R) by HOLDER".
func (i *Interrupted) What() string {
	what := orUnknown(i.Work.Action)
	if i.Work.Image != "" {
		what += " of " + i.Work.Image
	}
	if i.Work.Revision != "" {
		what += " (revision " + i.Work.Revision + ")"
	}
	return what + " by " + orUnknown(i.Holder)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Options configure Acquire.
type Options struct {
	Namespace string
	Holder    string        // unique per deploy; shown to whoever waits
	TTL       time.Duration // default DefaultTTL; renewed every TTL/3 by KeepAlive
	Wait      time.Duration // how long to wait for a held lock; 0 = refuse at once
	Interval  time.Duration // retry period while waiting; default 1 s
	Work      Work          // written into the lock for whoever finds it unreleased
	Progress  io.Writer
	// Now stamps the informational times written into the lock; expiry never depends on it.
	Now func() time.Time
}

// HeldError says who holds the lock.
type HeldError struct {
	Namespace, Holder string
	Acquired          string        // when the holder took it, by the holder's clock
	Unchanged         time.Duration // how long we saw it without a renewal
	TTL               time.Duration
	Waited            time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("another deploy holds the lock on namespace %s: %s (since %s; it is renewed every %s and taken over after %s without a renewal), waited %s: wait for it to finish, or give a longer --lock-wait",
		e.Namespace, e.Holder, e.Acquired, (e.TTL / 3).Round(time.Second), e.TTL.Round(time.Second), e.Waited.Round(time.Second))
}

// LostError says the lock is no longer ours.
type LostError struct {
	Namespace, By string
	Detail        string
}

func (e *LostError) Error() string {
	by := "another deploy"
	if e.By != "" {
		by = e.By
	}
	return fmt.Sprintf("lost the deploy lock on namespace %s to %s (%s)", e.Namespace, by, e.Detail)
}

// Lock is a held lock.
type Lock struct {
	c          *kube.Client
	o          Options
	AcquiredAt time.Time
	// Superseded is the holder whose unreleased lock this one took over: an interrupted deploy.
	Superseded *Interrupted

	mu      sync.Mutex
	cm      corev1.ConfigMap
	renewed time.Time // monotonic: our last successful write
	stop    func()
}

// observation is what a waiter saw of someone else's lock, and since when (by its own monotonic clock).
type observation struct {
	uid, rv string
	since   time.Time
}

// Acquire takes the lock, waiting up to o.Wait while another live holder has it.
func Acquire(ctx context.Context, c *kube.Client, o Options) (*Lock, error) {
	o = defaults(o)
	start, told := time.Now(), false
	var seen observation
	for {
		l, held, err := try(ctx, c, o, &seen)
		if err != nil || l != nil {
			return l, err
		}
		if held == nil {
			continue // the lock vanished or changed under us: try again at once
		}
		waited := time.Since(start)
		if waited >= o.Wait {
			held.Waited = waited
			return nil, held
		}
		if !told {
			fmt.Fprintf(o.Progress, "waiting up to %s for the deploy lock on %s, held by %s\n", (o.Wait - waited).Round(time.Second), o.Namespace, held.Holder)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the deploy lock: %w", ctx.Err())
		case <-time.After(min(o.Interval, o.Wait-waited)):
		}
	}
}

// try makes one attempt: created, taken over, held by someone alive (HeldError), or raced (all nil).
func try(ctx context.Context, c *kube.Client, o Options, seen *observation) (*Lock, *HeldError, error) {
	out, err := c.Create(ctx, document(o, nil, ""), false)
	if err == nil {
		return newLock(c, o, out)
	}
	if !kube.HasReason(err, kube.AlreadyExists) {
		return nil, nil, fmt.Errorf("acquiring the deploy lock: %w", err)
	}
	cur, err := get(ctx, c, o.Namespace)
	if kube.HasReason(err, kube.NotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the deploy lock: %w", err)
	}
	if string(cur.UID) != seen.uid || cur.ResourceVersion != seen.rv {
		*seen = observation{uid: string(cur.UID), rv: cur.ResourceVersion, since: time.Now()}
	}
	ttl := leaseOf(cur, o.TTL)
	unchanged := time.Since(seen.since)
	if unchanged < ttl && cur.Annotations[ReleasedKey] != "true" {
		return nil, &HeldError{Namespace: o.Namespace, Holder: cur.Annotations[HolderKey], Acquired: cur.Annotations[AcquiredAtKey], Unchanged: unchanged, TTL: ttl}, nil
	}
	out, err = c.Update(ctx, document(o, cur, ""))
	if kube.HasReason(err, kube.Conflict) || kube.HasReason(err, kube.NotFound) {
		return nil, nil, nil // someone else took it over first
	}
	if err != nil {
		return nil, nil, fmt.Errorf("taking over the deploy lock: %w", err)
	}
	l, held, err := newLock(c, o, out)
	if l != nil && cur.Annotations[HolderKey] != "" && cur.Annotations[ReleasedKey] != "true" {
		l.Superseded = interruptedBy(cur)
		fmt.Fprintf(o.Progress, "took over the deploy lock on %s: it was not renewed for %s; superseding an interrupted %s\n", o.Namespace, unchanged.Round(time.Second), l.Superseded)
	}
	return l, held, err
}

// interruptedBy reads what an unreleased lock says of its holder.
func interruptedBy(cm *corev1.ConfigMap) *Interrupted {
	a := cm.Annotations
	return &Interrupted{Holder: a[HolderKey], Phase: a[PhaseKey], Acquired: a[AcquiredAtKey], Renewed: a[RenewedAtKey],
		Work: Work{Action: a[ActionKey], Image: a[ImageKey], Revision: a[RevisionKey]}}
}

// leaseOf is the TTL the holder announced, or ours for locks written before it was recorded.
func leaseOf(cm *corev1.ConfigMap, fallback time.Duration) time.Duration {
	if s, err := strconv.Atoi(cm.Annotations[TTLKey]); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return fallback
}

func newLock(c *kube.Client, o Options, out *unstructured.Unstructured) (*Lock, *HeldError, error) {
	cm, err := toConfigMap(out)
	if err != nil {
		return nil, nil, err
	}
	// AcquiredAt is taken after the write succeeded: before it, someone else may still have held the lock.
	return &Lock{c: c, o: o, AcquiredAt: o.Now(), cm: *cm, renewed: time.Now()}, nil, nil
}

// Holder is who holds this lock.
func (l *Lock) Holder() string { return l.o.Holder }

// Renew writes the lock again, which changes its resourceVersion: the renewal observers wait for.
func (l *Lock) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(ctx, l.cm.Annotations[PhaseKey])
}

// SetPhase announces where the holder is, in a renewal, so an interruption can be told precisely.
func (l *Lock) SetPhase(ctx context.Context, phase string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(ctx, phase)
}

// write renews the lock with the given phase; l.mu is held.
func (l *Lock) write(ctx context.Context, phase string) error {
	out, err := l.c.Update(ctx, document(l.o, &l.cm, phase))
	if kube.HasReason(err, kube.Conflict) || kube.HasReason(err, kube.NotFound) {
		return l.lost(ctx, "it was taken over after our renewals stopped")
	}
	if err != nil {
		return fmt.Errorf("renewing the deploy lock: %w", err)
	}
	cm, err := toConfigMap(out)
	if err != nil {
		return err
	}
	l.cm, l.renewed = *cm, time.Now()
	return nil
}

// lost builds the LostError, naming the new holder when the lock can still be read.
func (l *Lock) lost(ctx context.Context, detail string) error {
	e := &LostError{Namespace: l.o.Namespace, Detail: detail}
	if cur, err := get(ctx, l.c, l.o.Namespace); err == nil {
		e.By = cur.Annotations[HolderKey]
	}
	return e
}

// Release deletes the lock, only if it is still ours as we last wrote it, and stops renewal.
func (l *Lock) Release(ctx context.Context) error {
	if l.stop != nil {
		l.stop()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.c.Delete(ctx, kube.ConfigMapKind, l.o.Namespace, Name, &kube.Precondition{UID: string(l.cm.UID), ResourceVersion: l.cm.ResourceVersion})
	if kube.HasReason(err, kube.Conflict) || kube.HasReason(err, kube.NotFound) {
		return l.lost(ctx, "it was taken over; the new holder's lock was left alone")
	}
	if err != nil {
		return fmt.Errorf("releasing the deploy lock: %w", err)
	}
	return nil
}

// KeepAlive renews the lock every TTL/3 (retrying failures every second) until Release. When the lock is
// lost, taken over or not renewed for two thirds of its TTL (after a whole TTL an observer may take it),
// it calls lost once and stops: the caller must stop changing the namespace.
func (l *Lock) KeepAlive(ctx context.Context, lost func(error)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		next := l.o.TTL / 3
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(next):
			}
			err := l.Renew(ctx)
			if ctx.Err() != nil {
				return
			}
			next = l.o.TTL / 3
			if err == nil {
				continue
			}
			if _, ok := err.(*LostError); ok {
				lost(err)
				return
			}
			l.mu.Lock()
			since := time.Since(l.renewed)
			l.mu.Unlock()
			if since >= 2*l.o.TTL/3 {
				lost(&LostError{Namespace: l.o.Namespace, Detail: fmt.Sprintf("it could not be renewed for %s: %v", since.Round(time.Second), err)})
				return
			}
			fmt.Fprintf(l.o.Progress, "renewing the deploy lock failed, retrying: %v\n", err)
			next = min(time.Second, l.o.TTL/3)
		}
	}()
}

// State is what a namespace's lock says now, for status: nil when no deploy holds it.
type State struct {
	Interrupted
	TTL time.Duration
	// Stale: by this machine's clock, the holder's last renewal is older than its TTL. Clocks may differ,
	// so this is an estimate for people; deploys judge expiry by watching (see Acquire).
	Stale bool
}

// Inspect reads the namespace's lock without touching it.
func Inspect(ctx context.Context, c *kube.Client, ns string, now time.Time) (*State, error) {
	cm, err := get(ctx, c, ns)
	if kube.HasReason(err, kube.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the deploy lock: %w", err)
	}
	if cm.Annotations[ReleasedKey] == "true" {
		return nil, nil
	}
	st := &State{Interrupted: *interruptedBy(cm), TTL: leaseOf(cm, DefaultTTL)}
	if renewed, err := time.Parse(time.RFC3339Nano, cm.Annotations[RenewedAtKey]); err == nil {
		st.Stale = now.Sub(renewed) > st.TTL
	}
	return st, nil
}

func get(ctx context.Context, c *kube.Client, ns string) (*corev1.ConfigMap, error) {
	out, err := c.Get(ctx, kube.ConfigMapKind, ns, Name)
	if err != nil {
		return nil, err
	}
	return toConfigMap(out)
}

func toConfigMap(u *unstructured.Unstructured) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cm); err != nil {
		return nil, fmt.Errorf("decoding the deploy lock: %w", err)
	}
	return &cm, nil
}

// document is the lock held by o.Holder; prev (if any) supplies the UID-bound resourceVersion and, when we
// already hold it, the original acquisition time; phase (if any) is where the holder is.
func document(o Options, prev *corev1.ConfigMap, phase string) *unstructured.Unstructured {
	now := o.Now().UTC().Format(time.RFC3339Nano)
	acquired, rv := now, ""
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
			Annotations: map[string]string{HolderKey: o.Holder, AcquiredAtKey: acquired, RenewedAtKey: now,
				TTLKey: strconv.Itoa(int(o.TTL.Round(time.Second) / time.Second))}},
	}
	for k, v := range map[string]string{ActionKey: o.Work.Action, ImageKey: o.Work.Image, RevisionKey: o.Work.Revision, PhaseKey: phase} {
		if v != "" {
			cm.Annotations[k] = v
		}
	}
	obj, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(&cm) // a ConfigMap of strings always converts
	return &unstructured.Unstructured{Object: obj}
}

func defaults(o Options) Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.TTL < time.Second {
		o.TTL = time.Second // the TTL is written in whole seconds
	}
	if o.Interval <= 0 {
		o.Interval = DefaultPeriod
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}
