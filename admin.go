// This file is the one-time AWS side: the least-privilege roles (policies), creating them (bootstrap) and
// explaining why a job cannot get in (doctor). It guards against the classic setup's one cluster-admin CI role
// that any job could use anywhere, and against console clicking: one role per job kind and environment, all
// generated, reviewed as text, and applied idempotently. The service's own AWS access (a runtime role per
// environment, given to its pods by EKS Pod Identity) comes from overlays/<env>/aws-policy.json, so the same
// three functions find it without a flag.
package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"dagger/ship/internal/awsauth"
	"dagger/ship/internal/bootstrap"
	"dagger/ship/internal/dagger"
	"dagger/ship/internal/deploy"
	"dagger/ship/internal/doctor"
	"dagger/ship/internal/podidentity"
	"dagger/ship/internal/policy"
)

// Policies prints every role ship needs (build, one per environment, optional plan, runtime) with its documents.
//
// The text form adds the OIDC provider, each role's trust and permission policies and EKS access entry, the
// namespaces, the attestation signing key and who may do what with it, and a comparison with the classic
// single-role setup; --format json prints
// {"roles":[{"name","kind","environment","trustPolicy","permissionPolicy","accessEntry","podIdentityAssociation"}],
// "signingKey":{"alias","aliasArn","keySpec","keyUsage","access":[{"principal","actions"}],"keyPolicy"}}
// for Terraform/CDK users. Every CI role's trust requires the repository's immutable ID (--github-repo-id) and
// the job_workflow_ref of the repository's own workflow file on its ref (--deploy-workflow, --pr-workflow), so a
// re-created repository or another workflow file gets nothing. An environment whose overlay holds aws-policy.json also gets a runtime role
// (kind runtime) for its pods, trusted by EKS Pod Identity for the Deployment's service account only.
// Needs no AWS access.
func (m *Ship) Policies(
	ctx context.Context,
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
	// Branch the build role trusts (subject repo:OWNER/REPO:ref:refs/heads/BRANCH).
	// +default="main"
	branch string,
	// GitHub environments and their namespaces, as env=namespace (default: each overlay and its namespace).
	// +optional
	environments []string,
	// ECR repository name (default: the app name, see --app-name).
	// +optional
	repository string,
	// The repository's immutable numeric ID (required; every role's trust pins it): gh api repos/OWNER/REPO --jq .id.
	// +optional
	githubRepoId string,
	// Numeric owner ID: switches subjects to GitHub's immutable format (repo:OWNER@ID/REPO@ID:...).
	// +optional
	githubOwnerId string,
	// Workflow file under .github/workflows/ whose jobs may assume the build and environment roles.
	// +default="deploy.yml"
	deployWorkflow string,
	// Workflow file under .github/workflows/ whose pull_request jobs may assume the plan role.
	// +default="pr.yml"
	prWorkflow string,
	// Allow * and ? in the build branch (a risk: printed with the documents).
	// +optional
	allowWildcardSubject bool,
	// Also generate the read-only plan role for pull requests (a risk: printed with the documents).
	// +optional
	planRole bool,
	// Output format: text or json.
	// +default="text"
	format string,
) (string, error) {
	if err := requireRepoID(githubOwner, githubRepo, githubRepoId); err != nil {
		return "", err
	}
	envs, err := m.environments(ctx, environments)
	if err != nil {
		return "", err
	}
	if envs, err = m.withRuntime(ctx, envs); err != nil {
		return "", err
	}
	if repository, err = m.repositoryName(ctx, repository); err != nil {
		return "", err
	}
	in := policy.Inputs{
		Account: account, Region: region, GitHubOwner: githubOwner, GitHubRepo: githubRepo, Cluster: cluster,
		Branch: branch, Environments: envs, ECRRepository: repository, OwnerID: githubOwnerId, RepoID: githubRepoId,
		DeployWorkflow: deployWorkflow, PRWorkflow: prWorkflow, AllowWildcardSubject: allowWildcardSubject, PlanRole: planRole,
	}
	switch format {
	case "text":
		return policy.RenderText(in)
	case "json":
		out, err := policy.RenderJSON(in)
		return string(out), err
	}
	return "", fmt.Errorf("--format %q is not supported: use text or json", format)
}

