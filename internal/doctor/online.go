// Online checks with the given AWS credentials: can they describe the
// cluster, does the repository exist, does the role's access entry cover the
// app's namespaces. Each failure names the missing permission or resource and
// the command that fixes it, instead of the bare 403 kubectl/docker print.
package doctor

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"dagger/ship/internal/bootstrap"
	"dagger/ship/internal/policy"
)

func runOnline(ctx context.Context, in Inputs, r Report) Report {
	if missing := missingNames(in); missing != "" {
		for _, name := range []string{CheckCluster, CheckRepository, CheckAccessEntry} {
			r.Checks = append(r.Checks, Check{Name: name, Status: Skip, Detail: "not configured: set " + missing})
		}
		return withCheck(r, checkEndpoint(ctx, in, in.ClusterEndpoint, in.ClusterCAPEM))
	}
	c := bootstrap.NewClients(*in.AWS)
	if in.RoleName == in.Policy.BuildRoleName() {
		byDesign := "the build role has no cluster access, by design"
		return withCheck(r, Check{Name: CheckCluster, Status: Skip, Detail: byDesign}, checkRepository(ctx, in, c),
			Check{Name: CheckAccessEntry, Status: Skip, Detail: byDesign}, Check{Name: CheckEndpoint, Status: Skip, Detail: byDesign})
	}
	endpoint, ca, cc := checkCluster(ctx, in, c)
	r.Checks = append(r.Checks, cc, checkRepository(ctx, in, c), checkAccessEntry(ctx, in, c))
	if in.ClusterEndpoint != "" {
		endpoint, ca = in.ClusterEndpoint, in.ClusterCAPEM
	}
	r.Checks = append(r.Checks, checkEndpoint(ctx, in, endpoint, ca))
	return r
}

// missingNames lists the Inputs fields the online checks need but lack.
func missingNames(in Inputs) string {
	p := in.Policy
	var out []string
	for name, v := range map[string]string{"Account": p.Account, "Region": p.Region, "Cluster": p.Cluster,
		"ECRRepository": p.ECRRepository, "RoleName (or Environment)": in.RoleName} {
		if v == "" {
			out = append(out, name)
		}
	}
	if len(in.Namespaces) == 0 && in.RoleName != p.BuildRoleName() {
		out = append(out, "Namespaces (or Environment)")
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func withCheck(r Report, cs ...Check) Report {
	r.Checks = append(r.Checks, cs...)
	return r
}

func isDenied(err error) bool {
	code := bootstrap.ErrorCode(err)
	return code == "AccessDenied" || code == "AccessDeniedException" || code == "UnauthorizedOperation"
}

func checkCluster(ctx context.Context, in Inputs, c bootstrap.Clients) (string, []byte, Check) {
	ck := Check{Name: CheckCluster}
	name := in.Policy.Cluster
	out, err := c.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: &name})
	switch {
	case isDenied(err):
		ck.Status, ck.Detail = Fail, fmt.Sprintf("denied for cluster %s: kubectl cannot get the endpoint and CA", name)
		ck.Fix = fmt.Sprintf("allow eks:DescribeCluster on %s in the role's policy (ship bootstrap does)", in.Policy.ClusterARN())
		return "", nil, ck
	case bootstrap.ErrorCode(err) == "ResourceNotFoundException":
		ck.Status, ck.Detail = Fail, fmt.Sprintf("no cluster %q in %s", name, in.Policy.Region)
		ck.Fix = "set Cluster and Region to the cluster's name and region (aws eks list-clusters)"
		return "", nil, ck
	case err != nil:
		ck.Status, ck.Detail, ck.Fix = Fail, fmt.Sprintf("describe cluster %s: %v", name, err), "check the AWS credentials and region"
		return "", nil, ck
	}
	cl := out.Cluster
	ca, caErr := clusterCA(cl)
	if cl.Status != ekstypes.ClusterStatusActive {
		ck.Status, ck.Detail, ck.Fix = Fail, fmt.Sprintf("cluster %s is %s", name, cl.Status), "wait until the cluster is ACTIVE"
	} else if caErr != nil {
		ck.Status, ck.Detail, ck.Fix = Fail, caErr.Error(), "check the cluster in the EKS console"
	} else {
		ck.Status, ck.Detail = Pass, fmt.Sprintf("cluster %s is ACTIVE (Kubernetes %s), endpoint %s", name, aws.ToString(cl.Version), aws.ToString(cl.Endpoint))
	}
	return aws.ToString(cl.Endpoint), ca, ck
}

func clusterCA(cl *ekstypes.Cluster) ([]byte, error) {
	if cl.CertificateAuthority == nil || cl.CertificateAuthority.Data == nil {
		return nil, fmt.Errorf("cluster %s reports no certificate authority", aws.ToString(cl.Name))
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(cl.CertificateAuthority.Data))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: certificate authority is not base64: %w", aws.ToString(cl.Name), err)
	}
	return ca, nil
}

