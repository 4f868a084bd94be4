// Workload checks: what every container must carry before it may run in
// an environment. Each finding names the field to fix.
package validate

import (
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"dagger/ship/internal/render"
)

type addFunc func(field, msg string)

// podSpecOf returns a workload's pod spec, its field path, and whether its
// containers are long-running (and so need probes).
func podSpecOf(obj runtime.Object) (*corev1.PodSpec, string, bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, "spec.template.spec", true
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec, "spec.template.spec", true
	case *appsv1.DaemonSet:
		return &o.Spec.Template.Spec, "spec.template.spec", true
	case *corev1.Pod:
		return &o.Spec, "spec", true
	case *batchv1.Job:
		return &o.Spec.Template.Spec, "spec.template.spec", false
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec, "spec.jobTemplate.spec.template.spec", false
	}
	return nil, "", false
}

func checkObject(obj runtime.Object, add addFunc, opts Options) {
	spec, base, longRunning := podSpecOf(obj)
	if spec == nil {
		return
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		checkContainer(spec, c, base+".initContainers["+c.Name+"]", false, add, opts)
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		checkContainer(spec, c, base+".containers["+c.Name+"]", longRunning, add, opts)
	}
}

func checkContainer(spec *corev1.PodSpec, c *corev1.Container, path string, probes bool, add addFunc, opts Options) {
	checkImage(c.Image, path+".image", add, opts)
	if probes {
		if c.LivenessProbe == nil {
			add(path+".livenessProbe", "missing; add one so a hung process is restarted")
		}
		if c.ReadinessProbe == nil {
			add(path+".readinessProbe", "missing; add one so traffic waits until the pod can serve")
		}
	}
	checkResources(c.Resources, path+".resources", add)
	checkSecurity(spec.SecurityContext, c.SecurityContext, path+".securityContext", add)
}

var digestRe = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func checkImage(image, field string, add addFunc, opts Options) {
	if image == "" {
		add(field, "missing")
		return
	}
	name, tag, digest := render.SplitImage(image)
	hasDigest := strings.Contains(image, "@")
	switch {
	case opts.ImageName != "" && name == opts.ImageName:
		add(field, "still the logical placeholder "+quote(name)+"; render with the pushed image (e.g. --image <registry>/<repo>@sha256:<digest>)")
		return
	case hasDigest && !digestRe.MatchString(digest):
		add(field, "bad digest "+quote(digest)+"; it must be sha256: followed by 64 lowercase hex characters")
	case tag == "latest" && !hasDigest:
		add(field, "uses :latest; pin a version tag or, better, a digest")
	case tag == "" && !hasDigest && !render.HasRegistryHost(name):
		add(field, "has no tag or digest (so it means :latest); pin it, or, if "+quote(name)+" is your app's logical image name, pass --image-name "+name+" so ship replaces it")
	case tag == "" && !hasDigest:
		add(field, "has no tag or digest (so it means :latest); pin it")
	}
	if opts.RequireDigest && !hasDigest {
		add(field, "not pinned by digest; use the @sha256: reference the push returned")
	}
}

func checkResources(res corev1.ResourceRequirements, path string, add addFunc) {
	for _, kind := range []struct {
		field string
		list  corev1.ResourceList
	}{{"requests", res.Requests}, {"limits", res.Limits}} {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := kind.list[name]; !ok {
				add(path+"."+kind.field+"."+string(name), "missing; set it so the scheduler and the kernel can bound the container")
			}
		}
	}
}

// checkSecurity checks the effective security context: container settings
// override pod settings for runAsNonRoot and seccompProfile.
func checkSecurity(pod *corev1.PodSecurityContext, c *corev1.SecurityContext, path string, add addFunc) {
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if c == nil {
		c = &corev1.SecurityContext{}
	}
	runAsNonRoot := pod.RunAsNonRoot
	if c.RunAsNonRoot != nil {
		runAsNonRoot = c.RunAsNonRoot
	}
	if runAsNonRoot == nil || !*runAsNonRoot {
		add(path+".runAsNonRoot", "must be true (here or in the pod securityContext)")
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		add(path+".readOnlyRootFilesystem", "must be true; mount an emptyDir for paths the app writes")
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		add(path+".allowPrivilegeEscalation", "must be set to false")
	}
	if c.Privileged != nil && *c.Privileged {
		add(path+".privileged", "must not be true")
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") {
		add(path+".capabilities.drop", "must contain ALL")
	}
	seccomp := pod.SeccompProfile
	if c.SeccompProfile != nil {
		seccomp = c.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add(path+".seccompProfile.type", "must be RuntimeDefault (here or in the pod securityContext)")
	}
}
