// This file is the one-time AWS side: the least-privilege documents (policies), creating them (bootstrap) and
// explaining why a deploy cannot get in (doctor). It guards against the classic setup's cluster-admin CI role
// and console clicking: everything here is generated, reviewed as text, and applied idempotently.
package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/ship/internal/awsauth"
	"dagger/ship/internal/bootstrap"
	"dagger/ship/internal/dagger"
	"dagger/ship/internal/doctor"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/policy"
)

// Policies prints the OIDC provider settings, the CI role's trust and permission policies, the EKS access entry
// and a comparison with the classic setup, for review or for Terraform/CDK users. Needs no AWS access.
func (m *Ship) Policies(
	// AWS account ID (12 digits).
	account string,
	// AWS region.
	region string,
	// GitHub owner (user or organisation).
	githubOwner string,
	// GitHub repository name.
	githubRepo string,
	// EKS cluster name.
	cluster string,
	// Branch allowed to deploy (subject repo:OWNER/REPO:ref:refs/heads/BRANCH).
	// +optional
	branch string,
	// GitHub environments allowed to deploy (subject repo:OWNER/REPO:environment:ENV).
	// +default=["dev","staging","prod"]
	environments []string,
	// ECR repository name.
	// +default="fastapi-app"
	repository string,
	// Namespaces the CI role may edit.
	// +default=["fastapi-dev","fastapi-staging","fastapi-prod"]
	namespaces []string,
	// Numeric owner ID, for GitHub's immutable subject format (repo:OWNER@ID/REPO@ID:...).
	// +optional
	ownerId string,
	// Numeric repository ID, for the immutable subject format.
	// +optional
	repoId string,
	// Allow * and ? in branch/environment subjects (a risk: printed with the documents).
	// +optional
	allowWildcardSubject bool,
) (string, error) {
	in := policy.Inputs{
		Account: account, Region: region, GitHubOwner: githubOwner, GitHubRepo: githubRepo, Cluster: cluster,
		Branch: branch, Environments: environments, ECRRepository: repository, Namespaces: namespaces,
		OwnerID: ownerId, RepoID: repoId, AllowWildcardSubject: allowWildcardSubject,
	}
	bundle, err := policy.Generate(in)
	if err != nil {
		return "", err
	}
	comparison, err := policy.Comparison(in)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, w := range bundle.Warnings {
		fmt.Fprintf(&b, "WARNING: %s\n", w)
	}
	fmt.Fprintf(&b, "# OIDC provider\nurl: %s\nclient id: %s\n\n", bundle.Provider.URL, strings.Join(bundle.Provider.ClientIDs, ", "))
	fmt.Fprintf(&b, "# Role %s: trust policy\n%s\n\n", bundle.RoleARN, bundle.TrustPolicy.JSON())
	fmt.Fprintf(&b, "# Role %s: inline permission policy %q\n%s\n\n", bundle.RoleName, bundle.PermissionPolicyName, bundle.PermissionPolicy.JSON())
	e := bundle.AccessEntry
	fmt.Fprintf(&b, "# EKS access entry on cluster %s\nprincipal: %s (%s)\npolicy: %s\nscope: %s %s\n\n",
		e.Cluster, e.PrincipalARN, e.Type, e.PolicyARN, e.Scope.Type, strings.Join(e.Scope.Namespaces, ", "))
	fmt.Fprintf(&b, "# Namespaces to create (the CI role cannot)\n%s\n\n", strings.Join(bundle.Namespaces, "\n"))
	b.WriteString(comparison)
	return b.String(), nil
}

// Bootstrap creates or updates, idempotently and with an administrator's credentials (with-aws), the IAM OIDC
// provider, the CI role with its trust and least-privilege policies, the ECR repository, the EKS access entry
// (AmazonEKSEditPolicy on the app's namespaces only) and the namespaces. A second run changes nothing.
// +cache="never"
func (m *Ship) Bootstrap(
	ctx context.Context,
	// GitHub owner (user or organisation).
	githubOwner string,
	// GitHub repository name.
	githubRepo string,
	// EKS cluster name.
	cluster string,
	// Branch allowed to deploy.
	// +optional
	branch string,
	// GitHub environments allowed to deploy.
	// +default=["dev","staging","prod"]
	environments []string,
	// ECR repository name.
	// +default="fastapi-app"
	repository string,
	// Namespaces the CI role may edit; created in the cluster.
	// +default=["fastapi-dev","fastapi-staging","fastapi-prod"]
	namespaces []string,
	// Numeric owner ID, for GitHub's immutable subject format.
	// +optional
	ownerId string,
	// Numeric repository ID, for the immutable subject format.
	// +optional
	repoId string,
	// Name of the CI role (default: ship-deploy-<repo>).
	// +optional
	roleName string,
	// Print what would change and change nothing.
	// +optional
	dryRun bool,
) (string, error) {
	cfg, err := m.awsConfig(ctx, "bootstrap")
	if err != nil {
		return "", err
	}
	id, err := awsauth.WhoAmI(ctx, cfg)
	if err != nil {
		return "", err
	}
	in := policy.Inputs{
		Account: id.Account, Region: m.Aws.Region, GitHubOwner: githubOwner, GitHubRepo: githubRepo, Cluster: cluster,
		Branch: branch, Environments: environments, ECRRepository: repository, Namespaces: namespaces,
		OwnerID: ownerId, RepoID: repoId, RoleName: roleName,
	}
	var out strings.Builder
	summary, err := bootstrap.Apply(ctx, bootstrap.NewClients(cfg), in, dryRun, &out)
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, out.String())
	}
	if err := m.createNamespaces(ctx, cluster, summary.NamespaceManifests, dryRun, &out); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out.String())
	}
	return out.String(), nil
}

