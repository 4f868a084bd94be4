// The steps bootstrap cannot do for the user: GitHub variables and
// environment protection. The second matters for security, not convenience:
// an `environment:<env>` subject does not name the branch, so AWS would let a
// job from any branch the environment admits assume that environment's role.
// Only the environment's deployment-branch policy closes that gap.
package bootstrap

import (
	"fmt"
	"strings"

	"dagger/ship/internal/policy"
)

// NextSteps lists the repository and environment variables to set and the
// protection rules each GitHub environment needs.
func NextSteps(in policy.Inputs) (string, error) {
	b, err := policy.Generate(in)
	if err != nil {
		return "", err
	}
	in = in.WithDefaults()
	var sb strings.Builder
	sb.WriteString("next steps in GitHub:\n")
	sb.WriteString("  1. repository variables (Settings > Secrets and variables > Actions > Variables; none is a secret):\n")
	fmt.Fprintf(&sb, "       AWS_REGION=%s\n       ECR_REPOSITORY=%s\n       EKS_CLUSTER=%s\n       AWS_BUILD_ROLE_ARN=%s\n",
		in.Region, in.ECRRepository, in.Cluster, in.RoleARN(in.BuildRoleName()))
	if in.PlanRole {
		fmt.Fprintf(&sb, "       AWS_PLAN_ROLE_ARN=%s and SHIP_PLAN_ON_PR=true (only if you accept the plan role's risk printed above)\n",
			in.RoleARN(in.PlanRoleName()))
	}
	sb.WriteString("  2. one GitHub environment per deploy role (Settings > Environments), each with its own variable AWS_ROLE_ARN:\n")
	for _, r := range b.Roles {
		if r.Kind == policy.KindDeploy {
			fmt.Fprintf(&sb, "       %s: AWS_ROLE_ARN=%s\n", r.Environment, r.ARN)
		}
	}
	fmt.Fprintf(&sb, "  3. on every environment, set Deployment branches to the selected branch %q only, and add required reviewers to %s:\n",
		in.Branch, approvalEnvironment(in))
	sb.WriteString("     a job's environment:<env> subject does not name its branch, so without that policy a job from any branch\n")
	sb.WriteString("     the environment admits could assume the environment's role.\n")
	return sb.String(), nil
}

// approvalEnvironment is prod when there is one, else the last environment
// (the mapping lists environments in promotion order).
func approvalEnvironment(in policy.Inputs) string {
	for _, e := range in.Environments {
		if strings.EqualFold(e.Name, "prod") || strings.EqualFold(e.Name, "production") {
			return e.Name
		}
	}
	return in.Environments[len(in.Environments)-1].Name
}
