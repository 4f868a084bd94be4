// What EKS Pod Identity does when a pod asks its agent for credentials: find
// the association of the pod's service account, then assume its role as the
// service principal pods.eks.amazonaws.com, sending the session tags (unless
// the association disables them), with both sts:AssumeRole and
// sts:TagSession evaluated against the role's trust policy. It lets tests
// prove that a generated trust admits exactly the intended pods, which no
// amount of comparing documents can.
package fakeaws

import (
	"fmt"
	"strings"
	"time"
)

// PodIdentityService is the principal EKS Pod Identity assumes roles as.
const PodIdentityService = "pods.eks.amazonaws.com"

// PodCredentials are what the agent hands a pod.
type PodCredentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	RoleARN, AssumedRoleARN                    string
}

// AssumeRoleForPod returns the credentials a pod of namespace/serviceAccount
// on cluster would get, or why it gets none.
func (s *Server) AssumeRoleForPod(cluster, namespace, serviceAccount, pod string) (PodCredentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cl, ok := s.state.clusters[cluster]
	if !ok {
		return PodCredentials{}, fmt.Errorf("no cluster %s", cluster)
	}
	var assoc *PodIdentityAssociation
	for _, a := range s.associations(cluster) {
		if a.Namespace == namespace && a.ServiceAccount == serviceAccount {
			assoc = a
		}
	}
	if assoc == nil {
		return PodCredentials{}, fmt.Errorf("no EKS Pod Identity association for %s/%s on %s", namespace, serviceAccount, cluster)
	}
	role := s.roleByARN(assoc.RoleARN)
	if role == nil {
		return PodCredentials{}, fmt.Errorf("role %s does not exist", assoc.RoleARN)
	}
	ctx := map[string][]string{}
	if !assoc.DisableSessionTags {
		for k, v := range map[string]string{"eks-cluster-arn": cl.ARN, "eks-cluster-name": cl.Name, "kubernetes-namespace": namespace,
			"kubernetes-service-account": serviceAccount, "kubernetes-pod-name": pod, "kubernetes-pod-uid": "uid-" + pod} {
			ctx["aws:requesttag/"+k] = []string{v}
		}
	}
	for _, action := range []string{"sts:AssumeRole", "sts:TagSession"} {
		if !allows(role.TrustPolicy, trustRequest{action, "Service", []string{PodIdentityService}, ctx}) {
			return PodCredentials{}, fmt.Errorf("%s is not authorized to perform %s on %s", PodIdentityService, action, role.ARN)
		}
	}
	session := "eks-" + cluster + "-" + pod
	if len(session) > 64 {
		session = session[:64]
	}
	p := s.issueSession(role, strings.ReplaceAll(session, "_", "-"), 6*time.Hour)
	return PodCredentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.secret, SessionToken: p.SessionToken,
		RoleARN: role.ARN, AssumedRoleARN: p.ARN}, nil
}
