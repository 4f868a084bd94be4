// Generation of the least-privilege setup: the OIDC provider settings and one
// role per job kind. The build role (main branch only) pushes images and never
// reaches the cluster; each environment's role (that environment's subject
// only) deploys to that environment's namespace and cannot push; the opt-in
// plan role reads. It guards against the classic single role that any job on
// main could use to deploy anywhere, and against wildcard subjects,
// cluster-admin and node/cluster service policies on a CI role.
package policy

import (
	"fmt"
	"sort"
	"strings"
)

// OIDCProvider is the IAM OIDC identity provider for GitHub Actions.
type OIDCProvider struct {
	URL       string
	ClientIDs []string
	// Thumbprints are no longer checked by IAM for this provider (AWS trusts
	// its own CA store for GitHub); kept for partitions/tools that want one.
	Thumbprints []string
}

// AccessScope limits an EKS access policy association.
type AccessScope struct {
	Type       string // "namespace" (never "cluster" here)
	Namespaces []string
}

// AccessEntry is the EKS access entry for one role.
type AccessEntry struct {
	Cluster      string
	PrincipalARN string
	Type         string // STANDARD
	PolicyARN    string
	Scope        AccessScope
}

// Role kinds.
const (
	KindBuild  = "build"
	KindDeploy = "deploy"
	KindPlan   = "plan"
	// KindRuntime (runtime.go) is the service's own role, not CI's.
)

// Role is one generated IAM role with everything attached to it.
type Role struct {
	Kind        string // KindBuild, KindDeploy, KindPlan or KindRuntime
	Name        string
	ARN         string
	Environment string   // the GitHub environment; "" for build and plan
	Subjects    []string // the exact sub values it trusts (none for runtime roles)
	// WorkflowRef is the job_workflow_ref it trusts: the repository's own
	// workflow file on the trusted ref (a StringLike pattern for the plan
	// role and a wildcard branch); empty for runtime roles.
	WorkflowRef string
	TrustPolicy Document
	// PermissionPolicyName is the name of the role's inline policy.
	PermissionPolicyName string
	PermissionPolicy     Document
	AccessEntry          *AccessEntry // nil: no cluster access at all
	// PodIdentity binds a runtime role to its service account; nil for CI roles.
	PodIdentity *PodIdentityAssociation
	// rawPermissions is the user's own document (runtime roles), kept as
	// written: it may use IAM features Document does not model.
	rawPermissions string
}

// PermissionDocument is the inline permission policy as sent to IAM.
func (r Role) PermissionDocument() string {
	if r.rawPermissions != "" {
		return r.rawPermissions
	}
	return r.PermissionPolicy.Compact()
}

// Bundle is everything bootstrap creates and doctor checks against.
type Bundle struct {
	Provider OIDCProvider
	// Roles: build, one per environment in input order, plan, then the
	// runtime roles of the environments that have one.
	Roles []Role
	// Namespaces must be created by an administrator: namespace-scoped
	// access entries cannot create namespaces.
	Namespaces []string
	// LegacyRoleName is the single role earlier versions created.
	LegacyRoleName string
	// SigningKey is the KMS key that signs attestations (build role only).
	SigningKey SigningKey
	Warnings   []string
}