// requireRepoID refuses a missing repository ID with where to find it, before anything else runs.
func requireRepoID(owner, repo, id string) error {
	if strings.TrimSpace(id) != "" {
		return nil
	}
	return fmt.Errorf("--github-repo-id is required: every role's trust pins the repository's immutable ID, so a renamed or re-created repository of the same name gets nothing; %s",
		policy.RepoIDHelp(owner, repo))
}

// environments parses env=namespace pairs, or derives them from the overlays: each overlay is a GitHub
// environment of the same name, deploying to the namespace its rendering names.
func (m *Ship) environments(ctx context.Context, pairs []string) ([]policy.Environment, error) {
	if len(pairs) > 0 {
		return policy.ParseEnvironments(pairs)
	}
	entries, err := m.Manifests.Entries(ctx, dagger.DirectoryEntriesOpts{Path: "overlays"})
	if err != nil {
		return nil, fmt.Errorf("list overlays to derive the environments (or pass --environments env=namespace): %w", err)
	}
	var envs []policy.Environment
	for _, e := range entries {
		name := strings.TrimSuffix(e, "/")
		ns, err := m.overlayNamespace(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("overlay %s: %w (or pass --environments env=namespace)", name, err)
		}
		envs = append(envs, policy.Environment{Name: name, Namespace: ns})
	}
	sort.Slice(envs, func(i, j int) bool { return envs[i].Name < envs[j].Name })
	return envs, nil
}

// repositoryName is the ECR repository: the one given, or the app's name (from the first overlay).
func (m *Ship) repositoryName(ctx context.Context, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	entries, err := m.Manifests.Entries(ctx, dagger.DirectoryEntriesOpts{Path: "overlays"})
	if err != nil || len(entries) == 0 {
		return "", fmt.Errorf("no --repository given and no overlay to take the app name from: pass --repository <ECR repository>")
	}
	sort.Strings(entries)
	r, err := m.renderChecked(ctx, strings.TrimSuffix(entries[0], "/"), "", false)
	if err != nil {
		return "", fmt.Errorf("no --repository given, and the app name could not be read: %w", err)
	}
	return r.id.AppName, nil
}

// withRuntime gives each environment whose overlay holds aws-policy.json its runtime access.
func (m *Ship) withRuntime(ctx context.Context, envs []policy.Environment) ([]policy.Environment, error) {
	out := append([]policy.Environment(nil), envs...)
	for i, e := range out {
		rt, _, err := m.runtimeAccess(ctx, e)
		if err != nil {
			return nil, err
		}
		out[i].Runtime = rt
	}
	return out, nil
}

// runtimeAccess reads an environment's runtime policy (nil when its overlay has none) and the service account its
// rendered Deployment runs under. The overlay must render into the environment's namespace: the association is
// made there, and pods elsewhere would never get the role.
func (m *Ship) runtimeAccess(ctx context.Context, e policy.Environment) (*policy.RuntimeAccess, podidentity.Workload, error) {
	fsys, err := directoryFS(ctx, m.Manifests)
	if err != nil {
		return nil, podidentity.Workload{}, err
	}
	doc, ok, err := podidentity.ReadPolicy(fsys, e.Name)
	if err != nil || !ok {
		return nil, podidentity.Workload{}, err
	}
	src := podidentity.PolicyPath(e.Name)
	r, err := m.renderChecked(ctx, e.Name, "", false)
	if err != nil {
		return nil, podidentity.Workload{}, fmt.Errorf("%s gives overlay %s a runtime role, but the overlay does not render: %w", src, e.Name, err)
	}
	if r.namespace != e.Namespace {
		return nil, podidentity.Workload{}, fmt.Errorf("%s: overlay %s renders into namespace %s, but environment %s is mapped to %s: fix --environments, or the overlay's namespace",
			src, e.Name, r.namespace, e.Name, e.Namespace)
	}
	w, err := podidentity.Inspect(r.manifests)
	if err != nil {
		return nil, podidentity.Workload{}, fmt.Errorf("overlay %s: %w", e.Name, err)
	}
	return &policy.RuntimeAccess{ServiceAccount: w.ServiceAccount, Policy: doc, Source: src}, w, nil
}

// overlayNamespace renders an overlay and returns the one namespace its objects live in.
func (m *Ship) overlayNamespace(ctx context.Context, overlay string) (string, error) {
	r, err := m.renderChecked(ctx, overlay, "", false)
	if err != nil {
		return "", err
	}
	return r.namespace, nil
}

