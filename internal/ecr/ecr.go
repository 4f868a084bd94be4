// Package ecr finds (or, on explicit opt-in, creates) the ECR repository the
// image is pushed to and logs in with short-lived credentials. It guards
// against pushing to a typo'd repository, silently creating repositories with
// weak defaults, and leaking the registry password through printing.
package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// CreateRepositoryFlag is the opt-in users pass to create a missing repository.
const CreateRepositoryFlag = "--create-repository"

var (
	nameRE    = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	accountRE = regexp.MustCompile(`^\d{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$`)
)

// InputError is a malformed repository name, account or region.
type InputError struct{ Field, Value, Want string }

func (e *InputError) Error() string {
	return fmt.Sprintf("ecr: %s %q is invalid: want %s", e.Field, e.Value, e.Want)
}

// ValidateName checks ECR's repository name rules.
func ValidateName(name string) error {
	if len(name) < 2 || len(name) > 256 || !nameRE.MatchString(name) {
		return &InputError{Field: "repository name", Value: name,
			Want: "2-256 lowercase letters, digits and . _ - separators, optionally with / namespaces (e.g. shop/api)"}
	}
	return nil
}

// RepositoryURI builds <account>.dkr.ecr.<region>.<partition host>/<name>.
func RepositoryURI(account, region, name string) (string, error) {
	if !accountRE.MatchString(account) {
		return "", &InputError{Field: "account", Value: account, Want: "a 12-digit AWS account id"}
	}
	if !regionRE.MatchString(region) {
		return "", &InputError{Field: "region", Value: region, Want: "an AWS region such as us-east-1"}
	}
	if err := ValidateName(name); err != nil {
		return "", err
	}
	domain := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return fmt.Sprintf("%s.dkr.ecr.%s.%s/%s", account, region, domain, name), nil
}

// Credentials log in to the registry. Password is a bearer secret.
type Credentials struct {
	Registry  string // host[:port]
	Username  string
	Password  string
	ExpiresAt time.Time
}

// String redacts the password.
func (c Credentials) String() string {
	return fmt.Sprintf("ecr.Credentials{Registry: %s, Username: %s, Password: REDACTED, ExpiresAt: %s}",
		c.Registry, c.Username, c.ExpiresAt.Format(time.RFC3339))
}

// GoString redacts the password for %#v.
func (c Credentials) GoString() string { return c.String() }

// Login exchanges AWS credentials for registry credentials.
func Login(ctx context.Context, cfg aws.Config) (Credentials, error) {
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return Credentials{}, fmt.Errorf("ecr: get authorization token (the role needs ecr:GetAuthorizationToken on *): %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return Credentials{}, errors.New("ecr: GetAuthorizationToken returned no authorization data")
	}
	return decodeAuth(out.AuthorizationData[0])
}

func decodeAuth(d types.AuthorizationData) (Credentials, error) {
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return Credentials{}, errors.New("ecr: authorization token is not base64")
	}
	user, pw, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || pw == "" {
		return Credentials{}, errors.New("ecr: authorization token is not of the form user:password")
	}
	u, err := url.Parse(aws.ToString(d.ProxyEndpoint))
	if err != nil || u.Host == "" {
		return Credentials{}, fmt.Errorf("ecr: proxy endpoint %q is not a URL", aws.ToString(d.ProxyEndpoint))
	}
	return Credentials{Registry: u.Host, Username: user, Password: pw, ExpiresAt: aws.ToTime(d.ExpiresAt)}, nil
}

// CreateOptions opts in to creating a missing repository.
type CreateOptions struct {
	KMSKeyARN string // empty: AES256
	Tags      map[string]string
}

// MissingRepositoryError says the repository does not exist and how to fix it.
type MissingRepositoryError struct {
	Name, Region string
	Err          error
}

func (e *MissingRepositoryError) Error() string {
	return fmt.Sprintf("ecr: repository %q does not exist in %s: run the bootstrap function to create it, or pass %s to create it now (scan on push, immutable tags, encrypted)",
		e.Name, e.Region, CreateRepositoryFlag)
}

func (e *MissingRepositoryError) Unwrap() error { return e.Err }

// Repository returns the URI of repository name, creating it only when
// create is non-nil.
func Repository(ctx context.Context, cfg aws.Config, name string, create *CreateOptions) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	client := ecr.NewFromConfig(cfg)
	out, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	var nf *types.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf) && create == nil:
		return "", &MissingRepositoryError{Name: name, Region: cfg.Region, Err: err}
	case errors.As(err, &nf):
		return createRepository(ctx, client, name, create)
	case err != nil:
		return "", fmt.Errorf("ecr: describe repository %q (the role needs ecr:DescribeRepositories on it): %w", name, err)
	case len(out.Repositories) == 0:
		return "", &MissingRepositoryError{Name: name, Region: cfg.Region}
	}
	return aws.ToString(out.Repositories[0].RepositoryUri), nil
}

func createRepository(ctx context.Context, client *ecr.Client, name string, o *CreateOptions) (string, error) {
	enc := &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeAes256}
	if o.KMSKeyARN != "" {
		enc = &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String(o.KMSKeyARN)}
	}
	in := &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String(name),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
		ImageTagMutability:         types.ImageTagMutabilityImmutable,
		EncryptionConfiguration:    enc,
	}
	for k, v := range o.Tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := client.CreateRepository(ctx, in)
	if err != nil {
		return "", fmt.Errorf("ecr: create repository %q (the role needs ecr:CreateRepository): %w", name, err)
	}
	return aws.ToString(out.Repository.RepositoryUri), nil
}

// ImageDigest returns the digest tag points at in the repository, or "" when there is no such tag
// (ecr:DescribeImages; both the build role and the environment roles may call it on their repository).
func ImageDigest(ctx context.Context, cfg aws.Config, repository, tag string) (string, error) {
	out, err := ecr.NewFromConfig(cfg).DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String(repository), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String(tag)}}})
	var nf *types.ImageNotFoundException
	var rnf *types.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf):
		return "", nil
	case errors.As(err, &rnf):
		return "", &MissingRepositoryError{Name: repository, Region: cfg.Region, Err: err}
	case err != nil:
		return "", fmt.Errorf("ecr: look up tag %s in %q (the role needs ecr:DescribeImages on it): %w", tag, repository, err)
	case len(out.ImageDetails) == 0:
		return "", nil
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest), nil
}