// Role returns the role named name.
func (b Bundle) Role(name string) (Role, bool) {
	for _, r := range b.Roles {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

// Condition keys AWS exposes for GitHub's tokens (IAM User Guide, "Available
// keys for AWS OIDC federation", GitHub tab; evaluated by STS since January
// 2026). RepositoryIDKey and WorkflowRefKey are what a rename, a re-created
// repository or another workflow file cannot fake.
const (
	AudKey          = GitHubIssuerHost + ":aud"
	SubKey          = GitHubIssuerHost + ":sub"
	RepositoryIDKey = GitHubIssuerHost + ":repository_id"
	WorkflowRefKey  = GitHubIssuerHost + ":job_workflow_ref"
)

// EditPolicyARN is the namespace-scopable EKS access policy deploy roles get.
func EditPolicyARN(partition string) string {
	return fmt.Sprintf("arn:%s:eks::aws:cluster-access-policy/AmazonEKSEditPolicy", partition)
}

// ViewPolicyARN is the read-only EKS access policy of the plan role.
func ViewPolicyARN(partition string) string {
	return fmt.Sprintf("arn:%s:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", partition)
}

// Generate builds the bundle, or returns an *InputError.
func Generate(in Inputs) (Bundle, error) {
	in = in.WithDefaults()
	if err := in.Validate(); err != nil {
		return Bundle{}, err
	}
	b := Bundle{
		Provider:       OIDCProvider{URL: GitHubIssuerURL, ClientIDs: []string{STSAudience}},
		Namespaces:     in.Namespaces(),
		LegacyRoleName: in.LegacyRoleName(),
	}
	build, warnings := buildRole(in)
	b.Roles = append(b.Roles, build)
	b.Warnings = append(b.Warnings, warnings...)
	for _, e := range in.Environments {
		b.Roles = append(b.Roles, deployRole(in, e))
	}
	if in.PlanRole {
		plan := planRole(in)
		b.Roles = append(b.Roles, plan)
		b.Warnings = append(b.Warnings, planRisk(in, plan))
	}
	for _, e := range in.Environments {
		if e.Runtime != nil {
			b.Roles = append(b.Roles, runtimeRole(in, e))
		}
	}
	b.SigningKey = signingKey(in, b.Roles)
	return b, nil
}

func buildRole(in Inputs) (Role, []string) {
	r := newRole(in, KindBuild, in.BuildRoleName(), "", "ref:refs/heads/"+in.Branch)
	r.WorkflowRef = in.WorkflowRef(in.DeployWorkflow, "refs/heads/"+in.Branch)
	r.PermissionPolicyName, r.PermissionPolicy = "ship-build", buildPermissions(in)
	var warnings []string
	r.TrustPolicy, warnings = trustPolicy(in, r)
	return r, warnings
}

func deployRole(in Inputs, e Environment) Role {
	r := newRole(in, KindDeploy, in.EnvironmentRoleName(e.Name), e.Name, "environment:"+e.Name)
	// An environment job's sub does not name its branch; its job_workflow_ref does.
	r.WorkflowRef = in.WorkflowRef(in.DeployWorkflow, "refs/heads/"+in.Branch)
	r.PermissionPolicyName, r.PermissionPolicy = "ship-deploy", deployPermissions(in)
	r.TrustPolicy, _ = trustPolicy(in, r) // environment names cannot hold wildcards
	r.AccessEntry = accessEntry(in, r.ARN, EditPolicyARN(in.Partition), []string{e.Namespace})
	return r
}

func planRole(in Inputs) Role {
	r := newRole(in, KindPlan, in.PlanRoleName(), "", "pull_request")
	// A pull_request job runs on the merge ref refs/pull/<number>/merge.
	r.WorkflowRef = in.WorkflowRef(in.PRWorkflow, "refs/pull/*/merge")
	r.PermissionPolicyName, r.PermissionPolicy = "ship-plan", planPermissions(in)
	r.TrustPolicy, _ = trustPolicy(in, r)
	r.AccessEntry = accessEntry(in, r.ARN, ViewPolicyARN(in.Partition), in.Namespaces())
	return r
}

func newRole(in Inputs, kind, name, env, subjectTail string) Role {
	return Role{Kind: kind, Name: name, ARN: in.RoleARN(name), Environment: env, Subjects: subjects(in, subjectTail)}
}

func accessEntry(in Inputs, principal, policyARN string, namespaces []string) *AccessEntry {
	return &AccessEntry{Cluster: in.Cluster, PrincipalARN: principal, Type: "STANDARD", PolicyARN: policyARN,
		Scope: AccessScope{Type: "namespace", Namespaces: append([]string(nil), namespaces...)}}
}

func planRisk(in Inputs, plan Role) string {
	return fmt.Sprintf("RISK: the plan role %s trusts %s: a pull request from any branch of this repository can assume it and read the objects in namespace(s) %s (Kubernetes' view role: no Secrets). "+
		"Its access is read-only, so plan compares against the live objects: a server-side dry-run needs write rights. Use it only if that exposure is acceptable, and keep it out of fork pull requests.",
		plan.Name, strings.Join(plan.Subjects, ", "), strings.Join(in.Namespaces(), ", "))
}

// SubjectPrefixes lists the repo:... prefixes a role's subjects start with:
// the immutable repo:OWNER@ID/REPO@ID when IDs are set (plus the name-based
// one during migration), else repo:OWNER/REPO.
func SubjectPrefixes(in Inputs) []string {
	name := fmt.Sprintf("repo:%s/%s", in.GitHubOwner, in.GitHubRepo)
	if in.OwnerID == "" || in.RepoID == "" {
		return []string{name}
	}
	prefixes := []string{fmt.Sprintf("repo:%s@%s/%s@%s", in.GitHubOwner, in.OwnerID, in.GitHubRepo, in.RepoID)}
	if in.IncludeNameSubjects {
		prefixes = append(prefixes, name)
	}
	return prefixes
}

// WorkflowRef is the job_workflow_ref of the repository's own workflow file
// at ref: OWNER/REPO/.github/workflows/FILE@REF.
func (in Inputs) WorkflowRef(file, ref string) string {
	return fmt.Sprintf("%s/%s/.github/workflows/%s@%s", in.GitHubOwner, in.GitHubRepo, file, ref)
}

func subjects(in Inputs, tail string) []string {
	var subs []string
	for _, p := range SubjectPrefixes(in) {
		subs = append(subs, p+":"+tail)
	}
	return sortedCopy(subs)
}

// trustPolicy trusts exactly r's subjects, from the repository with this ID
// and its own workflow file on the trusted ref, with the STS audience. A
// wildcard (only ever in the build branch, opted in, and the plan role's pull
// request number) becomes StringLike; the branch wildcard is printed as a risk.
func trustPolicy(in Inputs, r Role) (Document, []string) {
	var warnings []string
	for _, s := range r.Subjects {
		if strings.ContainsAny(s, "*?") {
			warnings = append(warnings, fmt.Sprintf(
				"RISK: subject %q is a wildcard: every run of %s whose branch matches it can assume %s and push images to %s; anyone who can push such a branch gets that right. Prefer one exact branch.",
				s, in.DeployWorkflow, r.Name, in.ECRRepository))
		}
	}
	cond := map[string]map[string][]string{"StringEquals": {AudKey: {STSAudience}, RepositoryIDKey: {in.RepoID}}}
	put := func(key string, values []string) {
		op := "StringEquals"
		for _, v := range values {
			if strings.ContainsAny(v, "*?") {
				op = "StringLike"
			}
		}
		if cond[op] == nil {
			cond[op] = map[string][]string{}
		}
		cond[op][key] = values
	}
	put(SubKey, r.Subjects)
	put(WorkflowRefKey, []string{r.WorkflowRef})
	return Document{Version: policyVersion, Statement: []Statement{{
		Sid:       "GitHubActionsOIDC",
		Effect:    "Allow",
		Principal: map[string]string{"Federated": in.ProviderARN()},
		Action:    []string{WebIdentityAction},
		Condition: cond,
	}}}, warnings
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
