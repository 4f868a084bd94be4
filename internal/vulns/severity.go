// Severities of ECR scan findings and their order. ECR reports INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL and
// UNDEFINED (basic scanning: the source has not rated it yet; enhanced scanning says UNTRIAGED). The gate
// compares them with a threshold, so the order, and where UNDEFINED sits in it, is decided here once.
package vulns

import (
	"fmt"
	"strings"
)

// Severity of a finding, ordered: Informational < Low < Medium < High < Critical; Undefined sorts first.
//
// UNDEFINED (and Inspector's UNTRIAGED) means no severity has been assigned yet. The gate ranks it with
// INFORMATIONAL (see Reaches): it fails only at the INFORMATIONAL threshold, because basic scanning reports many such findings for Debian
// packages the tracker has not triaged, and failing prod on them would block every image; every verdict
// counts them, so they are seen rather than silently passed.
type Severity int

// The severities, lowest first.
const (
	Undefined Severity = iota
	Informational
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"UNDEFINED", "INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (s Severity) String() string {
	if s < Undefined || s > Critical {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// severityOf maps what ECR or Inspector says to a Severity; anything unknown is Undefined.
func severityOf(raw string) Severity {
	for i, n := range severityNames {
		if strings.EqualFold(raw, n) {
			return Severity(i)
		}
	}
	return Undefined
}

// ParseThreshold reads a --vulnerability-threshold: INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL, any case.
func ParseThreshold(s string) (Severity, error) {
	v := strings.TrimSpace(s)
	if sev := severityOf(v); sev != Undefined {
		return sev, nil
	}
	return Undefined, fmt.Errorf("vulnerability threshold %q is not a severity: use one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL (findings at or above it fail; UNDEFINED findings fail only at INFORMATIONAL)", s)
}

// Reaches reports whether a finding of severity s fails at threshold t. UNDEFINED counts as INFORMATIONAL.
func (s Severity) Reaches(t Severity) bool {
	if s == Undefined {
		s = Informational
	}
	return s >= t
}
