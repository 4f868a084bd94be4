// Package doctor answers "why can't CI deploy?" one check at a time: token
// time window, the job's environment against the role it assumes, token vs
// the role's trust policy (evaluated locally, on the condition keys AWS
// actually evaluates, so the bare "Not authorized to perform
// sts:AssumeRoleWithWebIdentity" becomes the condition that failed and the
// change to make), then AWS's own answer, cluster, repository, access entry
// and endpoint. The offline checks run even when STS refused the role: that
// is when they are needed. With a runtime policy it also checks the
// service's own identity (runtime.go). Each check prints pass/fail and a fix;
// none prints a token, a key or a kubeconfig.
package doctor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"dagger/ship/internal/oidc"
	"dagger/ship/internal/policy"
)

// Inputs select the checks: offline ones need only a token and a trust
// policy; online ones need AWS credentials (AWS) and the names in Policy.
type Inputs struct {
	Policy policy.Inputs // account, region, repository, cluster, environments

	// RoleName is the role the job assumes; empty: Environment's role.
	RoleName string
	// Environment is the GitHub environment the job deploys to: doctor
	// checks its role (ship-<repo>-<env>), its namespace, and that the
	// token's subject is that environment's.
	Environment string
	// Namespaces the deploy targets; empty: Environment's namespace.
	Namespaces []string

	// STSError is AWS's refusal of the role, if it refused: shown after
	// the offline checks, which say why.
	STSError error

	Token     *oidc.Token // the job's OIDC token, or
	TokenFile string      // a file holding the raw JWT

	TrustPolicy     []byte // the role's trust policy (plain or URL-encoded), or
	TrustPolicyFile string // a file holding it; else iam:GetRole when AWS is set,
	// else the trust policy bootstrap generates for the role.

	AWS *aws.Config // nil: offline checks only

	// Runtime, when set, adds the checks of the service's own AWS identity
	// (runtime.go).
	Runtime *Runtime

	// ClusterEndpoint and ClusterCAPEM override what DescribeCluster says.
	ClusterEndpoint string
	ClusterCAPEM    []byte
	// HTTPClient is cloned for the endpoint check (its RootCAs are replaced
	// by the cluster CA); nil uses a default transport.
	HTTPClient *http.Client

	Now func() time.Time // default time.Now
}

// Status of one check.
type Status int

// Check outcomes. Skip means the check could not run with what was given.
const (
	Pass Status = iota
	Fail
	Skip
)

func (s Status) mark() string {
	return [...]string{"✔", "✘", "–"}[s]
}

// Check is one line of the report.
type Check struct {
	Name   string
	Status Status
	Detail string
	Fix    string
}

// Report is the result of Run.
type Report struct {
	Checks []Check
}

// OK is true when no check failed (skipped checks do not fail the report).
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

// Check returns the named check (zero value when absent).
func (r Report) Check(name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{}
}

func (r Report) String() string {
	var sb strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&sb, "%s %s: %s\n", c.Status.mark(), c.Name, strings.ReplaceAll(c.Detail, "\n", "\n    "))
		for _, line := range strings.Split(c.Fix, "\n") {
			if line != "" {
				fmt.Fprintf(&sb, "    fix: %s\n", line)
			}
		}
	}
	if r.OK() {
		sb.WriteString("all checks passed\n")
	} else {
		sb.WriteString("some checks failed: apply the fixes above\n")
	}
	return sb.String()
}

// Check names, in report order.
const (
	CheckToken       = "token"
	CheckEnvironment = "environment"
	CheckTrust       = "trust policy"
	CheckSTS         = "sts:AssumeRoleWithWebIdentity"
	CheckCluster     = "eks:DescribeCluster"
	CheckRepository  = "ECR repository"
	CheckAccessEntry = "EKS access entry"
	CheckEndpoint    = "cluster endpoint"
)

// Run performs every check the inputs allow, in order: the CI identity's,
// then the service's runtime identity's when asked.
func Run(ctx context.Context, in Inputs) Report {
	if in.Now == nil {
		in.Now = time.Now
	}
	in = in.withDefaults()
	r := runCI(ctx, in)
	if in.Runtime != nil {
		r.Checks = append(r.Checks, runtimeChecks(ctx, in)...)
	}
	return r
}

func runCI(ctx context.Context, in Inputs) Report {
	var r Report
	tok, tc := checkToken(in)
	r.Checks = append(r.Checks, tc)
	if in.Environment != "" {
		r.Checks = append(r.Checks, checkEnvironment(in, tok))
	}
	trust := checkTrust(ctx, in, tok)
	r.Checks = append(r.Checks, trust)
	if in.STSError != nil {
		r.Checks = append(r.Checks, checkSTS(in, trust))
	}
	if in.AWS == nil {
		for _, name := range []string{CheckCluster, CheckRepository, CheckAccessEntry} {
			r.Checks = append(r.Checks, Check{Name: name, Status: Skip, Detail: "offline: no AWS credentials given"})
		}
		r.Checks = append(r.Checks, checkEndpoint(ctx, in, in.ClusterEndpoint, in.ClusterCAPEM))
		return r
	}
	return runOnline(ctx, in, r)
}

// withDefaults derives the role and namespaces from the environment.
func (in Inputs) withDefaults() Inputs {
	in.Policy = in.Policy.WithDefaults()
	if in.RoleName == "" && in.Environment != "" {
		in.RoleName = in.Policy.EnvironmentRoleName(in.Environment)
	}
	if len(in.Namespaces) == 0 {
		for _, e := range in.Policy.Environments {
			if e.Name == in.Environment {
				in.Namespaces = []string{e.Namespace}
			}
		}
	}
	return in
}

// roleARN is the ARN of the role the job assumes.
func (in Inputs) roleARN() string { return in.Policy.RoleARN(in.RoleName) }
