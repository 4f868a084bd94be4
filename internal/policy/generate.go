// Generation of the least-privilege setup: OIDC provider settings, the CI
// role's trust and permission policies, and its EKS access entry. It guards
// against the classic over-grants (wildcard subjects, cluster-admin, node and
// cluster service policies on a CI role) by construction.
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

// AccessEntry is the EKS access entry for the CI role.
type AccessEntry struct {
	Cluster      string
	PrincipalARN string
	Type         string // STANDARD
	PolicyARN    string
	Scope        AccessScope
}

// Bundle is everything bootstrap creates and doctor checks against.
type Bundle struct {
	Provider         OIDCProvider
	RoleName         string
	RoleARN          string
	TrustPolicy      Document
	PermissionPolicy Document
	// PermissionPolicyName is the name of the role's inline policy.
	PermissionPolicyName string
	AccessEntry          AccessEntry
	// Namespaces must be created by an administrator: the CI role's
	// namespace-scoped edit policy cannot create namespaces.
	Namespaces []string
	Warnings   []string
}

// Condition keys AWS exposes for GitHub's tokens.
const (
	AudKey = GitHubIssuerHost + ":aud"
	SubKey = GitHubIssuerHost + ":sub"
)

// EditPolicyARN is the namespace-scopable EKS access policy the role gets.
func EditPolicyARN(partition string) string {
	return fmt.Sprintf("arn:%s:eks::aws:cluster-access-policy/AmazonEKSEditPolicy", partition)
}

// Generate builds the bundle, or returns an *InputError.
func Generate(in Inputs) (Bundle, error) {
	if err := in.Validate(); err != nil {
		return Bundle{}, err
	}
	in = in.WithDefaults()
	trust, warnings := TrustPolicy(in)
	nss := sortedCopy(in.Namespaces)
	return Bundle{
		Provider:             OIDCProvider{URL: GitHubIssuerURL, ClientIDs: []string{STSAudience}},
		RoleName:             in.RoleName,
		RoleARN:              in.RoleARN(),
		TrustPolicy:          trust,
		PermissionPolicy:     PermissionPolicy(in),
		PermissionPolicyName: "ship-deploy",
		AccessEntry: AccessEntry{
			Cluster:      in.Cluster,
			PrincipalARN: in.RoleARN(),
			Type:         "STANDARD",
			PolicyARN:    EditPolicyARN(in.Partition),
			Scope:        AccessScope{Type: "namespace", Namespaces: nss},
		},
		Namespaces: nss,
		Warnings:   warnings,
	}, nil
}

// Subjects lists the exact sub values the role trusts.
func Subjects(in Inputs) []string {
	var prefixes []string
	if in.OwnerID != "" && in.RepoID != "" {
		prefixes = append(prefixes, fmt.Sprintf("repo:%s@%s/%s@%s", in.GitHubOwner, in.OwnerID, in.GitHubRepo, in.RepoID))
		if in.IncludeNameSubjects {
			prefixes = append(prefixes, fmt.Sprintf("repo:%s/%s", in.GitHubOwner, in.GitHubRepo))
		}
	} else {
		prefixes = append(prefixes, fmt.Sprintf("repo:%s/%s", in.GitHubOwner, in.GitHubRepo))
	}
	var subs []string
	for _, p := range prefixes {
		if in.Branch != "" {
			subs = append(subs, p+":ref:refs/heads/"+in.Branch)
		}
		for _, env := range in.Environments {
			subs = append(subs, p+":environment:"+env)
		}
	}
	return sortedCopy(subs)
}

// TrustPolicy returns the role's trust policy and any risk warnings.
func TrustPolicy(in Inputs) (Document, []string) {
	in = in.WithDefaults()
	subs := Subjects(in)
	subOp, warnings := "StringEquals", []string(nil)
	for _, s := range subs {
		if strings.ContainsAny(s, "*?") {
			subOp = "StringLike"
			warnings = append(warnings, fmt.Sprintf(
				"RISK: subject %q is a wildcard: every workflow run whose branch or environment matches it can assume %s and deploy to %s; anyone who can push such a branch gets those rights. Prefer an exact branch or a protected environment.",
				s, in.RoleName, in.Cluster))
		}
	}
	cond := map[string]map[string][]string{"StringEquals": {AudKey: {STSAudience}}}
	if subOp == "StringEquals" {
		cond["StringEquals"][SubKey] = subs
	} else {
		cond["StringLike"] = map[string][]string{SubKey: subs}
	}
	return Document{Version: policyVersion, Statement: []Statement{{
		Sid:       "GitHubActionsOIDC",
		Effect:    "Allow",
		Principal: map[string]string{"Federated": in.ProviderARN()},
		Action:    []string{"sts:AssumeRoleWithWebIdentity"},
		Condition: cond,
	}}}, warnings
}

// PushActions are the ECR actions on the one repository, each with why it
// is needed. Pulling layers (GetDownloadUrlForLayer), listing, tagging,
// deleting and policy/lifecycle actions are deliberately absent.
var PushActions = []struct{ Action, Why string }{
	{"ecr:BatchCheckLayerAvailability", "HEAD on a blob: the push skips layers the repository already has"},
	{"ecr:InitiateLayerUpload", "POST /blobs/uploads/: starts each layer upload"},
	{"ecr:UploadLayerPart", "PATCH on the upload: sends the layer bytes"},
	{"ecr:CompleteLayerUpload", "PUT on the upload with ?digest=: commits the layer"},
	{"ecr:PutImage", "PUT of the manifest under the tag: the push itself"},
	{"ecr:BatchGetImage", "HEAD/GET of a manifest: the existence check before a push and the tag->digest lookup that pins the deployed image"},
	{"ecr:DescribeRepositories", "read-only, this repository only: lets the pipeline and doctor say \"repository missing\" instead of a bare 403"},
}

// PermissionPolicy is the role's inline policy: push to one repository,
// log in to ECR, describe one cluster. Nothing else.
func PermissionPolicy(in Inputs) Document {
	in = in.WithDefaults()
	var push []string
	for _, a := range PushActions {
		push = append(push, a.Action)
	}
	return Document{Version: policyVersion, Statement: []Statement{
		{Sid: "PushToOneRepository", Effect: "Allow", Action: sortedCopy(push), Resource: []string{in.RepositoryARN()}},
		// GetAuthorizationToken is account-wide in IAM: it takes no resource.
		{Sid: "ECRLogin", Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}},
		{Sid: "DescribeOneCluster", Effect: "Allow", Action: []string{"eks:DescribeCluster"}, Resource: []string{in.ClusterARN()}},
	}}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