func checkRepository(ctx context.Context, in Inputs, c bootstrap.Clients) Check {
	ck := Check{Name: CheckRepository}
	name := in.Policy.ECRRepository
	out, err := c.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	switch {
	case isDenied(err):
		ck.Status, ck.Detail = Fail, "ecr:DescribeRepositories denied for "+name
		ck.Fix = fmt.Sprintf("allow ecr:DescribeRepositories on %s (ship bootstrap's policy does)", in.Policy.RepositoryARN())
	case bootstrap.ErrorCode(err) == "RepositoryNotFoundException":
		ck.Status, ck.Detail = Fail, fmt.Sprintf("repository %q does not exist in %s/%s", name, in.Policy.Account, in.Policy.Region)
		ck.Fix = "run ship bootstrap, or set ECRRepository to the existing repository"
	case err != nil:
		ck.Status, ck.Detail, ck.Fix = Fail, fmt.Sprintf("describe repository %s: %v", name, err), "check the AWS credentials and region"
	default:
		ck.Status, ck.Detail = Pass, fmt.Sprintf("%s exists", aws.ToString(out.Repositories[0].RepositoryUri))
	}
	return ck
}

// writePolicies are the access policies that let kubectl apply workloads.
var writePolicies = map[string]bool{
	"AmazonEKSEditPolicy": true, "AmazonEKSAdminPolicy": true, "AmazonEKSClusterAdminPolicy": true,
}

func checkAccessEntry(ctx context.Context, in Inputs, c bootstrap.Clients) Check {
	ck := Check{Name: CheckAccessEntry}
	p := in.Policy
	role := in.roleARN()
	_, err := c.EKS.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: &p.Cluster, PrincipalArn: &role})
	var assoc []ekstypes.AssociatedAccessPolicy
	if err == nil {
		assoc, err = bootstrap.ListAssociations(ctx, c.EKS, p.Cluster, role)
	}
	switch {
	case isDenied(err):
		ck.Status, ck.Detail = Skip, "reading access entries was denied: expected as the CI role, which cannot read EKS access configuration"
		ck.Fix = "run doctor with administrator credentials to check the access entry"
		return ck
	case bootstrap.ErrorCode(err) == "ResourceNotFoundException":
		ck.Status, ck.Detail = Fail, fmt.Sprintf("cluster %s has no access entry for %s: kubectl will answer \"You must be logged in to the server (Unauthorized)\"", p.Cluster, role)
		ck.Fix = fmt.Sprintf("run ship bootstrap, or: aws eks create-access-entry --cluster-name %s --principal-arn %s --type STANDARD", p.Cluster, role)
		return ck
	case err != nil:
		ck.Status, ck.Detail, ck.Fix = Fail, fmt.Sprintf("read access entry: %v", err), "check the AWS credentials and region"
		return ck
	}
	return coverage(ck, p, in.Namespaces, role, assoc)
}

// coverage checks that some write policy covers every namespace.
func coverage(ck Check, p policy.Inputs, namespaces []string, role string, assoc []ekstypes.AssociatedAccessPolicy) Check {
	var missing, have []string
	broad := ""
	for _, ns := range namespaces {
		covered := false
		for _, a := range assoc {
			name := shortName(aws.ToString(a.PolicyArn))
			if writePolicies[name] && scopeCovers(a.AccessScope, ns) {
				covered = true
				if a.AccessScope.Type == ekstypes.AccessScopeTypeCluster || name == "AmazonEKSClusterAdminPolicy" {
					broad = name
				}
			}
		}
		if !covered {
			missing = append(missing, ns)
		}
	}
	for _, a := range assoc {
		have = append(have, describeAssociation(a))
	}
	if len(missing) > 0 {
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("the app deploys to namespace(s) %s, but %s has %s: kubectl apply there will be Forbidden",
			strings.Join(missing, ","), role, orNone(have))
		ck.Fix = fmt.Sprintf("aws eks associate-access-policy --cluster-name %s --principal-arn %s --policy-arn %s --access-scope type=namespace,namespaces=%s",
			p.Cluster, role, policy.EditPolicyARN(p.Partition), strings.Join(namespaces, ","))
		return ck
	}
	ck.Status, ck.Detail = Pass, fmt.Sprintf("%s covers namespace(s) %s", strings.Join(have, "; "), strings.Join(namespaces, ","))
	if broad != "" {
		ck.Detail += fmt.Sprintf(" (but %s is broader than needed: prefer AmazonEKSEditPolicy scoped to the namespaces)", broad)
	}
	return ck
}

func scopeCovers(s *ekstypes.AccessScope, ns string) bool {
	if s == nil {
		return false
	}
	if s.Type == ekstypes.AccessScopeTypeCluster {
		return true
	}
	for _, pat := range s.Namespaces {
		// EKS allows a trailing '*' in namespace scopes.
		if pat == ns || (strings.HasSuffix(pat, "*") && strings.HasPrefix(ns, strings.TrimSuffix(pat, "*"))) {
			return true
		}
	}
	return false
}

func describeAssociation(a ekstypes.AssociatedAccessPolicy) string {
	name := shortName(aws.ToString(a.PolicyArn))
	if a.AccessScope == nil {
		return name
	}
	if a.AccessScope.Type == ekstypes.AccessScopeTypeCluster {
		return name + " on the whole cluster"
	}
	return fmt.Sprintf("%s in namespace(s) %s", name, strings.Join(a.AccessScope.Namespaces, ","))
}

func shortName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "no access policy associated"
	}
	return strings.Join(ss, "; ")
}
