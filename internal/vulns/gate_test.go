// The policy on scans: threshold (UNDEFINED ranks as INFORMATIONAL), findings without a fix, the allowlist
// and its expiry; each refusal has its own message, naming the worst findings first.
package vulns

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/testenv/fakeaws"
)

var now = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

func scanOf(fs ...Finding) Scan {
	return Scan{Image: img, Status: "COMPLETE", Findings: fs}
}

func TestThresholdNamesTheWorstFindingsFirst(t *testing.T) {
	scan := scanOf(
		Finding{ID: "CVE-2026-0010", Severity: High, Package: "curl 7.88"},
		Finding{ID: "CVE-2026-0001", Severity: Medium},
		Finding{ID: "CVE-2026-0020", Severity: Critical, Package: "openssl 3.0.11", FixedIn: "3.0.12", Fix: FixYes},
		Finding{ID: "CVE-2026-0011", Severity: High, Fix: FixNo},
	)
	if v := Evaluate(scan, Policy{}, now); v.Pass() || len(v.Blocking) != 1 || v.Threshold != Critical {
		t.Errorf("default threshold is CRITICAL: %+v", v)
	}
	v := Evaluate(scan, Policy{Threshold: High}, now)
	err := v.Err()
	var ge *GateError
	want := "vulnerability gate refuses acme/shop@" + digest + ": 3 finding(s) at or above HIGH, worst first: " +
		"CVE-2026-0020 (CRITICAL, openssl 3.0.11, fixed in 3.0.12); CVE-2026-0010 (HIGH, curl 7.88); CVE-2026-0011 (HIGH, no fix yet): update the affected packages"
	if !errors.As(err, &ge) || !strings.Contains(err.Error(), want) {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if v := Evaluate(scan, Policy{Threshold: Critical}, now); v.Pass() {
		t.Error("a CRITICAL finding passed the CRITICAL threshold")
	}
	var many []Finding
	for _, id := range []string{"CVE-2026-1", "CVE-2026-2", "CVE-2026-3", "CVE-2026-4", "CVE-2026-5", "CVE-2026-6", "CVE-2026-7"} {
		many = append(many, Finding{ID: id, Severity: Critical})
	}
	if err := Evaluate(scanOf(many...), Policy{}, now).Err(); err == nil || !strings.Contains(err.Error(), "CVE-2026-5 (CRITICAL) and 2 more") {
		t.Errorf("many: %v", err)
	}
	if v := Evaluate(scanOf(Finding{ID: "CVE-2026-9", Severity: Low}), Policy{Threshold: Medium}, now); !v.Pass() || v.Err() != nil {
		t.Errorf("LOW under MEDIUM: %v", v.Err())
	}
}

func TestUndefinedCountsAsInformational(t *testing.T) {
	scan := scanOf(Finding{ID: "CVE-2026-0003", Severity: Undefined, RawSeverity: "UNTRIAGED"})
	if v := Evaluate(scan, Policy{Threshold: Low}, now); !v.Pass() || !strings.Contains(v.Report(), "the 1 UNDEFINED have no severity yet: they count as INFORMATIONAL") {
		t.Errorf("UNDEFINED at LOW: %v\n%s", v.Err(), v.Report())
	}
	v := Evaluate(scan, Policy{Threshold: Informational}, now)
	if err := v.Err(); err == nil || !strings.Contains(err.Error(), "CVE-2026-0003 (UNDEFINED (reported UNTRIAGED))") {
		t.Errorf("UNDEFINED at INFORMATIONAL: %v", err)
	}
}

func TestIgnoreUnfixed(t *testing.T) {
	scan := scanOf(
		Finding{ID: "CVE-2026-0001", Severity: Critical, Fix: FixNo},
		Finding{ID: "CVE-2026-0002", Severity: Critical, Fix: FixPartial},
		Finding{ID: "CVE-2026-0003", Severity: Critical, Fix: FixYes},
	)
	v := Evaluate(scan, Policy{IgnoreUnfixed: true}, now)
	if len(v.Unfixed) != 1 || len(v.Blocking) != 2 || v.Blocking[0].ID != "CVE-2026-0002" {
		t.Errorf("enhanced: %+v", v)
	}
	if !strings.Contains(v.Report(), "ignored: 1 finding(s) at or above CRITICAL with no fix available") {
		t.Errorf("report:\n%s", v.Report())
	}
	basic := scanOf(Finding{ID: "CVE-2026-0004", Severity: Critical})
	v = Evaluate(basic, Policy{IgnoreUnfixed: true}, now)
	if v.Pass() || v.UnknownFix != 1 || !strings.Contains(v.Report(), "basic scanning reports no fixes, so --ignore-unfixed ignored none of the 1 blocking") {
		t.Errorf("basic: %+v\n%s", v, v.Report())
	}
}

func TestAllowlistAcceptsUntilItExpires(t *testing.T) {
	a, err := ParseAllowlist("allow.yaml", []byte(allowYAML))
	if err != nil {
		t.Fatal(err)
	}
	scan := scanOf(Finding{ID: "CVE-2026-0002", Severity: Critical, Package: "zlib1g 1.2.13"})
	v := Evaluate(scan, Policy{Allowlist: a}, now)
	if !v.Pass() || len(v.Accepted) != 1 ||
		!strings.Contains(v.Report(), "accepted: CVE-2026-0002 (CRITICAL, zlib1g 1.2.13) until 2026-12-31: zlib's inflate is never fed untrusted input here (SEC-42)") {
		t.Errorf("accepted:\n%s", v.Report())
	}
	// Expired: the finding blocks again, and the entry fails by name.
	v = Evaluate(scan, Policy{Allowlist: a}, time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC))
	err = v.Err()
	var ee *ExpiredError
	if v.Pass() || !errors.As(err, &ee) || !strings.Contains(err.Error(), "CVE-2026-0002 (CRITICAL, zlib1g 1.2.13)") ||
		!strings.Contains(err.Error(), "has expired entries: CVE-2026-0002 expired on 2026-12-31") {
		t.Errorf("expired: %v", err)
	}
	// An expired entry fails even when its vulnerability is gone.
	err = Evaluate(scanOf(), Policy{Allowlist: a}, time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)).Err()
	if !errors.As(err, &ee) || len(ee.Entries) != 2 || !strings.Contains(err.Error(), "whether or not the vulnerability is still found") {
		t.Errorf("expired, finding gone: %v", err)
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]Severity{"critical": Critical, "HIGH": High, " Medium ": Medium, "low": Low, "INFORMATIONAL": Informational} {
		if got, err := ParseThreshold(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "UNDEFINED", "severe", "9"} {
		if _, err := ParseThreshold(bad); err == nil || !strings.Contains(err.Error(), "use one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestCheckAgainstFakeECR: the whole gate over the wire, a refusal and a pass, and a FAILED scan refused.
func TestCheckAgainstFakeECR(t *testing.T) {
	s, client := fakeECR(t)
	s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: "ACTIVE", Enhanced: true, Findings: []fakeaws.ScanFinding{
		{ID: "CVE-2026-0001", Severity: "CRITICAL", Package: "openssl", Version: "3.0.11", FixedIn: "3.0.12", FixAvailable: "YES"},
		{ID: "CVE-2026-0002", Severity: "HIGH", Package: "zlib1g", Version: "1.2.13", FixAvailable: "NO"},
	}})
	s.SetScanPageSize(1)
	_, err := Check(context.Background(), Reader{Client: client}, img, Policy{Threshold: High, IgnoreUnfixed: true}, now)
	if err == nil || !strings.Contains(err.Error(), "1 finding(s) at or above HIGH, worst first: CVE-2026-0001 (CRITICAL, openssl 3.0.11, fixed in 3.0.12)") {
		t.Errorf("refusal: %v", err)
	}
	a, _ := ParseAllowlist("allow.yaml", []byte("vulnerabilities:\n  - {id: CVE-2026-0001, reason: patched in our fork, expires: 2026-12-20}\n"))
	v, err := Check(context.Background(), Reader{Client: client}, img, Policy{Threshold: High, IgnoreUnfixed: true, Allowlist: a}, now)
	if err != nil || !strings.HasPrefix(v.Report(), "vulnerability gate: PASS for acme/shop@"+digest+" (threshold HIGH, findings without a fix ignored; allowlist: 1 entry from allow.yaml)") {
		t.Errorf("pass: %v\n%s", err, v.Report())
	}
	s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: "FAILED"})
	var se *ScanError
	if _, err := Check(context.Background(), Reader{Client: client}, img, Policy{}, now); !errors.As(err, &se) || se.Status != "FAILED" {
		t.Errorf("FAILED scan: %v", err)
	}
}
