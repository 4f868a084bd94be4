// This file holds the credential builders and the AWS-facing functions (publish, kubeconfig, whoami).
// It guards one rule: no long-lived AWS key is needed, and no secret value ever leaves a *dagger.Secret
// except inside this process, on its way to the SDK.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"dagger/ship/internal/awsauth"
	"dagger/ship/internal/dagger"
	"dagger/ship/internal/ecr"
	"dagger/ship/internal/oidc"
	"dagger/ship/internal/publish"
)

// AwsSettings says which AWS account and role the pipeline acts as.
type AwsSettings struct {
	Region          string
	RoleArn         string
	SessionName     string
	DurationSeconds int
	ChainRoleArn    string
	AccessKeyID     *dagger.Secret
	SecretAccessKey *dagger.Secret
	SessionToken    *dagger.Secret
}

// OidcSettings says where the web identity token comes from.
type OidcSettings struct {
	RequestURL   *dagger.Secret
	RequestToken *dagger.Secret
	Audience     string
	Token        *dagger.Secret
}

// RegistrySettings are credentials for any OCI registry (used instead of ECR when given).
type RegistrySettings struct {
	Address  string
	Username string
	Password *dagger.Secret
	Api      *dagger.Service
}

// WithGithubOidc takes the web identity token from GitHub Actions (the job needs `permissions: id-token: write`).
func (m *Ship) WithGithubOidc(
	// The token request URL: env:ACTIONS_ID_TOKEN_REQUEST_URL.
	requestUrl *dagger.Secret,
	// The token request bearer: env:ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	requestToken *dagger.Secret,
	// Audience the token is minted for; it must be a client ID of the IAM OIDC provider.
	// +default="sts.amazonaws.com"
	audience string,
) *Ship {
	c := *m
	c.Oidc = &OidcSettings{RequestURL: requestUrl, RequestToken: requestToken, Audience: audience}
	return &c
}

// WithWebIdentityToken uses a web identity token from any OIDC provider (GitLab, Buildkite, a file).
func (m *Ship) WithWebIdentityToken(
	// The JWT, e.g. env:CI_JOB_JWT_V2 or file:/path/to/token.
	token *dagger.Secret,
) *Ship {
	c := *m
	c.Oidc = &OidcSettings{Token: token}
	return &c
}

// WithAws sets the AWS region and the identity the pipeline acts as.
// With a web identity (with-github-oidc or with-web-identity-token) it assumes --role-arn; otherwise it uses the
// keys given here (for local use), or the SDK's default chain.
func (m *Ship) WithAws(
	// AWS region, e.g. us-east-1.
	region string,
	// Role to assume with the web identity token.
	// +optional
	roleArn string,
	// Session name shown in CloudTrail; defaults to one that identifies the run.
	// +optional
	sessionName string,
	// Lifetime of the assumed-role credentials, 900 to 43200 seconds.
	// +default=3600
	durationSeconds int,
	// A second role to chain into after the first.
	// +optional
	chainRoleArn string,
	// Access key ID, for local use only (e.g. env:AWS_ACCESS_KEY_ID).
	// +optional
	accessKeyId *dagger.Secret,
	// Secret access key, for local use only.
	// +optional
	secretAccessKey *dagger.Secret,
	// Session token for temporary keys.
	// +optional
	sessionToken *dagger.Secret,
) *Ship {
	c := *m
	c.Aws = &AwsSettings{
		Region: region, RoleArn: roleArn, SessionName: sessionName, DurationSeconds: durationSeconds,
		ChainRoleArn: chainRoleArn, AccessKeyID: accessKeyId, SecretAccessKey: secretAccessKey, SessionToken: sessionToken,
	}
	return &c
}

// WithRegistry pushes to any OCI registry with these credentials instead of ECR (no AWS needed).
func (m *Ship) WithRegistry(
	// Registry host, e.g. ghcr.io or localhost:5000.
	address string,
	// User name.
	username string,
	// Password or token.
	password *dagger.Secret,
	// The registry's API as a service, for a registry on this machine's loopback (e.g. tcp://localhost:5000):
	// the engine pushes there itself, ship's own code attaches the attestations through this.
	// +optional
	api *dagger.Service,
) *Ship {
	c := *m
	c.Registry = &RegistrySettings{Address: address, Username: username, Password: password, Api: api}
	return &c
}

