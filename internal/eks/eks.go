// Package eks gets what kubectl needs to reach an EKS cluster: endpoint and CA
// from DescribeCluster, and a short-lived bearer token (what `aws eks
// get-token` makes) minted fresh for every step. It guards against stale or
// reused tokens, against deploying to a cluster that is not ACTIVE, and against
// printing the token.
package eks

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const (
	// TokenPrefix marks an EKS bearer token.
	TokenPrefix = "k8s-aws-v1."
	// clusterHeader binds the token to one cluster; it is signed.
	clusterHeader = "x-k8s-aws-id"
	// tokenLifetime is what `aws eks get-token` reports; EKS accepts 15 min.
	tokenLifetime = 14 * time.Minute
	presignExpiry = "60"
)

var clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)

// Cluster holds the connection facts of an EKS cluster.
type Cluster struct {
	Name, ARN, Endpoint string
	CAData              []byte // PEM
	Version, Status     string
}

// ClusterError is a cluster that cannot be used, with what to do about it.
type ClusterError struct {
	Name, Problem string
	Err           error
}

func (e *ClusterError) Error() string { return fmt.Sprintf("eks: cluster %q: %s", e.Name, e.Problem) }
func (e *ClusterError) Unwrap() error { return e.Err }

// Describe returns an ACTIVE cluster's endpoint and CA.
func Describe(ctx context.Context, cfg aws.Config, name string) (Cluster, error) {
	if !clusterNameRE.MatchString(name) {
		return Cluster{}, &ClusterError{Name: name, Problem: "invalid name: want 1-100 letters, digits, - or _, starting with a letter or digit"}
	}
	out, err := eks.NewFromConfig(cfg).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if err != nil {
		return Cluster{}, describeError(name, cfg.Region, err)
	}
	c := out.Cluster
	if c == nil || c.CertificateAuthority == nil {
		return Cluster{}, &ClusterError{Name: name, Problem: "DescribeCluster returned no certificate authority"}
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
	if err != nil || len(ca) == 0 {
		return Cluster{}, &ClusterError{Name: name, Problem: "DescribeCluster returned no usable certificate authority data", Err: err}
	}
	cl := Cluster{Name: aws.ToString(c.Name), ARN: aws.ToString(c.Arn), Endpoint: aws.ToString(c.Endpoint),
		CAData: ca, Version: aws.ToString(c.Version), Status: string(c.Status)}
	if c.Status != types.ClusterStatusActive {
		return cl, &ClusterError{Name: name, Problem: fmt.Sprintf("status is %s, not ACTIVE: wait until the cluster is ACTIVE and retry", c.Status)}
	}
	return cl, nil
}

func describeError(name, region string, err error) error {
	var nf *types.ResourceNotFoundException
	var ae smithy.APIError
	switch {
	case errors.As(err, &nf):
		return &ClusterError{Name: name, Err: err,
			Problem: fmt.Sprintf("not found in region %s: check the cluster name and region (aws eks list-clusters --region %s)", region, region)}
	case errors.As(err, &ae) && strings.HasPrefix(ae.ErrorCode(), "AccessDenied"):
		return &ClusterError{Name: name, Err: err,
			Problem: fmt.Sprintf("access denied: the role needs eks:DescribeCluster on arn:aws:eks:%s:<account>:cluster/%s", region, name)}
	}
	return fmt.Errorf("eks: describe cluster %q: %w", name, err)
}

// Token is an EKS bearer token. Value is a secret.
type Token struct {
	Value  string
	Expiry time.Time
}

// String redacts the token value.
func (t Token) String() string {
	return fmt.Sprintf("eks.Token{Value: REDACTED, Expiry: %s}", t.Expiry.Format(time.RFC3339))
}

// GoString redacts the token value for %#v.
func (t Token) GoString() string { return t.String() }

// NewToken presigns STS GetCallerIdentity bound to clusterName. now sets the
// reported expiry (signing uses the SDK clock). The token is good only while
// the credentials that signed it are, so its expiry is the earlier of the two.
func NewToken(ctx context.Context, cfg aws.Config, clusterName string, now time.Time) (Token, error) {
	if !clusterNameRE.MatchString(clusterName) {
		return Token{}, &ClusterError{Name: clusterName, Problem: "invalid name for a token"}
	}
	expiry := now.Add(tokenLifetime)
	if cfg.Credentials != nil {
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return Token{}, fmt.Errorf("eks: credentials to sign a token for cluster %q: %w", clusterName, err)
		}
		if creds.CanExpire && creds.Expires.Before(expiry) {
			expiry = creds.Expires
		}
	}
	presigner := sts.NewPresignClient(sts.NewFromConfig(cfg))
	req, err := presigner.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{},
		func(po *sts.PresignOptions) {
			po.ClientOptions = append(po.ClientOptions, func(o *sts.Options) {
				o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue(clusterHeader, clusterName), setExpires)
			})
		})
	if err != nil {
		return Token{}, fmt.Errorf("eks: presign sts:GetCallerIdentity for cluster %q: %w", clusterName, err)
	}
	return Token{Value: TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), Expiry: expiry}, nil
}

// setExpires adds X-Amz-Expires=60 before signing, as `aws eks get-token` does.
func setExpires(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("EKSTokenExpires",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				q := req.URL.Query()
				q.Set("X-Amz-Expires", presignExpiry)
				req.URL.RawQuery = q.Encode()
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
}