// Bootstrap creates or updates, idempotently, every AWS resource the roles need, as an administrator.
//
// With an administrator's credentials (with-aws): the IAM OIDC provider, the build role, one deploy role per
// environment (and the plan role when asked) with their trust and least-privilege policies, the KMS key
// alias/ship-<repo>-attestations (ECC_NIST_P256; only the build role may sign), the ECR repository,
// one EKS access entry per deploy role scoped to its namespace, and the namespaces; for each overlay holding
// aws-policy.json, the runtime role ship-<repo>-<env>-runtime and its EKS Pod Identity association with the
// Deployment's service account. Every CI role's trust pins the repository's immutable ID (--github-repo-id,
// required) and its own workflow file (--deploy-workflow, --pr-workflow). A second run changes nothing; --dry-run shows what differs. It ends with the
// GitHub variables and environment rules to set.
// +cache="never"
func (m *Ship) Bootstrap(
	ctx context.Context,
	// GitHub owner (user or organisation).
	githubOwner string,
	// GitHub repository name.
	githubRepo string,
	// EKS cluster name.
	cluster string,
	// Branch the build role trusts.
	// +default="main"
	branch string,
	// GitHub environments and their namespaces, as env=namespace (default: each overlay and its namespace).
	// +optional
	environments []string,
	// ECR repository name (default: the app name, see --app-name).
	// +optional
	repository string,
	// The repository's immutable numeric ID (required; every role's trust pins it): gh api repos/OWNER/REPO --jq .id.
	// +optional
	githubRepoId string,
	// Numeric owner ID: switches subjects to GitHub's immutable format.
	// +optional
	githubOwnerId string,
	// Workflow file under .github/workflows/ whose jobs may assume the build and environment roles.
	// +default="deploy.yml"
	deployWorkflow string,
	// Workflow file under .github/workflows/ whose pull_request jobs may assume the plan role.
	// +default="pr.yml"
	prWorkflow string,
	// Also create the read-only plan role for pull requests (its risk is printed).
	// +optional
	planRole bool,
	// Print what would change and change nothing.
	// +optional
	dryRun bool,
) (string, error) {
	envs, err := m.environments(ctx, environments)
	if err != nil {
		return "", err
	}
	if envs, err = m.withRuntime(ctx, envs); err != nil {
		return "", err
	}
	if repository, err = m.repositoryName(ctx, repository); err != nil {
		return "", err
	}
	if err := requireRepoID(githubOwner, githubRepo, githubRepoId); err != nil {
		return "", err
	}
	cfg, err := m.awsConfig(ctx, "bootstrap", "")
	if err != nil {
		return "", err
	}
	id, err := awsauth.WhoAmI(ctx, cfg)
	if err != nil {
		return "", err
	}
	in := policy.Inputs{
		Account: id.Account, Region: m.Aws.Region, GitHubOwner: githubOwner, GitHubRepo: githubRepo, Cluster: cluster,
		Branch: branch, Environments: envs, ECRRepository: repository, OwnerID: githubOwnerId, RepoID: githubRepoId,
		DeployWorkflow: deployWorkflow, PRWorkflow: prWorkflow, PlanRole: planRole,
	}
	var out strings.Builder
	summary, err := bootstrap.Apply(ctx, bootstrap.NewClients(cfg), in, dryRun, &out)
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, out.String())
	}
	if err := m.createNamespaces(ctx, cluster, summary.NamespaceManifests, dryRun, &out); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out.String())
	}
	next, err := bootstrap.NextSteps(in)
	if err != nil {
		return "", err
	}
	return out.String() + "\n" + next, nil
}

// createNamespaces applies the app's namespaces as the administrator (the deploy roles cannot create them).
func (m *Ship) createNamespaces(ctx context.Context, clusterName string, manifests []byte, dryRun bool, out *strings.Builder) error {
	if len(manifests) == 0 {
		return nil
	}
	target, client, err := m.connect(ctx, clusterName, nil, nil)
	if err != nil {
		return err
	}
	defer target.stop(context.WithoutCancel(ctx))
	changes, err := deploy.ApplyObjects(ctx, client, manifests, dryRun)
	if err != nil {
		return fmt.Errorf("create namespaces: %w", err)
	}
	out.WriteString("namespaces:\n")
	for _, c := range changes {
		fmt.Fprintf(out, "%s %s\n", c.Object, c.Action)
	}
	return nil
}

