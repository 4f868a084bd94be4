// The allowlist file: YAML and JSON read the same, every incomplete entry is refused with all its problems
// at once, and an entry is valid through its expiry day and expired the day after.
package vulns

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const allowYAML = `# accepted risks, reviewed monthly
vulnerabilities:
  - id: CVE-2026-0002
    reason: zlib's inflate is never fed untrusted input here (SEC-42)
    expires: 2026-12-31
  - id: GHSA-abcd-efgh-ijkl
    reason: dev-only dependency
    expires: "2027-01-15"
`

func TestAllowlistYAMLAndJSON(t *testing.T) {
	y, err := ParseAllowlist("allow.yaml", []byte(allowYAML))
	if err != nil {
		t.Fatal(err)
	}
	j, err := ParseAllowlist("allow.json", []byte(`{"vulnerabilities":[{"id":"CVE-2026-0002","reason":"zlib's inflate is never fed untrusted input here (SEC-42)","expires":"2026-12-31"},{"id":"GHSA-abcd-efgh-ijkl","reason":"dev-only dependency","expires":"2027-01-15"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(y.Entries) != 2 || len(j.Entries) != 2 {
		t.Fatalf("entries: %+v / %+v", y.Entries, j.Entries)
	}
	for i := range y.Entries {
		a, b := y.Entries[i], j.Entries[i]
		if a.ID != b.ID || a.Reason != b.Reason || !a.Expires.Equal(b.Expires) {
			t.Errorf("YAML %+v != JSON %+v", a, b)
		}
	}
	if e, ok := y.Find("cve-2026-0002"); !ok || e.Expires.Format(time.DateOnly) != "2026-12-31" {
		t.Errorf("Find is case-insensitive: %+v %v", e, ok)
	}
}

func TestAllowlistRefusesIncompleteEntries(t *testing.T) {
	cases := map[string][]string{
		"vulnerabilities:\n  - id: CVE-2026-1\n    expires: 2027-01-01\n":                                                                {"entry 1 (CVE-2026-1) has no reason"},
		"vulnerabilities:\n  - id: CVE-2026-1\n    reason: r\n":                                                                          {"entry 1 (CVE-2026-1) has no expires: give the last day it is accepted, as YYYY-MM-DD"},
		"vulnerabilities:\n  - id: CVE-2026-1\n    reason: r\n    expires: next year\n":                                                  {`expires "next year" is not a date`},
		"vulnerabilities:\n  - reason: r\n    expires: 2027-01-01\n":                                                                     {"entry 1 has no id"},
		"vulnerabilities:\n  - id: openssl\n    reason: r\n    expires: 2027-01-01\n":                                                    {`id "openssl" is not a vulnerability ID`},
		"vulnerabilities:\n  - {id: CVE-2026-1, reason: r, expires: 2027-01-01}\n  - {id: cve-2026-1, reason: s, expires: 2027-01-01}\n": {"listed twice (entries 1 and 2)"},
		"vulnerabilities:\n  - {id: CVE-2026-1, reason: r, expires: 2027-01-01, until: forever}\n":                                       {`unknown field "until"`},
		// Every problem of the file at once.
		"vulnerabilities:\n  - id: CVE-2026-1\n  - id: CVE-2026-2\n    reason: r\n": {"entry 1 (CVE-2026-1) has no reason", "entry 1 (CVE-2026-1) has no expires", "entry 2 (CVE-2026-2) has no expires"},
	}
	for doc, wants := range cases {
		_, err := ParseAllowlist("allow.yaml", []byte(doc))
		for _, w := range wants {
			if err == nil || !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), "allow.yaml") {
				t.Errorf("%q: %v\nwant %q", doc, err, w)
			}
		}
	}
}

func TestAllowlistExpiry(t *testing.T) {
	a, err := ParseAllowlist("allow.yaml", []byte(allowYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Expired(time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)); err != nil {
		t.Errorf("valid through its expiry day: %v", err)
	}
	err = a.Expired(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	var ee *ExpiredError
	if !errors.As(err, &ee) || len(ee.Entries) != 1 ||
		!strings.Contains(err.Error(), "CVE-2026-0002 expired on 2026-12-31 (reason was: zlib's inflate is never fed untrusted input here (SEC-42))") ||
		strings.Contains(err.Error(), "GHSA") {
		t.Errorf("expired: %v", err)
	}
}
