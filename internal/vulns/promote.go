// Promote's use of the gate: which environments it guards, and what a promote there prints or refuses. Kept
// here rather than in the module's glue so that it is tested without an engine: the skip without AWS must be
// loud, and a refusal must say that nothing was deployed.
package vulns

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Gate is the policy applied to promotes into the protected environments.
type Gate struct {
	Protected map[string]bool
	Policy    Policy
	// Wait bounds the wait for a scan in progress.
	Wait time.Duration
}

// NewGate reads promote's flags: protected is a comma-separated list, or none. allowlist (named source) may
// be nil.
func NewGate(protected, threshold string, ignoreUnfixed bool, source string, allowlist []byte) (Gate, error) {
	g := Gate{Protected: map[string]bool{}, Policy: Policy{IgnoreUnfixed: ignoreUnfixed}, Wait: 5 * time.Minute}
	if strings.TrimSpace(protected) != "none" {
		for _, env := range strings.Split(protected, ",") {
			if env = strings.TrimSpace(env); env != "" {
				g.Protected[env] = true
			}
		}
	}
	var err error
	if g.Policy.Threshold, err = ParseThreshold(threshold); err != nil {
		return Gate{}, fmt.Errorf("--vulnerability-threshold: %w", err)
	}
	if allowlist != nil {
		if g.Policy.Allowlist, err = ParseAllowlist(source, allowlist); err != nil {
			return Gate{}, err
		}
	}
	return g, nil
}

// Enforce checks image before a promote to env and returns the verdict for the report, or why the promote is
// refused. client nil means no AWS, so no ECR scan results: a protected environment is then skipped with a
// loud notice. repository names the ECR repository when the image's host is not ECR's own.
func (g Gate) Enforce(ctx context.Context, client API, env, image, repository string, now time.Time) (string, error) {
	if !g.Protected[env] {
		return "", nil
	}
	if client == nil {
		return fmt.Sprintf("**VULNERABILITY GATE SKIPPED** for protected environment %s: scan results come from Amazon ECR only, and this promote has no AWS (with-registry); nothing checked %s for known vulnerabilities.\n\n", env, image), nil
	}
	img, err := ParseImage(image, repository)
	if err != nil {
		return "", fmt.Errorf("refusing to promote to protected environment %s: %w; nothing was deployed (or leave %s out of --protected-environments)", env, err, env)
	}
	v, err := Check(ctx, Reader{Client: client, Wait: g.Wait}, img, g.Policy, now)
	if err != nil {
		return "", fmt.Errorf("refusing to promote to protected environment %s: %w; nothing was deployed", env, err)
	}
	return "```\n" + v.Report() + "```\n\n", nil
}
