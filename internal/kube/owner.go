// Ownership: which objects in a namespace a deploy of one app's overlay may prune, roll back or report on.
// The renderer stamps three labels on every object; an object is ours only when all three match. It guards
// against the collision of two apps (or two repositories) that both deploy an overlay named "dev" into one
// shared namespace: keyed on the overlay alone, each would prune the other after a healthy rollout.
package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Labels the renderer stamps on every object.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "ship"
	OverlayLabel   = "ship/overlay"
	AppLabel       = "ship/app"
	// PreDeployJobLabel carries a pre-deploy job's name in the manifests: its runs are cleaned up by their
	// own rule (internal/predeploy), never pruned as objects no longer rendered.
	PreDeployJobLabel = "ship/pre-deploy-job"
	// HookAnnotation: PreDeployHook marks a Job as a pre-deploy job (see internal/predeploy).
	HookAnnotation = "ship/hook"
	PreDeployHook  = "pre-deploy"
)

// Owner is one app's overlay: what a deploy owns.
type Owner struct{ App, Overlay string }

// Selector selects the objects this owner deployed.
func (o Owner) Selector() string {
	return fmt.Sprintf("%s=%s,%s=%s,%s=%s", ManagedByLabel, ManagedByValue, AppLabel, o.App, OverlayLabel, o.Overlay)
}

// OverlaySelector selects every app's objects of an overlay of this name: Owns picks this owner's among
// them. Those without an app label were deployed before ship keyed ownership on the app, so they may belong
// to any app deploying an overlay of that name: they are never pruned, and a deploy that renders them again
// relabels them (server-side apply adds the app label).
func (o Owner) OverlaySelector() string {
	return fmt.Sprintf("%s=%s,%s=%s", ManagedByLabel, ManagedByValue, OverlayLabel, o.Overlay)
}

// Owns reports whether an object's labels say this owner deployed it.
func (o Owner) Owns(labels map[string]string) bool {
	return labels[ManagedByLabel] == ManagedByValue && labels[AppLabel] == o.App && labels[OverlayLabel] == o.Overlay
}

// PrunableKinds are the namespaced kinds a deploy may ship and therefore may prune. Roles and
// RoleBindings are deliberately absent: the "edit" ClusterRole the deploy identity holds can neither list nor
// write RBAC objects, so listing them would make every least-privilege deploy fail (bootstrap owns RBAC).
var PrunableKinds = []schema.GroupVersionKind{
	DeploymentKind, StatefulSetKind, DaemonSetKind, ServiceKind, ConfigMapKind,
	{Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "ServiceAccount"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, HPAKind,
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "batch", Version: "v1", Kind: "CronJob"}, {Group: "batch", Version: "v1", Kind: "Job"},
}
