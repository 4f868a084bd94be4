// Package vulns is the vulnerability gate: it reads an image's ECR scan (scan.go), applies the team's
// policy (a severity threshold, optionally ignoring findings without a fix, an allowlist with reasons and
// expiry dates) and returns a verdict that names what blocks. It guards against a known critical
// vulnerability reaching a protected environment unnoticed, and against the usual ways a gate rots: a
// permanent exemption, an unscanned image passing because it has no findings, a partial list of findings.
package vulns

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Policy decides which findings block.
type Policy struct {
	// Threshold: findings at or above it block (Undefined here means the default, CRITICAL).
	Threshold Severity
	// IgnoreUnfixed lets findings pass that enhanced scanning marks fixAvailable NO. Basic scanning reports
	// no fixes, so its findings are never ignored this way (the verdict says so).
	IgnoreUnfixed bool
	Allowlist     Allowlist
}

func (p Policy) threshold() Severity {
	if p.Threshold == Undefined {
		return Critical
	}
	return p.Threshold
}

// Allowed is a blocking-severity finding that the allowlist accepts.
type Allowed struct {
	Finding Finding
	Entry   Entry
}

// Verdict is the gate's decision on one scan.
type Verdict struct {
	Scan      Scan
	Threshold Severity
	Policy    Policy
	// Blocking are the findings at or above the threshold, not accepted and not ignored, worst first.
	Blocking []Finding
	// Accepted are those the allowlist accepts; Unfixed those ignored for having no fix.
	Accepted []Allowed
	Unfixed  []Finding
	// UnknownFix counts blocking findings whose fix state is unknown (basic scanning) while IgnoreUnfixed is set.
	UnknownFix int
	// Expired is the allowlist's expired entries (an *ExpiredError), which fail the gate by name.
	Expired error
}

// Evaluate applies the policy to a scan that has findings (Reader.Read succeeded).
func Evaluate(scan Scan, p Policy, now time.Time) Verdict {
	v := Verdict{Scan: scan, Threshold: p.threshold(), Policy: p, Expired: p.Allowlist.Expired(now)}
	for _, f := range scan.Findings {
		if !f.Severity.Reaches(v.Threshold) {
			continue
		}
		if e, ok := p.Allowlist.Find(f.ID); ok && !e.ExpiredAt(now) {
			v.Accepted = append(v.Accepted, Allowed{Finding: f, Entry: e})
			continue
		}
		if p.IgnoreUnfixed && f.Fix == FixNo {
			v.Unfixed = append(v.Unfixed, f)
			continue
		}
		if p.IgnoreUnfixed && f.Fix == FixUnknown {
			v.UnknownFix++
		}
		v.Blocking = append(v.Blocking, f)
	}
	sort.SliceStable(v.Blocking, func(i, j int) bool {
		if v.Blocking[i].Severity != v.Blocking[j].Severity {
			return v.Blocking[i].Severity > v.Blocking[j].Severity
		}
		return v.Blocking[i].ID < v.Blocking[j].ID
	})
	return v
}

// Pass is true when nothing blocks and no allowlist entry has expired.
func (v Verdict) Pass() bool { return len(v.Blocking) == 0 && v.Expired == nil }

// GateError is a refused image: the blocking findings, worst first, and any expired allowlist entries.
type GateError struct {
	Image     Image
	Threshold Severity
	Blocking  []Finding
	Expired   error
}

// shown is how many blocking findings an error names before "and N more".
const shown = 5

func (e *GateError) Error() string {
	var parts []string
	if n := len(e.Blocking); n > 0 {
		var names []string
		for _, f := range e.Blocking[:min(n, shown)] {
			names = append(names, f.describe())
		}
		more := ""
		if n > shown {
			more = fmt.Sprintf(" and %d more", n-shown)
		}
		parts = append(parts, fmt.Sprintf("%d finding(s) at or above %s, worst first: %s%s: update the affected packages (or the base image) and publish a new revision, or accept a finding in the allowlist with a reason and an expiry date",
			n, e.Threshold, strings.Join(names, "; "), more))
	}
	if e.Expired != nil {
		parts = append(parts, e.Expired.Error())
	}
	return fmt.Sprintf("vulnerability gate refuses %s: %s", e.Image, strings.Join(parts, "; and "))
}

func (e *GateError) Unwrap() error { return e.Expired }

// Err is nil when the verdict passes, else a *GateError.
func (v Verdict) Err() error {
	if v.Pass() {
		return nil
	}
	return &GateError{Image: v.Scan.Image, Threshold: v.Threshold, Blocking: v.Blocking, Expired: v.Expired}
}

