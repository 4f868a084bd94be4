// The AWS clients bootstrap and doctor use, built from one aws.Config, and
// the error-code checks that tell "absent" (create it) from a real failure
// (stop), so a permission problem is never mistaken for a missing resource.
package bootstrap

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// Clients are the SDK clients for an administrator's credentials.
type Clients struct {
	IAM *iam.Client
	ECR *ecr.Client
	EKS *eks.Client
	KMS *kms.Client
}

// NewClients builds the clients from cfg (cfg.BaseEndpoint, if set, points
// all of them at one endpoint, as tests do).
func NewClients(cfg aws.Config) Clients {
	return Clients{IAM: iam.NewFromConfig(cfg), ECR: ecr.NewFromConfig(cfg), EKS: eks.NewFromConfig(cfg), KMS: kms.NewFromConfig(cfg)}
}

// ErrorCode returns the AWS error code of err, or "".
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isNotFound(err error) bool {
	switch ErrorCode(err) {
	case "NoSuchEntity", "ResourceNotFoundException", "RepositoryNotFoundException":
		return true
	}
	return false
}
