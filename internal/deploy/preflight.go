// Preflight: before anything is tested, built or pushed, one real round trip proves that the cluster
// answers and that this identity may deploy here: a server-side dry-run of creating the namespace's lock
// (namespace exists, configmaps writable, admission passes) and an access review of every kind the overlay
// applies. Guards against the ten-minute build that ends in "Forbidden" or "namespace not found".
package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/lock"
)

// Preflight checks that the rendered set can be deployed by this identity, changing nothing.
func Preflight(ctx context.Context, c *kube.Client, manifests []byte, app, overlay string) error {
	p, err := prepare(Options{App: app, Overlay: overlay, Manifests: manifests})
	if err != nil {
		return err
	}
	probe := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": lock.Name, "namespace": p.namespace}}}
	if _, err := c.Create(ctx, probe, true); err != nil && !kube.HasReason(err, kube.AlreadyExists) {
		return fmt.Errorf("checking the cluster before the build: %w", err)
	}
	var missing []string
	for _, need := range needs(p) {
		ok, err := c.CanI(ctx, need.verb, need.gvk, p.namespace)
		if err != nil {
			return fmt.Errorf("checking the cluster before the build: %w", err)
		}
		if !ok {
			missing = append(missing, need.verb+" "+need.resource)
		}
	}
	if len(missing) > 0 {
		return errors.New("checking the cluster before the build: the deploy identity may not " + strings.Join(missing, ", ") +
			" in namespace " + p.namespace + ": bind the \"edit\" ClusterRole there (bootstrap does) or use the environment's own role")
	}
	return nil
}

type need struct {
	verb, resource string
	gvk            schema.GroupVersionKind
}

// needs is what a deploy of the set does: apply (create, patch) each kind, and follow the rollout.
func needs(p *plan) []need {
	seen := map[schema.GroupVersionKind]bool{}
	var out []need
	add := func(verb string, gvk schema.GroupVersionKind) {
		what := strings.ToLower(gvk.Kind)
		if gvk.Group != "" {
			what += "." + gvk.Group
		}
		out = append(out, need{verb: verb, resource: what, gvk: gvk})
	}
	for _, o := range p.objects {
		gvk := o.Body.GroupVersionKind()
		if seen[gvk] {
			continue
		}
		seen[gvk] = true
		add("create", gvk)
		add("patch", gvk)
	}
	add("watch", kube.PodKind)
	return out
}