// describe is "CVE-2024-1 (CRITICAL, openssl 3.0.11, fixed in 3.0.12)".
func (f Finding) describe() string {
	sev := f.Severity.String()
	if f.RawSeverity != "" && !strings.EqualFold(f.RawSeverity, sev) {
		sev += " (reported " + f.RawSeverity + ")"
	}
	parts := []string{sev}
	if f.Package != "" {
		parts = append(parts, f.Package)
	}
	switch {
	case f.FixedIn != "":
		parts = append(parts, "fixed in "+f.FixedIn)
	case f.Fix == FixNo:
		parts = append(parts, "no fix yet")
	}
	return fmt.Sprintf("%s (%s)", f.ID, strings.Join(parts, ", "))
}

// Report is the verdict for people: the decision, the scan, the counts, and every finding that matters.
func (v Verdict) Report() string {
	var sb strings.Builder
	decision := "PASS"
	if !v.Pass() {
		decision = "FAIL"
	}
	fmt.Fprintf(&sb, "vulnerability gate: %s for %s (threshold %s%s; allowlist: %s)\n", decision, v.Scan.Image, v.Threshold,
		map[bool]string{true: ", findings without a fix ignored", false: ""}[v.Policy.IgnoreUnfixed], allowlistSummary(v.Policy.Allowlist))
	sb.WriteString(scanSummary(v.Scan))
	for _, f := range v.Blocking {
		fmt.Fprintf(&sb, "  blocking: %s\n", f.describe())
	}
	for _, a := range v.Accepted {
		fmt.Fprintf(&sb, "  accepted: %s until %s: %s\n", a.Finding.describe(), a.Entry.Expires.Format(time.DateOnly), a.Entry.Reason)
	}
	if n := len(v.Unfixed); n > 0 {
		fmt.Fprintf(&sb, "  ignored: %d finding(s) at or above %s with no fix available (--ignore-unfixed)\n", n, v.Threshold)
	}
	if v.UnknownFix > 0 {
		fmt.Fprintf(&sb, "  note: basic scanning reports no fixes, so --ignore-unfixed ignored none of the %d blocking finding(s)\n", v.UnknownFix)
	}
	if v.Expired != nil {
		fmt.Fprintf(&sb, "  expired: %v\n", v.Expired)
	}
	return sb.String()
}

func allowlistSummary(a Allowlist) string {
	if a.Source == "" && len(a.Entries) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d entr%s from %s", len(a.Entries), map[bool]string{true: "y", false: "ies"}[len(a.Entries) == 1], a.Source)
}

// scanSummary: the kind of scan, its status and time, and the counts per severity.
func scanSummary(s Scan) string {
	kind := "basic"
	if s.Enhanced {
		kind = "enhanced (Amazon Inspector)"
	}
	line := fmt.Sprintf("  scan: %s, %s", kind, s.Status)
	if !s.CompletedAt.IsZero() {
		line += ", completed " + s.CompletedAt.UTC().Format(time.RFC3339)
	}
	if !s.SourceUpdatedAt.IsZero() {
		line += ", vulnerability data of " + s.SourceUpdatedAt.UTC().Format(time.RFC3339)
	}
	counts := map[Severity]int{}
	for _, f := range s.Findings {
		counts[f.Severity]++
	}
	var cs []string
	for sev := Critical; sev >= Undefined; sev-- {
		cs = append(cs, fmt.Sprintf("%s %d", sev, counts[sev]))
	}
	line += "\n  findings: " + strings.Join(cs, ", ")
	if counts[Undefined] > 0 {
		line += fmt.Sprintf(" (the %d UNDEFINED have no severity yet: they count as INFORMATIONAL)", counts[Undefined])
	}
	if s.Inactive > 0 {
		line += fmt.Sprintf("; %d suppressed or closed in Inspector, not counted", s.Inactive)
	}
	return line + "\n"
}

// Check reads the image's scan and judges it: the verdict, and its error (a *ScanError when there are no
// findings to judge, a *GateError when the image is refused).
func Check(ctx context.Context, r Reader, img Image, p Policy, now time.Time) (Verdict, error) {
	scan, err := r.Read(ctx, img)
	if err != nil {
		return Verdict{Scan: scan, Threshold: p.threshold(), Policy: p}, err
	}
	v := Evaluate(scan, p, now)
	return v, v.Err()
}
