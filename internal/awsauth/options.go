// Input validation for AWS authentication. Every field is checked before any
// network call so a typo in a role ARN or an out-of-range duration fails fast
// with a message saying what to fix, instead of an opaque STS refusal.
package awsauth

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// InputError is a bad option value; the message says what is expected.
type InputError struct {
	Field, Value, Want string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("awsauth: %s %q is invalid: want %s", e.Field, e.Value, e.Want)
}

var (
	roleARNRE   = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	badSession  = regexp.MustCompile(`[^\w+=,.@-]+`)
	minDuration = 900 * time.Second
	maxDuration = 43200 * time.Second
)

// ValidateRoleARN checks an IAM role ARN's shape.
func ValidateRoleARN(field, arn string) error {
	if !roleARNRE.MatchString(arn) {
		return &InputError{Field: field, Value: arn, Want: "arn:aws[-cn|-us-gov]:iam::<12-digit account>:role/<path/>name"}
	}
	return nil
}

// SessionName sanitizes a session name to STS's alphabet [\w+=,.@-] and 64
// characters; empty input yields a default naming this run.
func SessionName(name string, now time.Time) string {
	if name == "" {
		name = fmt.Sprintf("ship-%s-%d", runIdentity(), now.Unix())
	}
	name = badSession.ReplaceAllString(name, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	for len(name) < 2 {
		name += "-"
	}
	return name
}

// runIdentity names who or what runs the pipeline: the commit in CI, the
// user on a laptop.
func runIdentity() string {
	if sha := os.Getenv("GITHUB_SHA"); len(sha) >= 12 {
		return sha[:12]
	}
	for _, k := range []string{"USER", "USERNAME"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "run"
}

func (o *Options) normalize(now time.Time) error {
	if o.Region == "" {
		o.Region = os.Getenv("AWS_REGION")
	}
	if o.Region == "" {
		return &InputError{Field: "region", Value: "", Want: "an AWS region such as us-east-1 (set --region or AWS_REGION)"}
	}
	if o.RoleARN != "" {
		if err := ValidateRoleARN("role ARN", o.RoleARN); err != nil {
			return err
		}
	}
	if o.ChainRoleARN != "" {
		if err := ValidateRoleARN("chained role ARN", o.ChainRoleARN); err != nil {
			return err
		}
	}
	if o.WebIdentity != nil && o.RoleARN == "" {
		return &InputError{Field: "role ARN", Value: "", Want: "the role to assume with the OIDC token (--role-arn)"}
	}
	if o.Duration != 0 && (o.Duration < minDuration || o.Duration > maxDuration) {
		return &InputError{Field: "session duration", Value: o.Duration.String(), Want: "between 15m and 12h"}
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return &InputError{Field: "static credentials", Value: "incomplete", Want: "both an access key id and a secret access key"}
	}
	o.SessionName = SessionName(o.SessionName, now)
	if strings.HasPrefix(o.AccessKeyID, "ASIA") && o.SessionToken == "" {
		return &InputError{Field: "static credentials", Value: o.AccessKeyID[:4] + "...", Want: "a session token with temporary (ASIA...) keys"}
	}
	return nil
}
