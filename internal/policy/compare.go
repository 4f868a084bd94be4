// The before/after comparison with the classic (seed) setup, as Markdown, so
// a reviewer sees what each identity can do, what was removed and why,
// without reading JSON.
package policy

import (
	"fmt"
	"strings"
)

// Comparison renders the classic single role next to ship's roles.
func Comparison(in Inputs) (string, error) {
	b, err := Generate(in)
	if err != nil {
		return "", err
	}
	return comparison(in.WithDefaults(), b), nil
}

func comparison(in Inputs, b Bundle) string {
	var sb strings.Builder
	sb.WriteString("# Deploy identities: classic setup vs ship\n\n")
	writeClassic(&sb, in)
	writeShip(&sb, in, b)
	writeRuntime(&sb, b)
	writeWhy(&sb, b)
	for _, w := range b.Warnings {
		fmt.Fprintf(&sb, "\n> %s\n", w)
	}
	return sb.String()
}

func writeClassic(sb *strings.Builder, in Inputs) {
	fmt.Fprintf(sb, "## Before: the classic setup, 1 role\n\n")
	sb.WriteString("| Role | Trusted subject | AWS permissions | Kubernetes access |\n|---|---|---|---|\n")
	fmt.Fprintf(sb, "| one CI role | `StringLike` sub `repo:%s/%s:ref:refs/heads/%s` | AmazonEKSClusterPolicy, AmazonEKSWorkerNodePolicy (roles for the control plane and nodes, not for CI), 15 ECR actions + `ecr:GetAuthorizationToken` on `*` | AmazonEKSClusterAdminPolicy on the whole cluster |\n\n",
		in.GitHubOwner, in.GitHubRepo, in.Branch)
	sb.WriteString("Any job of any workflow on that branch can push any image and change anything in the cluster, every environment at once; environment reviewers protect nothing, and CI may create or delete namespaces.\n\n")
}

func writeShip(sb *strings.Builder, in Inputs, b Bundle) {
	ci := ciRoles(b)
	fmt.Fprintf(sb, "## After: ship, %d roles\n\n", len(ci))
	fmt.Fprintf(sb, "Every trust policy is `StringEquals` on `aud` = `sts.amazonaws.com`, on the repository's immutable `repository_id` = `%s` (a renamed or re-created repository of the same name gets nothing), on the exact subject below, and on the `job_workflow_ref` below (`StringLike` where it holds a `*`; another workflow file, even one merged to `%s`, gets nothing).\n\n", in.RepoID, in.Branch)
	sb.WriteString("| Role | Trusted subject | Trusted workflow (`job_workflow_ref`) | AWS permissions | Kubernetes access | Can | Cannot |\n|---|---|---|---|---|---|---|\n")
	for _, r := range ci {
		fmt.Fprintf(sb, "| `%s` | %s | `%s` | %s | %s | %s | %s |\n", r.Name, codeList(r.Subjects), r.WorkflowRef, awsSummary(in, r), kubeSummary(r), can(r), cannot(r))
	}
	sb.WriteString("\nNamespaces are created once by bootstrap (an administrator); no role can create or delete them. No role has a managed policy.\n")
}

// ciRoles are the roles GitHub Actions jobs assume (runtime roles are the
// service's, listed apart).
func ciRoles(b Bundle) []Role {
	var out []Role
	for _, r := range b.Roles {
		if r.Kind != KindRuntime {
			out = append(out, r)
		}
	}
	return out
}

// writeRuntime lists the service's own roles: no CI job can assume them.
func writeRuntime(sb *strings.Builder, b Bundle) {
	if !hasKind(b, KindRuntime) {
		return
	}
	sb.WriteString("\n## The service's own AWS access (EKS Pod Identity)\n\n")
	sb.WriteString("Assumed only by EKS Pod Identity (`pods.eks.amazonaws.com`) with the session tags of this cluster, namespace and service account; no CI job can assume them, and their permissions are the policy you wrote, with no IAM action and no `*` on `*`.\n\n")
	sb.WriteString("| Role | Cluster | Namespace | Service account |\n|---|---|---|---|\n")
	for _, r := range b.Roles {
		if p := r.PodIdentity; p != nil {
			fmt.Fprintf(sb, "| `%s` | `%s` | `%s` | `%s` |\n", r.Name, p.Cluster, p.Namespace, p.ServiceAccount)
		}
	}
}

func awsSummary(in Inputs, r Role) string {
	repo := "`" + in.RepositoryARN() + "`"
	switch r.Kind {
	case KindBuild:
		return fmt.Sprintf("%d push/lookup actions on %s + `%s` on `*` (IAM cannot scope it); no EKS action", len(BuildActions), repo, LoginGrant.Action)
	case KindDeploy:
		return fmt.Sprintf("%d read-only ECR actions on %s + `%s` on `*`; `%s` on `%s`", len(ReadActions), repo, LoginGrant.Action, DescribeClusterGrant.Action, in.ClusterARN())
	default:
		return fmt.Sprintf("`%s` on `%s` only", DescribeClusterGrant.Action, in.ClusterARN())
	}
}

func kubeSummary(r Role) string {
	if r.AccessEntry == nil {
		return "none (no access entry)"
	}
	return fmt.Sprintf("%s in %s", shortPolicyName(r.AccessEntry.PolicyARN), codeList(r.AccessEntry.Scope.Namespaces))
}

func can(r Role) string {
	switch r.Kind {
	case KindBuild:
		return "test, build and push the image once per revision"
	case KindDeploy:
		return fmt.Sprintf("deploy or promote an already published image to `%s`", r.Environment)
	default:
		return "read the app's objects to show a plan"
	}
}

func cannot(r Role) string {
	switch r.Kind {
	case KindBuild:
		return "reach the cluster"
	case KindDeploy:
		return "push images; touch another environment's namespace"
	default:
		return "push images; change anything; read Secrets"
	}
}

func writeWhy(sb *strings.Builder, b Bundle) {
	sections := []struct {
		title  string
		kind   string
		grants []Grant
	}{
		{"build role", KindBuild, append(append([]Grant(nil), BuildActions...), LoginGrant)},
		{"environment roles", KindDeploy, append(append([]Grant(nil), ReadActions...), LoginGrant, DescribeClusterGrant)},
		{"plan role", KindPlan, []Grant{DescribeClusterGrant}},
	}
	sb.WriteString("\n## Why each action\n")
	for _, s := range sections {
		if !hasKind(b, s.kind) {
			continue
		}
		fmt.Fprintf(sb, "\n### %s\n\n", s.title)
		for _, g := range s.grants {
			fmt.Fprintf(sb, "- `%s`: %s\n", g.Action, g.Why)
		}
	}
}

func hasKind(b Bundle, kind string) bool {
	for _, r := range b.Roles {
		if r.Kind == kind {
			return true
		}
	}
	return false
}

func shortPolicyName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func codeList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}
