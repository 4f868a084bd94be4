// Package deploy is the deployer's entry points: Run (lock, apply, wait, diagnose, roll back, record,
// prune, report), Plan, Rollback, Status, Preflight and the release record promote reads. This file
// validates the options up front so a bad input is rejected before anything touches the cluster, never
// half-way through.
package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/predeploy"
)

// Options for Run and Plan.
type Options struct {
	App, Overlay, Namespace, Image, Owner string
	Action                                string  // deploy (default) or promote: what the lock tells a successor
	Release                               Release // what the release record says on success
	Provenance                            string  // the gate's verdict, a line of the report ("" = not checked)
	Manifests                             []byte  // rendered, validated YAML
	Timeout                               time.Duration
	NoRollback                            bool
	LockWait                              time.Duration // how long to wait for another deploy's lock
	LockTTL                               time.Duration // 0 = lock.DefaultTTL
	UnschedulableGrace                    time.Duration // 0 = rollout.DefaultUnschedulableGrace
	Progress                              io.Writer
	Now                                   func() time.Time
	// Stage, when set, wraps each stage (lock, apply, wait, diagnose and roll back), e.g. in a trace span.
	Stage func(ctx context.Context, name string) (context.Context, func())
}

// stage starts a named stage through Options.Stage, or does nothing.
func (o Options) stage(ctx context.Context, name string) (context.Context, func()) {
	if o.Stage == nil {
		return ctx, func() {}
	}
	return o.Stage(ctx, name)
}

// action is what the deploy does, as the lock and the report say it.
func (o Options) action() string {
	if o.Action == "" {
		return "deploy"
	}
	return o.Action
}

// owner is what this deploy owns: the app's overlay.
func (o Options) owner() kube.Owner { return kube.Owner{App: o.App, Overlay: o.Overlay} }

// plan is the validated form of Options.
type plan struct {
	o          Options
	namespace  string
	namespaces []kube.Object   // Namespace objects, applied first
	objects    []kube.Object   // everything else
	jobs       []predeploy.Job // pre-deploy jobs, run before the objects are applied
	workloads  []kube.Ref
	scaled     map[string]string // workload ref -> the rendered HorizontalPodAutoscaler that scales it
}

func prepare(o Options) (*plan, error) {
	if o.Overlay == "" {
		return nil, errors.New("deploy: the overlay name is empty: pass the overlay that was rendered (e.g. dev)")
	}
	if o.App == "" {
		return nil, errors.New("deploy: the app name is empty: pass the name ownership labels carry (--app-name)")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	objs, err := kube.ParseManifests(o.Manifests)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if err := predeploy.CheckMarks(objs); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	p := &plan{o: o, namespace: o.Namespace, scaled: map[string]string{}}
	if p.namespace == "" {
		if p.namespace, err = kube.NamespaceOf(objs); err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
	}
	for _, obj := range objs {
		if err := p.add(obj); err != nil {
			return nil, err
		}
	}
	if len(p.objects) == 0 {
		return nil, errors.New("deploy: the rendered set holds only Namespace objects: nothing to deploy")
	}
	return p, nil
}

func (p *plan) add(obj kube.Object) error {
	if obj.IsNamespace() {
		p.namespaces = append(p.namespaces, obj)
		return nil
	}
	if obj.Namespace != "" && obj.Namespace != p.namespace {
		return fmt.Errorf("deploy: %s is in namespace %q but the deploy targets %q: fix metadata.namespace in the overlay", obj.Ref, obj.Namespace, p.namespace)
	}
	obj.Namespace = p.namespace
	obj.Body.SetNamespace(p.namespace)
	if predeploy.IsPreDeploy(obj) {
		j, err := predeploy.Prepare(obj, p.o.Timeout)
		if err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		p.jobs = append(p.jobs, j)
		return nil
	}
	p.objects = append(p.objects, obj)
	if isWorkload(obj.Ref) {
		p.workloads = append(p.workloads, obj.Ref)
	}
	if target, ok := scaleTarget(obj.Body); ok {
		p.scaled[target] = obj.Name
	}
	return nil
}

func isWorkload(r kube.Ref) bool {
	return r.Group == "apps" && (r.Kind == "Deployment" || r.Kind == "StatefulSet" || r.Kind == "DaemonSet")
}

// hasLoadBalancer: the set has a LoadBalancer Service, whose address the report should show.
func (p *plan) hasLoadBalancer() bool {
	for _, o := range p.objects {
		if o.Group == "" && o.Kind == "Service" {
			if t, _, _ := unstructured.NestedString(o.Body.Object, "spec", "type"); t == "LoadBalancer" {
				return true
			}
		}
	}
	return false
}

// holder names this deploy in the lock: the owner plus a random suffix so two runs never collide.
func holder(owner string) string {
	if owner == "" {
		owner = "ship"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return owner + "#" + hex.EncodeToString(b)
}
