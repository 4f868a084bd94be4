// The service's own AWS identity: one runtime role per environment, assumed
// by EKS Pod Identity for the one service account the environment's pods run
// under, with the permissions the user writes. It guards against the two
// usual shortcuts: a role any pod of any cluster could get (a trust policy
// naming only pods.eks.amazonaws.com), and static keys in a Secret. The
// trust is narrowed with the session tags EKS Pod Identity sets on every
// AssumeRole (Amazon EKS User Guide, "Create IAM role with trust policy
// required by EKS Pod Identity" and "List of session tags added by EKS Pod
// Identity": eks-cluster-arn, eks-cluster-name, kubernetes-namespace,
// kubernetes-service-account, kubernetes-pod-name, kubernetes-pod-uid).
package policy

import (
	"fmt"
	"regexp"
)

// PodIdentityService is the service principal EKS Pod Identity assumes
// roles as.
const PodIdentityService = "pods.eks.amazonaws.com"

// Session-tag condition keys EKS Pod Identity's AssumeRole request carries.
const (
	ClusterARNTagKey     = "aws:RequestTag/eks-cluster-arn"
	NamespaceTagKey      = "aws:RequestTag/kubernetes-namespace"
	ServiceAccountTagKey = "aws:RequestTag/kubernetes-service-account"
)

// Runtime role naming and its inline policy.
const (
	KindRuntime           = "runtime"
	RuntimeSuffix         = "runtime"
	RuntimePolicyName     = "ship-runtime"
	DefaultServiceAccount = "default"
)

// RuntimeAccess is what an environment's pods may do in AWS.
type RuntimeAccess struct {
	// ServiceAccount is the one Kubernetes service account the environment's
	// Deployment runs under (spec.template.spec.serviceAccountName).
	ServiceAccount string
	// Policy is the user's permission policy document (JSON).
	Policy []byte
	// Source names where Policy came from, for messages
	// (e.g. overlays/prod/aws-policy.json).
	Source string
}

// PodIdentityAssociation binds a service account to a role on a cluster.
type PodIdentityAssociation struct {
	Cluster        string
	Namespace      string
	ServiceAccount string
	RoleARN        string
}

// serviceAccountRe is a DNS-1123 subdomain, what Kubernetes allows as a
// ServiceAccount name.
var serviceAccountRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// RuntimeRoleName is the role environment env's pods get.
func (in Inputs) RuntimeRoleName(env string) string { return in.roleName(env + "-" + RuntimeSuffix) }

func validateRuntime(e Environment) error {
	rt := e.Runtime
	if rt == nil {
		return nil
	}
	switch sa := rt.ServiceAccount; {
	case sa == "" || sa == DefaultServiceAccount:
		return &InputError{Field: "ServiceAccount", Value: e.Name + "=" + sa, Fix: fmt.Sprintf(
			"%s gives environment %s a runtime role, but its Deployment runs under the namespace's default service account, which every pod in %s shares: "+
				"add a ServiceAccount (e.g. named after the app) to the overlay and set spec.template.spec.serviceAccountName to it in the Deployment",
			rt.Source, e.Name, e.Namespace)}
	case len(sa) > 253 || !serviceAccountRe.MatchString(sa):
		return &InputError{Field: "ServiceAccount", Value: sa, Fix: "use a DNS-1123 name (lowercase letters, digits, '-' and '.')"}
	}
	return CheckRuntimePolicy(rt.Source, rt.Policy)
}

func runtimeRole(in Inputs, e Environment) Role {
	name := in.RuntimeRoleName(e.Name)
	r := Role{Kind: KindRuntime, Name: name, ARN: in.RoleARN(name), Environment: e.Name,
		PermissionPolicyName: RuntimePolicyName, rawPermissions: compactJSON(e.Runtime.Policy)}
	r.TrustPolicy = RuntimeTrustPolicy(in, e.Namespace, e.Runtime.ServiceAccount)
	r.PodIdentity = &PodIdentityAssociation{Cluster: in.Cluster, Namespace: e.Namespace,
		ServiceAccount: e.Runtime.ServiceAccount, RoleARN: r.ARN}
	return r
}

// RuntimeTrustPolicy lets EKS Pod Identity assume the role only with the
// session tags of this cluster, namespace and service account: without the
// conditions, any association in the account (another team's pod, another
// cluster) could be pointed at the role.
func RuntimeTrustPolicy(in Inputs, namespace, serviceAccount string) Document {
	return Document{Version: policyVersion, Statement: []Statement{{
		Sid:       "EKSPodIdentity",
		Effect:    "Allow",
		Principal: map[string]string{"Service": PodIdentityService},
		Action:    []string{"sts:AssumeRole", "sts:TagSession"},
		Condition: map[string]map[string][]string{"StringEquals": {
			ClusterARNTagKey:     {in.ClusterARN()},
			NamespaceTagKey:      {namespace},
			ServiceAccountTagKey: {serviceAccount},
		}},
	}}}
}
