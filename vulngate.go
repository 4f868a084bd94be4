// This file is the vulnerability gate's glue (the logic is internal/vulns): publish reports an image's ECR
// scan verdict, and promote to a protected environment enforces it before anything touches the cluster. It
// guards against a known vulnerability reaching prod unseen, and against a gate that is off without anyone
// noticing: without AWS it is skipped with a loud line, never quietly.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"dagger/ship/internal/dagger"
	"dagger/ship/internal/vulns"
)

// newVulnGate reads promote's gate flags, so bad input is refused before anything else happens.
func newVulnGate(ctx context.Context, protected, threshold string, ignoreUnfixed bool, allowlist *dagger.File) (vulns.Gate, error) {
	var name string
	var data []byte
	if allowlist != nil {
		var err error
		if name, err = allowlist.Name(ctx); err != nil {
			return vulns.Gate{}, fmt.Errorf("read --vulnerability-allowlist: %w", err)
		}
		contents, err := allowlist.Contents(ctx)
		if err != nil {
			return vulns.Gate{}, fmt.Errorf("read --vulnerability-allowlist %s: %w", name, err)
		}
		data = []byte(contents)
	}
	return vulns.NewGate(protected, threshold, ignoreUnfixed, name, data)
}

// enforce runs the gate for a promote to env; without AWS there is no ECR to ask, and the gate says so.
func (m *Ship) enforce(ctx context.Context, g vulns.Gate, env, image, repository string) (string, error) {
	var client vulns.API
	if m.Aws != nil && g.Protected[env] {
		cfg, err := m.awsConfig(ctx, "the vulnerability gate", "")
		if err != nil {
			return "", err
		}
		client = ecr.NewFromConfig(cfg)
	}
	out, err := g.Enforce(ctx, client, env, image, repository, time.Now())
	fmt.Fprint(os.Stderr, out)
	return out, err
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
	verdict, err := scanReport(ctx, cfg, img)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vulnerability scan (reported, not enforced by publish): %v\n", err)
		return
	}
	fmt.Fprintf(os.Stderr, "%s(reported, not enforced by publish; a promote to a protected environment applies its own threshold and allowlist)\n", verdict)
}

// scanReport reads an ECR image's scan and judges it at the default threshold, without an allowlist: what
// publish and verify report (a promote applies its environment's own gate).
func scanReport(ctx context.Context, cfg aws.Config, img vulns.Image) (string, error) {
	scan, err := vulns.Reader{Client: ecr.NewFromConfig(cfg)}.Read(ctx, img)
	if err != nil {
		return "", err
	}
	return vulns.Evaluate(scan, vulns.Policy{}, time.Now()).Report(), nil
}
