// Package awsauth turns the pipeline's inputs into an aws.Config without stored
// long-term keys: GitHub OIDC web identity first, explicit keys second, the
// SDK default chain (profiles, SSO) last. It exists so every AWS step shares one
// validated, retrying, self-refreshing credential source, and so STS refusals
// come back explained instead of as bare AccessDenied.
package awsauth

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"dagger/ship/internal/oidc"
)

// tokenSkew is the clock skew tolerated when checking the OIDC token locally.
const tokenSkew = 30 * time.Second

// Options selects and configures the credential source.
type Options struct {
	Region      string
	RoleARN     string
	SessionName string
	Duration    time.Duration
	WebIdentity *oidc.Token

	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string

	ChainRoleARN string
	HTTPClient   *http.Client // tests
}

// String never shows keys or the token.
func (o Options) String() string {
	src := "default chain"
	switch {
	case o.WebIdentity != nil:
		src = "web identity"
	case o.AccessKeyID != "":
		src = "static keys"
	}
	return fmt.Sprintf("awsauth.Options{Region: %s, RoleARN: %s, Chain: %s, Source: %s}", o.Region, o.RoleARN, o.ChainRoleARN, src)
}

// GoString keeps %#v from dumping secrets.
func (o Options) GoString() string { return o.String() }

// Config builds an aws.Config and retrieves credentials once, so a refusal is
// reported (explained) here rather than in the first real call.
func Config(ctx context.Context, o Options) (aws.Config, error) {
	now := time.Now()
	if err := o.normalize(now); err != nil {
		return aws.Config{}, err
	}
	if o.WebIdentity != nil {
		if err := o.WebIdentity.Validate(now, tokenSkew); err != nil {
			return aws.Config{}, fmt.Errorf("awsauth: %w", err)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOptions(o)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("awsauth: load AWS configuration: %w", err)
	}
	cfg.Credentials = baseProvider(cfg, o)
	if o.ChainRoleARN != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.ChainRoleARN,
			func(a *stscreds.AssumeRoleOptions) { a.RoleSessionName = o.SessionName }))
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, Explain(err, o.WebIdentity, firstNonEmpty(o.RoleARN, o.ChainRoleARN))
	}
	return cfg, nil
}

func loadOptions(o Options) []func(*config.LoadOptions) error {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(o.Region),
		config.WithRetryMode(aws.RetryModeStandard),
	}
	if o.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(o.HTTPClient))
	}
	if o.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)))
	}
	return opts
}

// baseProvider picks the first-hop credentials: web identity, or the loaded
// (static or default-chain) credentials, optionally assuming RoleARN.
func baseProvider(cfg aws.Config, o Options) aws.CredentialsProvider {
	client := sts.NewFromConfig(cfg)
	if o.WebIdentity != nil {
		return aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(client, o.RoleARN, tokenSource{o.WebIdentity},
			func(w *stscreds.WebIdentityRoleOptions) {
				w.RoleSessionName = o.SessionName
				w.Duration = o.Duration
			}))
	}
	if o.RoleARN == "" {
		return cfg.Credentials
	}
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, o.RoleARN, func(a *stscreds.AssumeRoleOptions) {
		a.RoleSessionName = o.SessionName
		if o.Duration != 0 {
			a.Duration = o.Duration
		}
	}))
}

// tokenSource hands the OIDC token to the SDK only when it asks for it.
type tokenSource struct{ tok *oidc.Token }

func (s tokenSource) GetIdentityToken() ([]byte, error) { return []byte(s.tok.Raw()), nil }

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Identity is who AWS says the caller is.
type Identity struct {
	Account, ARN, UserID string
}

// String shows account and ARN only.
func (i Identity) String() string { return fmt.Sprintf("%s (account %s)", i.ARN, i.Account) }

// WhoAmI asks STS GetCallerIdentity.
func WhoAmI(ctx context.Context, cfg aws.Config) (Identity, error) {
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, Explain(err, nil, "")
	}
	return Identity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn), UserID: aws.ToString(out.UserId)}, nil
}
