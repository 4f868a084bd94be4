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
	"sync"
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

// tokenMargin is how much validity a web identity token must have left to be sent to STS; a token closer to
// its expiry is fetched again (GitHub's live minutes, a role session an hour: a refresh needs a new one).
const tokenMargin = 30 * time.Second

// CredentialsRefreshWindow is how long before they expire cached credentials are refreshed. It exceeds an
// EKS token's 15-minute validity, so a token is never signed with credentials that die before it does.
const CredentialsRefreshWindow = 16 * time.Minute

// Options selects and configures the credential source.
type Options struct {
	Region      string
	RoleARN     string
	SessionName string
	Duration    time.Duration
	WebIdentity *oidc.Token
	// RefreshWebIdentity fetches a new web identity token when the one in use nears its expiry (nil: the
	// token cannot be re-fetched, e.g. one given as a file, and a refresh after it expired fails).
	RefreshWebIdentity func(ctx context.Context) (*oidc.Token, error)

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
		cfg.Credentials = cache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.ChainRoleARN,
			func(a *stscreds.AssumeRoleOptions) { a.RoleSessionName, a.Duration = o.SessionName, session(o) }), session(o))
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
		src := &tokenSource{tok: o.WebIdentity, refresh: o.RefreshWebIdentity}
		return cache(stscreds.NewWebIdentityRoleProvider(client, o.RoleARN, src,
			func(w *stscreds.WebIdentityRoleOptions) {
				w.RoleSessionName = o.SessionName
				w.Duration = session(o)
			}), session(o))
	}
	if o.RoleARN == "" {
		return cfg.Credentials
	}
	return cache(stscreds.NewAssumeRoleProvider(client, o.RoleARN, func(a *stscreds.AssumeRoleOptions) {
		a.RoleSessionName, a.Duration = o.SessionName, session(o)
	}), session(o))
}

// session is the role session length asked of STS (an hour unless given).
func session(o Options) time.Duration {
	if o.Duration == 0 {
		return time.Hour
	}
	return o.Duration
}

// cache refreshes role credentials CredentialsRefreshWindow before they expire, or halfway through a
// session too short for that.
func cache(p aws.CredentialsProvider, length time.Duration) aws.CredentialsProvider {
	return refreshAhead{cache: aws.NewCredentialsCache(p), window: min(CredentialsRefreshWindow, length/2)}
}

// refreshAhead fetches new credentials once the cached ones have less than window left. (The SDK cache's own
// ExpiryWindow does the same but then reports an expiry earlier than the real one, and an EKS token's
// lifetime is computed from the real one.)
type refreshAhead struct {
	cache  *aws.CredentialsCache
	window time.Duration
}

func (r refreshAhead) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := r.cache.Retrieve(ctx)
	if err != nil || !c.CanExpire || time.Until(c.Expires) >= r.window {
		return c, err
	}
	r.cache.Invalidate()
	return r.cache.Retrieve(ctx)
}

// tokenSource hands the OIDC token to the SDK only when it asks for it, fetching a new one first when the
// one it has is about to expire.
type tokenSource struct {
	mu      sync.Mutex
	tok     *oidc.Token
	refresh func(ctx context.Context) (*oidc.Token, error)
}

func (s *tokenSource) GetIdentityToken() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Until(s.tok.Claims.Expiry) >= tokenMargin {
		return []byte(s.tok.Raw()), nil
	}
	if s.refresh == nil {
		return nil, fmt.Errorf("awsauth: the web identity token expires at %s and cannot be fetched again (it was given as a value): "+
			"for runs longer than the token lives, use with-github-oidc, which fetches a new one", s.tok.Claims.Expiry.UTC().Format(time.RFC3339))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := s.refresh(ctx)
	if err != nil {
		return nil, fmt.Errorf("awsauth: fetching a new web identity token to refresh the credentials: %w", err)
	}
	s.tok = tok
	return []byte(tok.Raw()), nil
}

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
