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
	Warnings       []string
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

// Condition keys AWS exposes for GitHub's tokens.
const (
	AudKey = GitHubIssuerHost + ":aud"
	SubKey = GitHubIssuerHost + ":sub"
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
	return b, nil
}

func buildRole(in Inputs) (Role, []string) {
	r := newRole(in, KindBuild, in.BuildRoleName(), "", "ref:refs/heads/"+in.Branch)
	r.PermissionPolicyName, r.PermissionPolicy = "ship-build", buildPermissions(in)
	var warnings []string
	r.TrustPolicy, warnings = trustPolicy(in, r)
	return r, warnings
}

func deployRole(in Inputs, e Environment) Role {
	r := newRole(in, KindDeploy, in.EnvironmentRoleName(e.Name), e.Name, "environment:"+e.Name)
	r.PermissionPolicyName, r.PermissionPolicy = "ship-deploy", deployPermissions(in)
	r.TrustPolicy, _ = trustPolicy(in, r) // environment names cannot hold wildcards
	r.AccessEntry = accessEntry(in, r.ARN, EditPolicyARN(in.Partition), []string{e.Namespace})
	return r
}

func planRole(in Inputs) Role {
	r := newRole(in, KindPlan, in.PlanRoleName(), "", "pull_request")
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

func subjects(in Inputs, tail string) []string {
	var subs []string
	for _, p := range SubjectPrefixes(in) {
		subs = append(subs, p+":"+tail)
	}
	return sortedCopy(subs)
}

// trustPolicy trusts exactly r's subjects with the STS audience; a wildcard
// (only ever in the build branch, opted in) becomes StringLike with a risk.
func trustPolicy(in Inputs, r Role) (Document, []string) {
	subOp, warnings := "StringEquals", []string(nil)
	for _, s := range r.Subjects {
		if strings.ContainsAny(s, "*?") {
			subOp = "StringLike"
			warnings = append(warnings, fmt.Sprintf(
				"RISK: subject %q is a wildcard: every workflow run whose branch matches it can assume %s and push images to %s; anyone who can push such a branch gets that right. Prefer one exact branch.",
				s, r.Name, in.ECRRepository))
		}
	}
	cond := map[string]map[string][]string{"StringEquals": {AudKey: {STSAudience}}}
	if subOp == "StringEquals" {
		cond["StringEquals"][SubKey] = r.Subjects
	} else {
		cond["StringLike"] = map[string][]string{SubKey: r.Subjects}
	}
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