// createNamespaces applies the app's namespaces as the administrator (the CI role cannot create them).
func (m *Ship) createNamespaces(ctx context.Context, cluster string, manifests []byte, dryRun bool, out *strings.Builder) error {
	if len(manifests) == 0 {
		return nil
	}
	runner, err := m.target(ctx, cluster, nil, nil)
	if err != nil {
		return err
	}
	// Namespaces are cluster-scoped: -n only satisfies the step's signature and is ignored by kubectl.
	step := kube.Apply("default", manifests)
	if dryRun {
		step = kube.ServerSideDryRun("default", manifests)
	}
	stdout, err := kube.Exec(ctx, runner, step)
	if err != nil {
		return fmt.Errorf("create namespaces: %w", err)
	}
	fmt.Fprintf(out, "namespaces:\n%s", stdout)
	return nil
}

// Doctor checks, each with a pass/fail line and a fix, why a deploy cannot get in: the OIDC token's claims
// against the role's trust policy (evaluated locally), the role's access to the cluster and the repository,
// the EKS access entry's namespaces, and the cluster endpoint. It answers
// "Not authorized to perform sts:AssumeRoleWithWebIdentity". Offline with --token and --trust-policy.
// +cache="never"
func (m *Ship) Doctor(
	ctx context.Context,
	// GitHub owner.
	// +optional
	githubOwner string,
	// GitHub repository name.
	// +optional
	githubRepo string,
	// EKS cluster name.
	// +optional
	cluster string,
	// The role the pipeline assumes (default: the with-aws role).
	// +optional
	roleArn string,
	// ECR repository name.
	// +default="fastapi-app"
	repository string,
	// Namespace the deploy targets.
	// +optional
	namespace string,
	// A web identity token to check (default: the with-github-oidc / with-web-identity-token one).
	// +optional
	token *dagger.Secret,
	// The role's trust policy as JSON, to check offline instead of reading it with iam:GetRole.
	// +optional
	trustPolicy *dagger.File,
) (string, error) {
	in := doctor.Inputs{Policy: policy.Inputs{GitHubOwner: githubOwner, GitHubRepo: githubRepo, Cluster: cluster, ECRRepository: repository}}
	if namespace != "" {
		in.Policy.Namespaces = []string{namespace}
	}
	if err := m.doctorToken(ctx, token, &in); err != nil {
		return "", err
	}
	if trustPolicy != nil {
		doc, err := trustPolicy.Contents(ctx)
		if err != nil {
			return "", fmt.Errorf("read --trust-policy: %w", err)
		}
		in.TrustPolicy = []byte(doc)
	}
	if err := m.doctorAWS(ctx, roleArn, &in); err != nil {
		return "", err
	}
	rep := doctor.Run(ctx, in)
	if !rep.OK() {
		return "", fmt.Errorf("doctor found problems:\n%s", rep.String())
	}
	return rep.String(), nil
}

// doctorToken picks the token to check without ever printing it.
func (m *Ship) doctorToken(ctx context.Context, token *dagger.Secret, in *doctor.Inputs) error {
	if token != nil {
		c := *m
		c.Oidc = &OidcSettings{Token: token}
		m = &c
	}
	tok, err := m.webIdentity(ctx)
	if err != nil {
		return err
	}
	in.Token = tok
	return nil
}

// doctorAWS adds the online checks when AWS credentials are configured; the role ARN names account and role.
func (m *Ship) doctorAWS(ctx context.Context, roleArn string, in *doctor.Inputs) error {
	if roleArn == "" && m.Aws != nil {
		roleArn = m.Aws.RoleArn
	}
	if roleArn != "" {
		if err := awsauth.ValidateRoleARN("--role-arn", roleArn); err != nil {
			return err
		}
		// arn:PARTITION:iam::ACCOUNT:role/PATH/NAME
		parts := strings.SplitN(roleArn, ":", 6)
		in.Policy.Partition, in.Policy.Account = parts[1], parts[4]
		in.Policy.RoleName = parts[5][strings.LastIndex(parts[5], "/")+1:]
	}
	if m.Aws == nil {
		return nil
	}
	in.Policy.Region = m.Aws.Region
	cfg, err := m.awsConfig(ctx, "doctor")
	if err != nil {
		// The identity itself is what doctor diagnoses: run the offline checks and show why AWS refused.
		return fmt.Errorf("%w\n(run doctor with --token and --trust-policy to check them offline)", err)
	}
	in.AWS = &cfg
	return nil
}
