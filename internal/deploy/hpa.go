// Workloads scaled by a HorizontalPodAutoscaler. The autoscaler owns spec.replicas: a deploy that applies
// the manifest's replicas resets the workload to that count on every run, undoing the autoscaler (a busy
// service drops to two pods in the middle of a spike). So ship leaves spec.replicas out of what it applies.
// Server-side apply removes a field its manager stops applying, which would reset replicas to the default
// of 1; when ship owned the field, ownership is first handed to a placeholder manager, as the Kubernetes
// documentation prescribes ("transferring ownership"), so the field keeps its live value.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"dagger/ship/internal/kube"
)

// HandoverManager is the field manager that keeps spec.replicas once ship stops applying it.
const HandoverManager = "ship-handover-to-hpa"

// scaleTarget is, for a HorizontalPodAutoscaler, the workload it scales as "kind.group/name".
func scaleTarget(u *unstructured.Unstructured) (string, bool) {
	if u.GroupVersionKind().GroupKind() != kube.HPAKind.GroupKind() {
		return "", false
	}
	ref, _, _ := unstructured.NestedStringMap(u.Object, "spec", "scaleTargetRef")
	gv, err := schema.ParseGroupVersion(ref["apiVersion"])
	if err != nil || ref["kind"] == "" || ref["name"] == "" {
		return "", false
	}
	return kube.Ref{Group: gv.Group, Kind: ref["kind"], Name: ref["name"]}.String(), true
}

// addLiveAutoscalers adds the autoscalers already in the namespace (e.g. created by another tool).
func (p *plan) addLiveAutoscalers(live *kube.Objects) {
	for _, h := range live.HPAs {
		gv, err := schema.ParseGroupVersion(h.Spec.ScaleTargetRef.APIVersion)
		if err != nil {
			continue
		}
		target := kube.Ref{Group: gv.Group, Kind: h.Spec.ScaleTargetRef.Kind, Name: h.Spec.ScaleTargetRef.Name}.String()
		if _, ok := p.scaled[target]; !ok {
			p.scaled[target] = h.Name
		}
	}
}

// leaveReplicas removes spec.replicas from the scaled workloads ship applies, handing the field over first
// where ship owns it, and says what it did.
func leaveReplicas(ctx context.Context, c *kube.Client, p *plan) ([]string, error) {
	var notes []string
	for i := range p.objects {
		o := &p.objects[i]
		hpa, ok := p.scaled[o.Ref.String()]
		if !ok || !isWorkload(o.Ref) {
			continue
		}
		unstructured.RemoveNestedField(o.Body.Object, "spec", "replicas")
		notes = append(notes, fmt.Sprintf("%s: spec.replicas left to HorizontalPodAutoscaler %s", o.Ref, hpa))
		if err := handOver(ctx, c, o.Ref, o.Body); err != nil {
			return notes, err
		}
	}
	return notes, nil
}

// handOver gives spec.replicas a second owner with its live value when ship's apply owns it.
func handOver(ctx context.Context, c *kube.Client, ref kube.Ref, body *unstructured.Unstructured) error {
	live, err := c.Get(ctx, body.GroupVersionKind(), ref.Namespace, ref.Name)
	if kube.HasReason(err, kube.NotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s before handing spec.replicas to its autoscaler: %w", ref, err)
	}
	n, found, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
	if !found || !ownsReplicas(live) {
		return nil
	}
	keep := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": body.GetAPIVersion(), "kind": body.GetKind(),
		"metadata": map[string]any{"name": ref.Name, "namespace": ref.Namespace},
		"spec":     map[string]any{"replicas": n},
	}}
	if _, err := c.Apply(ctx, keep, kube.ApplyOptions{Manager: HandoverManager}); err != nil {
		return fmt.Errorf("handing spec.replicas of %s to its autoscaler: %w", ref, err)
	}
	return nil
}

// ownsReplicas: ship's server-side apply owns spec.replicas of the live object.
func ownsReplicas(live *unstructured.Unstructured) bool {
	for _, mf := range live.GetManagedFields() {
		if mf.Manager != kube.FieldManager || mf.Operation != "Apply" || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) != nil {
			continue
		}
		if _, ok := fields.Spec["f:replicas"]; ok {
			return true
		}
	}
	return false
}
