// The vulnerability allowlist: findings a team has accepted, each with a reason and an expiry date. It
// guards against the allowlist becoming a silent, permanent exemption: an entry without a reason or an
// expiry is refused when the file is read, and an expired entry fails the gate by name until it is renewed
// or removed.
//
// The file is YAML (JSON is valid YAML too), unknown fields refused:
//
//	vulnerabilities:
//	  - id: CVE-2024-12345
//	    reason: the vulnerable TIFF decoder is never reached (SEC-42)
//	    expires: 2027-01-31   # valid through that day, UTC
package vulns

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Entry is one accepted vulnerability.
type Entry struct {
	ID      string    // as the scan names it: CVE-2024-12345, GHSA-..., compared case-insensitively
	Reason  string    // why it is accepted, for the reviewer and the report
	Expires time.Time // the last day it is accepted (UTC midnight of that day)
	Line    int       // its position in the file (1-based), for messages
}

// ExpiredAt reports whether the entry no longer applies at now: it is valid through its expiry day.
func (e Entry) ExpiredAt(now time.Time) bool {
	return !now.UTC().Before(e.Expires.AddDate(0, 0, 1))
}

// Allowlist is the parsed file.
type Allowlist struct {
	Source  string // the file's name, for messages
	Entries []Entry
}

// Find returns the entry for a finding's ID.
func (a Allowlist) Find(id string) (Entry, bool) {
	for _, e := range a.Entries {
		if strings.EqualFold(e.ID, id) {
			return e, true
		}
	}
	return Entry{}, false
}

type allowlistFile struct {
	Vulnerabilities []struct {
		ID      string `json:"id"`
		Reason  string `json:"reason"`
		Expires string `json:"expires"`
	} `json:"vulnerabilities"`
}

// vulnIDRe: CVE-YYYY-NNNN, GHSA-xxxx-xxxx-xxxx, and the other advisory IDs scanners report (ALAS-..., RHSA-...).
var vulnIDRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9.:_]+)+$`)

// ParseAllowlist reads the file's bytes; source names it in errors. Every problem is reported, not only the
// first, so one edit fixes the file.
func ParseAllowlist(source string, data []byte) (Allowlist, error) {
	var f allowlistFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return Allowlist{}, fmt.Errorf("vulnerability allowlist %s is not valid: %w (want `vulnerabilities:` with items of id, reason and expires: YYYY-MM-DD)", source, err)
	}
	a := Allowlist{Source: source}
	var problems []string
	seen := map[string]int{}
	for i, v := range f.Vulnerabilities {
		e, errs := entry(i+1, v.ID, v.Reason, v.Expires)
		if first, dup := seen[strings.ToUpper(e.ID)]; dup && e.ID != "" {
			errs = append(errs, fmt.Sprintf("%s is listed twice (entries %d and %d): keep one", e.ID, first, i+1))
		}
		seen[strings.ToUpper(e.ID)] = i + 1
		problems = append(problems, errs...)
		a.Entries = append(a.Entries, e)
	}
	if len(problems) > 0 {
		// One line: the dagger CLI shows only an error's first line.
		return Allowlist{}, fmt.Errorf("vulnerability allowlist %s is refused: %s", source, strings.Join(problems, "; "))
	}
	return a, nil
}

// entry checks one item: an ID, a reason and an expiry date are all required.
func entry(n int, id, reason, expires string) (Entry, []string) {
	e := Entry{ID: strings.TrimSpace(id), Reason: strings.TrimSpace(reason), Line: n}
	name := fmt.Sprintf("entry %d", n)
	if e.ID != "" {
		name += " (" + e.ID + ")"
	}
	var errs []string
	switch {
	case e.ID == "":
		errs = append(errs, name+" has no id: name the vulnerability as the scan does, e.g. CVE-2024-12345")
	case !vulnIDRe.MatchString(e.ID) || len(e.ID) > 128:
		errs = append(errs, fmt.Sprintf("%s: id %q is not a vulnerability ID such as CVE-2024-12345 or GHSA-xxxx-xxxx-xxxx", name, e.ID))
	}
	if e.Reason == "" {
		errs = append(errs, name+" has no reason: say why the risk is accepted (a reviewer reads it in every report)")
	}
	exp, err := time.Parse(time.DateOnly, strings.TrimSpace(expires))
	switch {
	case strings.TrimSpace(expires) == "":
		errs = append(errs, name+" has no expires: give the last day it is accepted, as YYYY-MM-DD (an allowlist entry may not last forever)")
	case err != nil:
		errs = append(errs, fmt.Sprintf("%s: expires %q is not a date: write YYYY-MM-DD", name, expires))
	}
	e.Expires = exp
	return e, errs
}

// ExpiredError names the allowlist entries past their expiry: each fails the gate until renewed or removed.
type ExpiredError struct {
	Source  string
	Entries []Entry
}

func (e *ExpiredError) Error() string {
	var parts []string
	for _, x := range e.Entries {
		parts = append(parts, fmt.Sprintf("%s expired on %s (reason was: %s)", x.ID, x.Expires.Format(time.DateOnly), x.Reason))
	}
	return fmt.Sprintf("vulnerability allowlist %s has expired entries: %s: renew each (a new expires date, and a reason that still holds) or remove it; an expired entry fails the gate whether or not the vulnerability is still found",
		e.Source, strings.Join(parts, "; "))
}

// Expired returns the entries expired at now, or nil.
func (a Allowlist) Expired(now time.Time) error {
	var out []Entry
	for _, e := range a.Entries {
		if e.ExpiredAt(now) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &ExpiredError{Source: a.Source, Entries: out}
}
