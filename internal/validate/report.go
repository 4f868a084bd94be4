// The report is what a person reads when a deploy is refused: one line per
// object, every finding with its object and field, and a typed error for
// callers that only need pass/fail.
package validate

import (
	"fmt"
	"strconv"
	"strings"
)

// Report is the outcome of Manifests.
type Report struct {
	Objects  []string
	Findings []Finding
}

// OK reports whether no check failed.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

// Err is nil when OK, otherwise a *Error listing every finding.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return &Error{Findings: append([]Finding(nil), r.Findings...)}
}

// String renders one line per object checked, each followed by its findings.
func (r *Report) String() string {
	var b strings.Builder
	byObject := map[string][]Finding{}
	for _, f := range r.Findings {
		byObject[f.Object] = append(byObject[f.Object], f)
	}
	seen := map[string]bool{}
	for _, obj := range r.Objects {
		if seen[obj] {
			continue
		}
		seen[obj] = true
		status := "ok  "
		if len(byObject[obj]) > 0 {
			status = "FAIL"
		}
		fmt.Fprintf(&b, "%s %s\n", status, obj)
		for _, f := range byObject[obj] {
			b.WriteString("     - ")
			if f.Field != "" {
				b.WriteString(f.Field + ": ")
			}
			b.WriteString(f.Message + "\n")
		}
	}
	fmt.Fprintf(&b, "%d objects checked, %d findings\n", len(seen), len(r.Findings))
	return b.String()
}

// Error is returned by Report.Err when any check failed.
type Error struct {
	Findings []Finding
}

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Findings)+1)
	lines = append(lines, fmt.Sprintf("validate: manifests failed %d checks; fix them and render again:", len(e.Findings)))
	for _, f := range e.Findings {
		lines = append(lines, "  "+f.String())
	}
	return strings.Join(lines, "\n")
}

func quote(s string) string { return strconv.Quote(s) }
