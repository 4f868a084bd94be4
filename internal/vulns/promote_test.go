// Promote's gate: which environments it guards, its flags refused up front, the loud skip without AWS, and
// over the fake ECR a refusal that names the worst finding and says nothing was deployed, a pass whose
// verdict heads the report, an image outside ECR refused, and an allowlist file read with its name.
package vulns

import (
	"context"
	"strings"
	"testing"

	"dagger/ship/internal/testenv/fakeaws"
)

func TestNewGate(t *testing.T) {
	g, err := NewGate(" prod, live ,", "high", true, "", nil)
	if err != nil || !g.Protected["prod"] || !g.Protected["live"] || len(g.Protected) != 2 || !g.Policy.IgnoreUnfixed || g.Policy.Threshold != High {
		t.Fatalf("gate %+v, %v", g, err)
	}
	if g, _ := NewGate("none", "CRITICAL", false, "", nil); len(g.Protected) != 0 {
		t.Errorf("none protects %v", g.Protected)
	}
	if _, err := NewGate("prod", "severe", false, "", nil); err == nil || !strings.HasPrefix(err.Error(), `--vulnerability-threshold: vulnerability threshold "severe" is not a severity`) {
		t.Errorf("bad threshold: %v", err)
	}
	if _, err := NewGate("prod", "CRITICAL", false, "allow.yaml", []byte("vulnerabilities:\n  - id: CVE-2026-1\n")); err == nil ||
		!strings.Contains(err.Error(), "vulnerability allowlist allow.yaml is refused: entry 1 (CVE-2026-1) has no reason") {
		t.Errorf("bad allowlist: %v", err)
	}
}

func TestGateWithoutAWSIsSkippedLoudly(t *testing.T) {
	g, _ := NewGate("prod", "CRITICAL", false, "", nil)
	image := "localhost:5000/shop@" + digest
	if out, err := g.Enforce(context.Background(), nil, "staging", image, "", now); out != "" || err != nil {
		t.Errorf("staging is not protected: %q %v", out, err)
	}
	out, err := g.Enforce(context.Background(), nil, "prod", image, "", now)
	if err != nil || !strings.HasPrefix(out, "**VULNERABILITY GATE SKIPPED** for protected environment prod: scan results come from Amazon ECR only") || !strings.Contains(out, image) {
		t.Errorf("skip: %q %v", out, err)
	}
}

func TestGateOverFakeECR(t *testing.T) {
	s, client := fakeECR(t)
	s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: "COMPLETE", Findings: []fakeaws.ScanFinding{
		{ID: "CVE-2026-0100", Severity: "HIGH", Package: "curl", Version: "7.88"}}})
	ctx := context.Background()
	image := "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/shop:v1@" + digest

	strict, _ := NewGate("prod", "HIGH", false, "", nil)
	_, err := strict.Enforce(ctx, client, "prod", image, "", now)
	if err == nil || !strings.HasPrefix(err.Error(), "refusing to promote to protected environment prod: vulnerability gate refuses acme/shop@"+digest+": 1 finding(s) at or above HIGH, worst first: CVE-2026-0100 (HIGH, curl 7.88)") ||
		!strings.HasSuffix(err.Error(), "nothing was deployed") {
		t.Errorf("refusal: %v", err)
	}
	accepted, err := NewGate("prod", "HIGH", false, "allow.yaml", []byte("vulnerabilities:\n  - {id: CVE-2026-0100, reason: curl is never given untrusted URLs, expires: 2026-12-31}\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := accepted.Enforce(ctx, client, "prod", image, "", now)
	if err != nil || !strings.Contains(out, "vulnerability gate: PASS for acme/shop@"+digest+" (threshold HIGH; allowlist: 1 entry from allow.yaml)") ||
		!strings.Contains(out, "accepted: CVE-2026-0100 (HIGH, curl 7.88) until 2026-12-31: curl is never given untrusted URLs") {
		t.Errorf("pass:\n%s\n%v", out, err)
	}
	if _, err := accepted.Enforce(ctx, client, "prod", "ghcr.io/acme/shop@"+digest, "", now); err == nil || !strings.Contains(err.Error(), "is not in Amazon ECR, and scan results come from ECR only") {
		t.Errorf("not in ECR: %v", err)
	}
	// A proxy host with the repository named: the same scan is found.
	if _, err := strict.Enforce(ctx, client, "prod", "127.0.0.1:5000/acme/shop@"+digest, repo, now); err == nil || !strings.Contains(err.Error(), "CVE-2026-0100") {
		t.Errorf("proxy host: %v", err)
	}
}
