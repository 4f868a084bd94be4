// Explaining STS refusals. AWS answers a federation mismatch with a bare
// "Not authorized to perform sts:AssumeRoleWithWebIdentity" that never says
// which claim failed; users then guess (configure-aws-credentials issues #318,
// #690, #512, #282). This file states what was presented, what the trust policy
// must match, and the likely cause read from the token's own claims.
package awsauth

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/smithy-go"

	"dagger/ship/internal/oidc"
)

// FederationError is an STS refusal with the facts needed to fix it.
type FederationError struct {
	Code     string // AccessDenied, InvalidIdentityToken, ...
	RoleARN  string
	Issuer   string
	Subject  string
	Audience []string
	Causes   []string
	Err      error
}

func (e *FederationError) Unwrap() error { return e.Err }

func (e *FederationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "AWS STS refused to let this job assume role %s (%s: %s).\n", orUnknown(e.RoleARN), e.Code, apiMessage(e.Err))
	if e.Subject != "" || len(e.Audience) > 0 {
		key := strings.TrimPrefix(e.Issuer, "https://")
		fmt.Fprintf(&b, "The OIDC token presented:\n  iss = %s\n  sub = %s\n  aud = %s\n", e.Issuer, e.Subject, strings.Join(e.Audience, ", "))
		fmt.Fprintf(&b, "For STS to accept it, the role's trust policy needs the conditions:\n")
		fmt.Fprintf(&b, "  %s:aud = %s (StringEquals)\n", key, oidc.DefaultAudience)
		fmt.Fprintf(&b, "  %s:sub = %s (StringEquals, or StringLike with * wildcards; matching is case-sensitive)\n", key, e.Subject)
	}
	if len(e.Causes) > 0 {
		b.WriteString("Likely causes:\n")
		for _, c := range e.Causes {
			b.WriteString("  - " + c + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

var federationCodes = map[string]bool{
	"AccessDenied": true, "InvalidIdentityToken": true, "ExpiredTokenException": true,
	"ExpiredToken": true, "IDPRejectedClaim": true,
}

// Explain turns an STS refusal into a FederationError; other errors are
// wrapped with context. tok may be nil (then claims are not reported).
func Explain(err error, tok *oidc.Token, roleARN string) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || !federationCodes[ae.ErrorCode()] {
		return fmt.Errorf("awsauth: %w", err)
	}
	fe := &FederationError{Code: ae.ErrorCode(), RoleARN: roleARN, Err: err}
	if tok != nil {
		c := tok.Claims
		fe.Issuer, fe.Subject, fe.Audience = c.Issuer, c.Subject, c.Audience
		fe.Causes = causes(ae, c)
	} else if ae.ErrorCode() == "AccessDenied" {
		fe.Causes = []string{"the calling identity lacks permission for this action, or the role's trust policy does not name it"}
	}
	return fe
}

var (
	immutableSub = regexp.MustCompile(`^repo:[^/:]+@\d+/[^/:]+@\d+:`)
	subRepo      = regexp.MustCompile(`^repo:([^:]+):`)
)

func causes(ae smithy.APIError, c oidc.Claims) []string {
	var out []string
	msg := ae.ErrorMessage()
	switch {
	case ae.ErrorCode() == "ExpiredTokenException" || ae.ErrorCode() == "ExpiredToken":
		out = append(out, "the OIDC token expired before STS saw it: fetch it right before assuming the role, in the same step")
	case strings.Contains(msg, "No OpenIDConnect provider"):
		out = append(out, fmt.Sprintf("the AWS account has no IAM OIDC provider for %s: create it (run the bootstrap function)", c.Issuer))
	case strings.Contains(msg, "verification key"):
		out = append(out, fmt.Sprintf("STS could not verify the token signature with the keys published by %s: check the IAM OIDC provider URL is exactly the token issuer", c.Issuer))
	}
	if !contains(c.Audience, oidc.DefaultAudience) || strings.Contains(msg, "audience") {
		out = append(out, fmt.Sprintf("wrong audience: the token's aud is %q but AWS expects %q; request the token with audience %s (and keep it as a client ID of the IAM OIDC provider)",
			strings.Join(c.Audience, ","), oidc.DefaultAudience, oidc.DefaultAudience))
	}
	if ae.ErrorCode() == "AccessDenied" || ae.ErrorCode() == "IDPRejectedClaim" {
		out = append(out, subjectCauses(c)...)
	}
	return out
}

func subjectCauses(c oidc.Claims) []string {
	var out []string
	sub := c.Subject
	repo := ""
	if m := subRepo.FindStringSubmatch(sub); m != nil {
		repo = m[1]
	}
	switch {
	case strings.Contains(sub, ":environment:"):
		env := sub[strings.LastIndex(sub, ":environment:")+len(":environment:"):]
		out = append(out, fmt.Sprintf("this job runs in GitHub environment %q, so its subject is %q, not repo:%s:ref:refs/heads/<branch>; a trust condition on the branch will not match: trust repo:%s:environment:%s",
			env, sub, repo, repo, env))
	case strings.Contains(sub, ":ref:refs/heads/"):
		out = append(out, fmt.Sprintf("the subject names a branch (%q); if the trust policy expects an environment subject (repo:%s:environment:<name>), add `environment:` to the job or trust this branch subject", sub, repo))
	case strings.HasSuffix(sub, ":pull_request"):
		out = append(out, fmt.Sprintf("this is a pull_request run: its subject %q carries no branch, so branch or environment conditions do not match; trust it explicitly only if PR runs may deploy", sub))
	}
	if immutableSub.MatchString(sub) {
		out = append(out, fmt.Sprintf("the subject uses GitHub's immutable format repo:OWNER@ID/REPO@ID:... (repositories created after 2026-07-15); a trust policy written as repo:OWNER/REPO:... will not match: use %q", sub))
	} else if repo != "" && repo != strings.ToLower(repo) {
		out = append(out, fmt.Sprintf("subject matching is case-sensitive and the subject spells the repository %q; the trust policy must use exactly that case", repo))
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("the role's trust policy has no condition matching sub %q; compare it character by character", sub))
	}
	return out
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown role)"
	}
	return s
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
