// Static AWS keys in manifests. A key in a manifest is in git, in every
// rendered plan and in the cluster for anyone who can read the object; it
// never rotates, and the AWS SDKs read environment keys before the container
// credentials EKS Pod Identity provides, so it silently replaces the runtime
// role. A literal key fails validation; keys taken from a Secret warn (they
// stay out of git, but still override the runtime role and never rotate).
package validate

import (
	"fmt"
	"regexp"

	corev1 "k8s.io/api/core/v1"
)

// staticKeyVars are the environment variables the AWS SDKs read static
// credentials from.
var staticKeyVars = map[string]bool{"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true}

// accessKeyIDRe matches long-term (AKIA) and temporary (ASIA) access key IDs.
var accessKeyIDRe = regexp.MustCompile(`^(AKIA|ASIA)[A-Z2-7]{16}$`)

const useRuntimeRole = "use the environment's runtime role instead: put its permissions in overlays/<env>/aws-policy.json and run bootstrap (see \"Your service's AWS access\" in the README)"

// checkStaticKeys looks at every container's env and every ConfigMap.
func checkStaticKeys(r *Report, objs []decoded) {
	for _, d := range objs {
		if cm, ok := d.obj.(*corev1.ConfigMap); ok {
			checkConfigMapKeys(r, d.name, cm)
			continue
		}
		spec, base, _ := podSpecOf(d.obj)
		if spec == nil {
			continue
		}
		for _, c := range spec.InitContainers {
			checkEnvKeys(r, d.name, fmt.Sprintf("%s.initContainers[%s].env", base, c.Name), c.Env)
		}
		for _, c := range spec.Containers {
			checkEnvKeys(r, d.name, fmt.Sprintf("%s.containers[%s].env", base, c.Name), c.Env)
		}
	}
}

func checkEnvKeys(r *Report, object, path string, env []corev1.EnvVar) {
	for _, e := range env {
		field := path + "[" + e.Name + "]"
		switch {
		case staticKeyVars[e.Name] && e.Value != "":
			r.Findings = append(r.Findings, Finding{Object: object, Field: field + ".value",
				Message: "a static AWS key written in the manifest (in git, never rotated, and it overrides the pod's role); " + useRuntimeRole})
		case accessKeyIDRe.MatchString(e.Value):
			r.Findings = append(r.Findings, Finding{Object: object, Field: field + ".value",
				Message: "holds an AWS access key ID written in the manifest; " + useRuntimeRole})
		case staticKeyVars[e.Name] && e.ValueFrom != nil:
			r.Findings = append(r.Findings, Finding{Object: object, Field: field + ".valueFrom", Severity: Warning,
				Message: "static AWS keys from " + source(e.ValueFrom) + ": the AWS SDK prefers them to the pod's role, and they never rotate; " + useRuntimeRole})
		}
	}
}

func checkConfigMapKeys(r *Report, object string, cm *corev1.ConfigMap) {
	for k, v := range cm.Data {
		if (staticKeyVars[k] && v != "") || accessKeyIDRe.MatchString(v) {
			r.Findings = append(r.Findings, Finding{Object: object, Field: "data." + k,
				Message: "a static AWS key written in the manifest (in git and readable by anyone who can read ConfigMaps); " + useRuntimeRole})
		}
	}
}

func source(v *corev1.EnvVarSource) string {
	if s := v.SecretKeyRef; s != nil {
		return fmt.Sprintf("Secret %s key %s", s.Name, s.Key)
	}
	if c := v.ConfigMapKeyRef; c != nil {
		return fmt.Sprintf("ConfigMap %s key %s", c.Name, c.Key)
	}
	return "a reference"
}
