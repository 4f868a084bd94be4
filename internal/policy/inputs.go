// Inputs describe the one repository, cluster and environments the generated
// roles may touch. Validation lives here so that a typo (a wildcard branch, a
// bad account number, two environments sharing a namespace) is refused before
// any document is generated, instead of producing a policy that silently
// trusts too much or matches nothing.
package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// GitHub's OIDC issuer and the audience AWS expects in its tokens.
const (
	GitHubIssuerURL  = "https://token.actions.githubusercontent.com"
	GitHubIssuerHost = "token.actions.githubusercontent.com"
	STSAudience      = "sts.amazonaws.com"
)

// Inputs is everything the generated policies are scoped to.
type Inputs struct {
	Account     string // 12-digit AWS account ID
	Region      string
	Partition   string // "aws" when empty
	GitHubOwner string
	GitHubRepo  string
	// RepoID is the repository's immutable numeric ID (GitHub's
	// repository_id claim), required: every CI role's trust pins it, so a
	// renamed, deleted or re-created repository of the same name gets
	// nothing. With OwnerID it also switches subjects to GitHub's immutable
	// format repo:OWNER@ID/REPO@ID:...
	RepoID  string
	OwnerID string
	// DeployWorkflow is the workflow file (under .github/workflows/) whose
	// jobs may assume the build and environment roles; PRWorkflow the one
	// whose pull_request jobs may assume the plan role. Their
	// job_workflow_ref is pinned, so another workflow file, even one merged
	// to the trusted branch, cannot assume a role.
	DeployWorkflow string
	PRWorkflow     string
	// IncludeNameSubjects also trusts the name-based subject when the
	// immutable format is in use (for the migration window).
	IncludeNameSubjects bool
	// Branch is the one branch the build role trusts ("main" when empty).
	Branch string
	// AllowWildcardSubject allows * and ? in Branch (printed as a risk).
	AllowWildcardSubject bool
	// Environments maps each GitHub environment to the one namespace its
	// deploy role may edit, in the order the roles are listed.
	Environments []Environment
	// PlanRole adds the opt-in read-only role for pull requests.
	PlanRole      bool
	ECRRepository string
	Cluster       string
}

// InputError names the field that is wrong and how to fix it.
type InputError struct {
	Field string
	Value string
	Fix   string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("policy input %s=%q is invalid: %s", e.Field, e.Value, e.Fix)
}

var (
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	ghNameRe  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
	ghIDRe    = regexp.MustCompile(`^[0-9]{1,20}$`)
	// workflowRe: a file directly under .github/workflows/, as GitHub runs them.
	workflowRe  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,200}\.ya?ml$`)
	ecrRepoRe   = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	clusterRe   = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)
	namespaceRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	roleNameRe  = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	// refRe: what git allows in a branch name, minus ':' (the sub separator).
	refRe = regexp.MustCompile(`^[^\s~^:\\\[\x00-\x1f\x7f]{1,255}$`)
)

var partitions = map[string]bool{"aws": true, "aws-cn": true, "aws-us-gov": true}

// repoIDFix says where to find the ID when it is missing, and what it must
// look like when it is wrong.
func repoIDFix(in Inputs) string {
	if in.RepoID == "" {
		return "the repository ID is required: every role's trust pins it, so a renamed or re-created repository of the same name gets nothing; " + RepoIDHelp(in.GitHubOwner, in.GitHubRepo)
	}
	return "use the numeric repository ID (digits only, not OWNER/REPO); " + RepoIDHelp(in.GitHubOwner, in.GitHubRepo)
}

// WithDefaults fills Partition, Branch and the workflow files.
func (in Inputs) WithDefaults() Inputs {
	if in.Partition == "" {
		in.Partition = "aws"
	}
	if in.Branch == "" {
		in.Branch = "main"
	}
	if in.DeployWorkflow == "" {
		in.DeployWorkflow = DefaultDeployWorkflow
	}
	if in.PRWorkflow == "" {
		in.PRWorkflow = DefaultPRWorkflow
	}
	return in
}

// Default workflow files: the repository's own .github/workflows/deploy.yml
// (build, staging, prod) and pr.yml (the opt-in plan job).
const (
	DefaultDeployWorkflow = "deploy.yml"
	DefaultPRWorkflow     = "pr.yml"
)

// RepoIDHelp says where a repository's numeric ID is found.
func RepoIDHelp(owner, repo string) string {
	if owner == "" || repo == "" {
		owner, repo = "OWNER", "REPO"
	}
	return fmt.Sprintf("pass the repository's numeric ID (--github-repo-id): `gh api repos/%s/%s --jq .id`, or `curl -s https://api.github.com/repos/%s/%s | jq .id` (private repositories need a token), or the repository_id that doctor prints for a token of one of its jobs", owner, repo, owner, repo)
}