// Doctor checks, one line each with a fix, why a job cannot assume its role or deploy.
//
// The OIDC token's window and claims against the role's trust policy (evaluated locally, on the condition keys
// AWS evaluates; run even when STS refuses the role, whose explanation follows), the environment's own role and
// subject (--environment), the role's access to the cluster and the repository, the EKS access entry's
// namespace, and the cluster endpoint. When the environment's overlay holds aws-policy.json, also the service's
// runtime role, its EKS Pod Identity association, the service account the overlay's pods run under and the
// eks-pod-identity-agent add-on (these need an administrator's credentials). Offline with --token and
// --trust-policy.
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
	// The role the job assumes (default: the with-aws role, else the environment's role).
	// +optional
	roleArn string,
	// ECR repository name (default: the app name, see --app-name).
	// +optional
	repository string,
	// The GitHub environment the job deploys to: checks its role ship-<repo>-<env>, its namespace and the token's subject.
	// +optional
	environment string,
	// GitHub environments and their namespaces, as env=namespace (default: each overlay and its namespace).
	// +optional
	environments []string,
	// Namespace the deploy targets (default: the environment's).
	// +optional
	namespace string,
	// AWS account ID, when no role ARN names it (for the environment's role and the provider check).
	// +optional
	account string,
	// The repository's numeric ID the roles pin (default: the token's own, so only the rest is checked).
	// +optional
	githubRepoId string,
	// Workflow file whose jobs may assume the build and environment roles.
	// +default="deploy.yml"
	deployWorkflow string,
	// Workflow file whose pull_request jobs may assume the plan role.
	// +default="pr.yml"
	prWorkflow string,
	// A web identity token to check (default: the with-github-oidc / with-web-identity-token one).
	// +optional
	token *dagger.Secret,
	// The role's trust policy as JSON, to check offline instead of reading it with iam:GetRole.
	// +optional
	trustPolicy *dagger.File,
) (string, error) {
	envs, err := m.environments(ctx, environments)
	if err != nil {
		return "", err
	}
	if repository, err = m.repositoryName(ctx, repository); err != nil {
		return "", err
	}
	in := doctor.Inputs{Environment: environment, Policy: policy.Inputs{Account: account, GitHubOwner: githubOwner,
		GitHubRepo: githubRepo, RepoID: githubRepoId, DeployWorkflow: deployWorkflow, PRWorkflow: prWorkflow,
		Cluster: cluster, ECRRepository: repository, Environments: envs}}
	if namespace != "" {
		in.Namespaces = []string{namespace}
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
	if err := m.doctorRuntime(ctx, envs, &in); err != nil {
		return "", err
	}
	rep := doctor.Run(ctx, in)
	if !rep.OK() {
		return "", fmt.Errorf("doctor found problems:\n%s", rep.String())
	}
	return rep.String(), nil
}

// doctorRuntime adds the runtime identity checks when the environment's overlay has a runtime policy. It does not
// check the policy itself (bootstrap refuses a bad one), so a default service account is reported, not refused.
func (m *Ship) doctorRuntime(ctx context.Context, envs []policy.Environment, in *doctor.Inputs) error {
	for _, e := range envs {
		if e.Name != in.Environment {
			continue
		}
		rt, w, err := m.runtimeAccess(ctx, e)
		if err != nil || rt == nil {
			return err
		}
		in.Runtime = &doctor.Runtime{Environment: e.Name, Namespace: e.Namespace, ServiceAccount: w.ServiceAccount,
			Defined: w.Defines(w.ServiceAccount), PolicySource: rt.Source}
	}
	return nil
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

// doctorAWS adds the online checks when AWS credentials work, and keeps AWS's refusal for the report when they
// do not: the identity itself is what doctor diagnoses, so the offline checks still run.
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
		in.RoleName = parts[5][strings.LastIndex(parts[5], "/")+1:]
	}
	if m.Aws == nil {
		return nil
	}
	in.Policy.Region = m.Aws.Region
	cfg, err := m.awsConfig(ctx, "doctor", "")
	if err != nil {
		in.STSError = err
		return nil
	}
	in.AWS = &cfg
	return nil
}
