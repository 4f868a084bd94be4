// The API types validate decodes manifests into. It guards the module's cold start: client-go's
// kubernetes/scheme registers every group and version Kubernetes ever served (about fifty packages of
// generated code, compiled on every fresh CI runner), while an app's manifests use the stable versions of
// a handful of groups. An object of any other apiVersion is a finding that lists these, before it reaches a
// cluster that would refuse it too (the beta versions were removed from Kubernetes in 1.22-1.26).
package validate

import (
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// scheme knows the kinds of the apiVersions an app's manifests may use.
var scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, autoscalingv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme,
		schedulingv1.AddToScheme, storagev1.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	return s
}

// acceptedVersions lists the registered apiVersions ("v1, apps/v1, ..."), for the finding that names them.
func acceptedVersions() string {
	var out []string
	for _, gv := range scheme.PrioritizedVersionsAllGroups() {
		out = append(out, gv.String())
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
