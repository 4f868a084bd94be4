// The side-by-side comparison with the classic (seed) setup, as Markdown, so
// a reviewer can see what was removed and why without reading JSON.
package policy

import (
	"fmt"
	"strings"
)

// Comparison renders the classic grant next to ours, row by row.
func Comparison(in Inputs) (string, error) {
	b, err := Generate(in)
	if err != nil {
		return "", err
	}
	in = in.WithDefaults()
	repo := fmt.Sprintf("repo:%s/%s", in.GitHubOwner, in.GitHubRepo)
	rows := [][3]string{
		{"Trust: subject",
			fmt.Sprintf("`StringLike` sub `%s:ref:refs/heads/%s`", repo, orDefault(in.Branch, "main")),
			"`StringEquals` sub " + codeList(Subjects(in)),
		},
		{"Trust: audience", "`sts.amazonaws.com`", "`sts.amazonaws.com` (`StringEquals`)"},
		{"Managed policies",
			"AmazonEKSClusterPolicy, AmazonEKSWorkerNodePolicy",
			"none: those are for the EKS control plane and its nodes, not for CI",
		},
		{"ECR",
			"15 actions on the repository + `ecr:GetAuthorizationToken` on `*`",
			fmt.Sprintf("%d push/lookup actions on `%s` + `ecr:GetAuthorizationToken` on `*` (IAM cannot scope it)", len(PushActions), in.RepositoryARN()),
		},
		{"EKS API", "via AmazonEKSClusterPolicy", fmt.Sprintf("`eks:DescribeCluster` on `%s` only", in.ClusterARN())},
		{"Kubernetes",
			"AmazonEKSClusterAdminPolicy, whole cluster",
			fmt.Sprintf("AmazonEKSEditPolicy scoped to namespace(s) %s", codeList(b.Namespaces)),
		},
		{"Namespaces", "CI may create or delete any namespace (cluster admin)", "created once by bootstrap (admin); CI cannot create or delete them"},
	}
	var sb strings.Builder
	sb.WriteString("# CI role: classic setup vs ship\n\n")
	sb.WriteString("| Aspect | Classic setup grants | ship grants |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	sb.WriteString("\n## Why each ECR action\n\n")
	for _, a := range PushActions {
		fmt.Fprintf(&sb, "- `%s`: %s\n", a.Action, a.Why)
	}
	sb.WriteString("- `ecr:GetAuthorizationToken`: `docker login`/registry auth; IAM offers no resource to scope it to\n")
	sb.WriteString("- `eks:DescribeCluster`: the cluster endpoint and CA for kubectl\n")
	for _, w := range b.Warnings {
		fmt.Fprintf(&sb, "\n> %s\n", w)
	}
	return sb.String(), nil
}

func codeList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