// Validate checks every field and returns the first *InputError.
func (in Inputs) Validate() error {
	in = in.WithDefaults()
	checks := []struct {
		field, value string
		ok           bool
		fix          string
	}{
		{"Account", in.Account, accountRe.MatchString(in.Account), "use the 12-digit AWS account ID"},
		{"Region", in.Region, regionRe.MatchString(in.Region), "use a region code such as eu-west-1"},
		{"Partition", in.Partition, partitions[in.Partition], "use aws, aws-cn or aws-us-gov"},
		{"GitHubOwner", in.GitHubOwner, ghNameRe.MatchString(in.GitHubOwner), "use the GitHub user or organization name"},
		{"GitHubRepo", in.GitHubRepo, ghNameRe.MatchString(in.GitHubRepo), "use the repository name without the owner"},
		{"RepoID", in.RepoID, ghIDRe.MatchString(in.RepoID), repoIDFix(in)},
		{"OwnerID", in.OwnerID, in.OwnerID == "" || ghIDRe.MatchString(in.OwnerID), "use the numeric owner ID (`gh api users/OWNER --jq .id`) or leave it empty"},
		{"DeployWorkflow", in.DeployWorkflow, workflowRe.MatchString(in.DeployWorkflow), "name the deploy workflow's file under .github/workflows/, e.g. deploy.yml"},
		{"PRWorkflow", in.PRWorkflow, workflowRe.MatchString(in.PRWorkflow), "name the pull request workflow's file under .github/workflows/, e.g. pr.yml"},
		{"ECRRepository", in.ECRRepository, len(in.ECRRepository) >= 2 && len(in.ECRRepository) <= 256 && ecrRepoRe.MatchString(in.ECRRepository), "use a lowercase ECR repository name such as team/app"},
		{"Cluster", in.Cluster, clusterRe.MatchString(in.Cluster), "use the EKS cluster name (letters, digits, - and _)"},
	}
	for _, c := range checks {
		if !c.ok {
			return &InputError{Field: c.field, Value: c.value, Fix: c.fix}
		}
	}
	if err := in.validateBranch(); err != nil {
		return err
	}
	if err := validateEnvironments(in.Environments); err != nil {
		return err
	}
	return in.validateRoleNames()
}

func (in Inputs) validateBranch() error {
	if !refRe.MatchString(in.Branch) || strings.Contains(in.Branch, "..") {
		return &InputError{Field: "Branch", Value: in.Branch, Fix: "use a plain branch name (no spaces, ':', '~', '^', '\\', '[' or '..')"}
	}
	if strings.ContainsAny(in.Branch, "*?") && !in.AllowWildcardSubject {
		return &InputError{Field: "Branch", Value: in.Branch, Fix: "name one exact branch, or set AllowWildcardSubject and accept the risk"}
	}
	return nil
}

// validateRoleNames refuses names IAM would reject instead of truncating
// them: two truncated names could collide and share one role.
// Two environments can also meet in one name (env "a-runtime" and env "a"
// with a runtime role): refused rather than sharing a role.
func (in Inputs) validateRoleNames() error {
	seen := map[string]bool{}
	for _, name := range in.RoleNames() {
		if !roleNameRe.MatchString(name) {
			return &InputError{Field: "RoleName", Value: name,
				Fix: "IAM role names are at most 64 of A-Z a-z 0-9 +=,.@_-: shorten the environment name (the roles are ship-<repo>-<environment> and ship-<repo>-<environment>-runtime)"}
		}
		key := strings.ToLower(name) // IAM role names are case-insensitive
		if seen[key] {
			return &InputError{Field: "RoleName", Value: name,
				Fix: "two roles would share this name (an environment named <env>-runtime next to <env>'s runtime role): rename the environment"}
		}
		seen[key] = true
	}
	return nil
}

// ProviderARN is the IAM OIDC provider for GitHub in this account.
func (in Inputs) ProviderARN() string {
	in = in.WithDefaults()
	return fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", in.Partition, in.Account, GitHubIssuerHost)
}

// RoleARN is the ARN of the role named name in this account.
func (in Inputs) RoleARN(name string) string {
	in = in.WithDefaults()
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", in.Partition, in.Account, name)
}

// RepositoryARN is the one ECR repository the role may push to.
func (in Inputs) RepositoryARN() string {
	in = in.WithDefaults()
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", in.Partition, in.Region, in.Account, in.ECRRepository)
}

// ClusterARN is the one EKS cluster the role may describe.
func (in Inputs) ClusterARN() string {
	in = in.WithDefaults()
	return fmt.Sprintf("arn:%s:eks:%s:%s:cluster/%s", in.Partition, in.Region, in.Account, in.Cluster)
}
