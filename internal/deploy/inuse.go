// ConfigMaps and Secrets that a rollback target still uses. kustomize's generators give each version of a
// ConfigMap a new hash-suffixed name; the new revision no longer renders the old one, so prune would delete
// it, and a later rollback to the revision that mounts it would fail to start. Guards against that: an
// object referenced by any revision Kubernetes still keeps (and ship did not record as failed) stays.
package deploy

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/rollout"
)

// configInUse maps "configmap/name" and "secret/name" to a revision whose pod template uses it.
func configInUse(ctx context.Context, c *kube.Client, ns string) (map[string]string, error) {
	objs, err := c.Read(ctx, ns, "", kube.ReplicaSetKind)
	if err != nil {
		return nil, fmt.Errorf("reading the revisions that may still be rolled back to: %w", err)
	}
	inUse := map[string]string{}
	for _, rs := range objs.ReplicaSets {
		if rs.Annotations[FailedAnnotation] != "" || !ownedByDeployment(rs.OwnerReferences) {
			continue
		}
		rev := rs.Annotations[rollout.RevisionAnnotation]
		for _, ref := range podConfigRefs(rs.Spec.Template.Spec) {
			if _, ok := inUse[ref]; !ok {
				inUse[ref] = rev
			}
		}
	}
	return inUse, nil
}

func ownedByDeployment(refs []metav1.OwnerReference) bool {
	for _, r := range refs {
		if r.Kind == "Deployment" {
			return true
		}
	}
	return false
}

// podConfigRefs lists the ConfigMaps and Secrets a pod spec uses: volumes (projected too), envFrom, env.
func podConfigRefs(spec corev1.PodSpec) []string {
	var out []string
	cm := func(name string) { out = append(out, "configmap/"+name) }
	sec := func(name string) { out = append(out, "secret/"+name) }
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			cm(v.ConfigMap.Name)
		case v.Secret != nil:
			sec(v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					cm(s.ConfigMap.Name)
				}
				if s.Secret != nil {
					sec(s.Secret.Name)
				}
			}
		}
	}
	for _, ctr := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, f := range ctr.EnvFrom {
			if f.ConfigMapRef != nil {
				cm(f.ConfigMapRef.Name)
			}
			if f.SecretRef != nil {
				sec(f.SecretRef.Name)
			}
		}
		for _, e := range ctr.Env {
			if e.ValueFrom == nil {
				continue
			}
			if e.ValueFrom.ConfigMapKeyRef != nil {
				cm(e.ValueFrom.ConfigMapKeyRef.Name)
			}
			if e.ValueFrom.SecretKeyRef != nil {
				sec(e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	for _, s := range spec.ImagePullSecrets {
		sec(s.Name)
	}
	return out
}