// Whoami shows the AWS account and ARN the pipeline acts as (GetCallerIdentity), never the keys.
// +cache="never"
func (m *Ship) Whoami(ctx context.Context) (string, error) {
	cfg, err := m.awsConfig(ctx, "whoami", "")
	if err != nil {
		return "", err
	}
	id, err := awsauth.WhoAmI(ctx, cfg)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// Publish builds and pushes the revision's image once, returning repository:revision@digest.
//
// To ECR (with-aws) or to the registry given by with-registry, tagged with the revision and any extra tags.
// When the revision tag already exists, its image is the release: it is returned as it is, and nothing is
// built or pushed (a rebuild would not be the image that was tested, and immutable tags refuse it).
// On ECR, the image's scan verdict (at the default threshold, CRITICAL) is printed to the log when the scan
// has one; it never fails publish.
// +cache="never"
func (m *Ship) Publish(
	ctx context.Context,
	// ECR repository name (e.g. fastapi-app), or a full repository address with with-registry.
	repository string,
	// Git revision: the image tag and what /version reports.
	revision string,
	// Extra tags, pushed with the revision tag when it is first published.
	// +optional
	tags []string,
	// Platforms to build; more than one publishes a multi-platform image.
	// +default=["linux/amd64"]
	platforms []dagger.Platform,
	// Create the ECR repository when missing (scan on push, immutable tags, encryption).
	// +optional
	createRepository bool,
) (string, error) {
	ctx, span := Tracer().Start(ctx, "publish")
	defer span.End()
	if strings.TrimSpace(revision) == "" {
		return "", fmt.Errorf("--revision is required: it tags the image and is what /version reports (e.g. --revision $(git rev-parse HEAD))")
	}
	if len(platforms) == 0 {
		return "", fmt.Errorf("--platforms must name at least one platform, e.g. linux/amd64")
	}
	ref, err := m.ensurePublished(ctx, repository, revision, tags, platforms, createRepository, false, "not rebuilt, not pushed again")
	if err == nil {
		m.reportScan(ctx, ref, repository)
	}
	return ref, err
}

// release is deploy's publish: the published revision, or tests, build and publish when it is not yet.
func (m *Ship) release(ctx context.Context, repository, revision string, platforms []dagger.Platform, create, skipTests bool) (string, error) {
	return m.ensurePublished(ctx, repository, revision, nil, platforms, create, !skipTests, "deploying it as it is (no test, build or push)")
}

// ensurePublished publishes the revision unless its tag exists (then says so, with what that means).
func (m *Ship) ensurePublished(ctx context.Context, repository, revision string, tags []string, platforms []dagger.Platform, create, test bool, reused string) (string, error) {
	target, err := m.pushTarget(ctx, repository, create)
	if err != nil {
		return "", err
	}
	if err := target.checkAttestable(); err != nil {
		return "", err
	}
	started := time.Now()
	var built map[string]*dagger.Container // what this run pushed, by platform: the SBOM reads it
	res, err := publish.Ensure(ctx, target.repository, target.lookup, revision, tags, func(ctx context.Context, tags []string) (string, error) {
		if test {
			if _, err := m.Test(ctx); err != nil {
				return "", err
			}
		}
		digest, variants, err := m.buildAndPush(ctx, target, revision, tags, platforms)
		built = variants
		return digest, err
	})
	if err != nil {
		return "", err
	}
	if res.Reused {
		fmt.Fprintf(os.Stderr, "%s:%s is already published: %s\n", target.repository, revision, reused)
	}
	if err := m.attestPublished(ctx, target, res.Ref, revision, platforms, built, started); err != nil {
		return "", fmt.Errorf("%s is pushed, but its attestations are not: %w", res.Ref, err)
	}
	return res.Ref, nil
}

// publishedRef is promote's lookup: the revision's image, or an error saying it was never published.
func (m *Ship) publishedRef(ctx context.Context, repository, revision string) (string, error) {
	target, err := m.pushTarget(ctx, repository, false)
	if err != nil {
		return "", err
	}
	return publish.Find(ctx, target.repository, target.lookup, revision)
}

// buildAndPush builds every platform and pushes the image under each tag, returning its digest and the
// containers pushed, by platform.
func (m *Ship) buildAndPush(ctx context.Context, target *pushTarget, revision string, tags []string, platforms []dagger.Platform) (string, map[string]*dagger.Container, error) {
	variants := make([]*dagger.Container, 0, len(platforms))
	byPlatform := map[string]*dagger.Container{}
	for _, p := range platforms {
		ctr, err := m.Build(ctx, p, revision)
		if err != nil {
			return "", nil, err
		}
		variants = append(variants, ctr)
		byPlatform[string(p)] = ctr
	}
	digest := ""
	for _, tag := range tags {
		ref, err := dag.Container().
			WithRegistryAuth(target.host, target.username, target.password).
			Publish(ctx, target.repository+":"+tag, dagger.ContainerPublishOpts{PlatformVariants: variants})
		if err != nil {
			return "", nil, fmt.Errorf("push %s:%s: %v", target.repository, tag, err)
		}
		if digest, err = publish.DigestOf(ref); err != nil {
			return "", nil, err
		}
	}
	return digest, byPlatform, nil
}

// pushTarget is where an image goes, the credentials to put it there, and how its tags are looked up.
type pushTarget struct {
	repository, host, username string
	password                   *dagger.Secret
	api                        *dagger.Service // the registry's API, when the module cannot reach host directly
	lookup                     publish.Registry
}

// pushTarget resolves a repository to ECR (derived from the caller's account) or to the generic registry.
func (m *Ship) pushTarget(ctx context.Context, repository string, create bool) (*pushTarget, error) {
	if m.Registry != nil {
		repo := repository
		if !strings.HasPrefix(repo, m.Registry.Address+"/") {
			repo = m.Registry.Address + "/" + strings.TrimPrefix(repository, "/")
		}
		t := &pushTarget{repository: repo, host: m.Registry.Address, username: m.Registry.Username, password: m.Registry.Password, api: m.Registry.Api}
		t.lookup = engineRegistry{target: t}
		return t, nil
	}
	cfg, err := m.awsConfig(ctx, "publishing to ECR", "use with-registry to publish to another registry")
	if err != nil {
		return nil, err
	}
	var opts *ecr.CreateOptions
	if create {
		opts = &ecr.CreateOptions{}
	}
	uri, err := ecr.Repository(ctx, cfg, repository, opts)
	if err != nil {
		return nil, err
	}
	creds, err := ecr.Login(ctx, cfg)
	if err != nil {
		return nil, err
	}
	secret := dag.SetSecret("ecr-password-"+digestOf(creds.Password), creds.Password)
	return &pushTarget{repository: uri, host: creds.Registry, username: creds.Username, password: secret,
		lookup: publish.ECR{Config: cfg, Repository: repository}}, nil
}

// engineRegistry looks a tag up through the engine, which reaches every registry a push reaches (one on the
// host's loopback included, where the module's own container cannot).
type engineRegistry struct{ target *pushTarget }

func (r engineRegistry) Digest(ctx context.Context, tag string) (string, error) {
	ref, err := dag.Container().
		WithRegistryAuth(r.target.host, r.target.username, r.target.password).
		From(r.target.repository + ":" + tag).
		ImageRef(ctx)
	if err != nil {
		if publish.IsNotFound(err.Error()) {
			return "", nil
		}
		return "", fmt.Errorf("%v", err)
	}
	return publish.DigestOf(ref)
}

// isECRHost says whether a registry host is Amazon ECR's (<account>.dkr.ecr.<region>.amazonaws.com).
func isECRHost(host string) bool { return strings.Contains(host, ".dkr.ecr.") }

// awsConfig turns the With* settings into SDK credentials: web identity first, then keys, then the default
// chain. alternative says how to do without AWS, when there is a way.
func (m *Ship) awsConfig(ctx context.Context, purpose, alternative string) (aws.Config, error) {
	if m.Aws == nil {
		msg := fmt.Sprintf("%s needs AWS: chain with-aws --region <region> [--role-arn <arn>] before it (and with-github-oidc in GitHub Actions)", purpose)
		if alternative != "" {
			msg += ", or " + alternative
		}
		return aws.Config{}, errors.New(msg)
	}
	opts := awsauth.Options{
		Region: m.Aws.Region, RoleARN: m.Aws.RoleArn, SessionName: m.Aws.SessionName,
		Duration: time.Duration(m.Aws.DurationSeconds) * time.Second, ChainRoleARN: m.Aws.ChainRoleArn,
	}
	var err error
	if opts.WebIdentity, err = m.webIdentity(ctx); err != nil {
		return aws.Config{}, err
	}
	if m.Oidc != nil && m.Oidc.Token == nil {
		// A GitHub token lives minutes, a deploy may outlast it: credentials refreshes fetch a new one.
		opts.RefreshWebIdentity = m.webIdentity
	}
	for _, s := range []struct {
		secret *dagger.Secret
		dst    *string
	}{{m.Aws.AccessKeyID, &opts.AccessKeyID}, {m.Aws.SecretAccessKey, &opts.SecretAccessKey}, {m.Aws.SessionToken, &opts.SessionToken}} {
		if s.secret == nil {
			continue
		}
		if *s.dst, err = s.secret.Plaintext(ctx); err != nil {
			return aws.Config{}, fmt.Errorf("read AWS key secret: %w", err)
		}
		*s.dst = strings.TrimSpace(*s.dst)
	}
	return awsauth.Config(ctx, opts)
}

// webIdentity fetches or reads the OIDC token, when one was configured.
func (m *Ship) webIdentity(ctx context.Context) (*oidc.Token, error) {
	if m.Oidc == nil {
		return nil, nil
	}
	if m.Oidc.Token != nil {
		raw, err := m.Oidc.Token.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the web identity token secret: %w", err)
		}
		return oidc.Parse(strings.TrimSpace(raw))
	}
	gh := oidc.GitHub{Audience: m.Oidc.Audience}
	var err error
	if m.Oidc.RequestURL != nil {
		if gh.RequestURL, err = m.Oidc.RequestURL.Plaintext(ctx); err != nil {
			return nil, fmt.Errorf("read the OIDC request URL secret: %w", err)
		}
	}
	if m.Oidc.RequestToken != nil {
		if gh.RequestToken, err = m.Oidc.RequestToken.Plaintext(ctx); err != nil {
			return nil, fmt.Errorf("read the OIDC request token secret: %w", err)
		}
	}
	gh.RequestURL, gh.RequestToken = strings.TrimSpace(gh.RequestURL), strings.TrimSpace(gh.RequestToken)
	return gh.Fetch(ctx)
}
