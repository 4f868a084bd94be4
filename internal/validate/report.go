// The report is what a person reads when a deploy is refused: one line per
// object, every finding with its object and field, and a typed error for
// callers that only need pass/fail. Warnings and info are listed too but
// never fail it, so a note cannot block a deploy.
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

// OK reports whether no check failed; warnings and info do not count.
func (r *Report) OK() bool { return len(r.failures()) == 0 }

// Err is nil when OK, otherwise a *Error listing every failed check.
func (r *Report) Err() error {
	if f := r.failures(); len(f) > 0 {
		return &Error{Findings: f}
	}
	return nil
}

func (r *Report) failures() []Finding {
	var f []Finding
	for _, x := range r.Findings {
		if x.Severity == Failure {
			f = append(f, x)
		}
	}
	return f
}

// String renders one line per object checked, each followed by its
// findings, then a summary counting failed checks (and any warnings and
// info, which do not fail).
func (r *Report) String() string {
	var b strings.Builder
	byObject := map[string][]Finding{}
	count := map[Severity]int{}
	for _, f := range r.Findings {
		byObject[f.Object] = append(byObject[f.Object], f)
		count[f.Severity]++
	}
	seen := map[string]bool{}
	for _, obj := range r.Objects {
		if seen[obj] {
			continue
		}
		seen[obj] = true
		fmt.Fprintf(&b, "%s %s\n", status(byObject[obj]), obj)
		for _, f := range byObject[obj] {
			b.WriteString("     - " + f.detail() + "\n")
		}
	}
	fmt.Fprintf(&b, "%d objects checked, %d findings", len(seen), count[Failure])
	switch n := count[Warning]; {
	case n == 1:
		b.WriteString(", 1 warning")
	case n > 1:
		fmt.Fprintf(&b, ", %d warnings", n)
	}
	if n := count[Info]; n > 0 {
		fmt.Fprintf(&b, ", %d info", n)
	}
	b.WriteString("\n")
	return b.String()
}

// status is an object's word in the report: FAIL if any check failed,
// warn if any warned, else ok.
func status(findings []Finding) string {
	word := "ok  "
	for _, f := range findings {
		switch f.Severity {
		case Failure:
			return "FAIL"
		case Warning:
			word = "warn"
		}
	}
	return word
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
