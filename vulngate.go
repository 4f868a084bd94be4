// This file is the vulnerability gate's glue (the logic is internal/vulns): publish reports an image's ECR
// scan verdict, and promote to a protected environment enforces it before anything touches the cluster. It
// guards against a known vulnerability reaching prod unseen, and against a gate that is off without anyone
// noticing: without AWS it is skipped with a loud line, never quietly.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"dagger/ship/internal/dagger"
	"dagger/ship/internal/vulns"
)

// scanWait bounds how long promote waits for a scan still in progress (a push moments ago).
const scanWait = 5 * time.Minute

// vulnGate is promote's gate: the environments it guards and the policy it applies.
type vulnGate struct {
	protected map[string]bool
	policy    vulns.Policy
}

// newVulnGate reads the flags, so bad input is refused before anything else happens.
func newVulnGate(ctx context.Context, protected, threshold string, ignoreUnfixed bool, allowlist *dagger.File) (*vulnGate, error) {
	g := &vulnGate{protected: map[string]bool{}, policy: vulns.Policy{IgnoreUnfixed: ignoreUnfixed}}
	if strings.TrimSpace(protected) != "none" {
		for _, env := range strings.Split(protected, ",") {
			if env = strings.TrimSpace(env); env != "" {
				g.protected[env] = true
			}
		}
	}
	var err error
	if g.policy.Threshold, err = vulns.ParseThreshold(threshold); err != nil {
		return nil, fmt.Errorf("--vulnerability-threshold: %w", err)
	}
	if allowlist == nil {
		return g, nil
	}
	name, err := allowlist.Name(ctx)
	if err != nil {
		return nil, fmt.Errorf("read --vulnerability-allowlist: %w", err)
	}
	data, err := allowlist.Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("read --vulnerability-allowlist %s: %w", name, err)
	}
	if g.policy.Allowlist, err = vulns.ParseAllowlist(name, []byte(data)); err != nil {
		return nil, err
	}
	return g, nil
}

// enforce checks image for a protected environment and returns the verdict for the report, or why it is
// refused. Without AWS there are no ECR scan results: the gate is skipped, and says so loudly.
func (m *Ship) enforce(ctx context.Context, g *vulnGate, env, image, repository string) (string, error) {
	if !g.protected[env] {
		return "", nil
	}
	if m.Aws == nil {
		notice := fmt.Sprintf("**VULNERABILITY GATE SKIPPED** for protected environment %s: scan results come from Amazon ECR only, and this promote has no AWS (with-registry); nothing checked %s for known vulnerabilities.\n\n", env, image)
		fmt.Fprint(os.Stderr, notice)
		return notice, nil
	}
	cfg, err := m.awsConfig(ctx, "the vulnerability gate", "")
	if err != nil {
		return "", err
	}
	img, err := vulns.ParseImage(image, repository)
	if err != nil {
		return "", fmt.Errorf("refusing to promote to protected environment %s: %w; nothing was deployed (or pass --protected-environments without %s)", env, err, env)
	}
	r := vulns.Reader{Client: ecr.NewFromConfig(cfg), Wait: scanWait}
	v, err := vulns.Check(ctx, r, img, g.policy, time.Now())
	if err != nil {
		return "", fmt.Errorf("refusing to promote to protected environment %s: %w; nothing was deployed", env, err)
	}
	fmt.Fprint(os.Stderr, v.Report())
	return "```\n" + v.Report() + "```\n\n", nil
}

// reportScan prints the scan verdict of a published ECR image to the log, at the default threshold; it never
// fails publish (the scan may not have finished: promote waits for it).
func (m *Ship) reportScan(ctx context.Context, ref, repository string) {
	if m.Registry != nil || m.Aws == nil {
		return
	}
	cfg, err := m.awsConfig(ctx, "the scan report", "")
	img, perr := vulns.ParseImage(ref, repository)
	if err != nil || perr != nil {
		return // publish itself used the same configuration and reference: nothing new to say
	}
	scan, err := vulns.Reader{Client: ecr.NewFromConfig(cfg)}.Read(ctx, img)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vulnerability scan (reported, not enforced by publish): %v\n", err)
		return
	}
	fmt.Fprintf(os.Stderr, "%s(reported, not enforced by publish; a promote to a protected environment applies its own threshold and allowlist)\n",
		vulns.Evaluate(scan, vulns.Policy{}, time.Now()).Report())
}
