// Package report is the deploy's account of itself: what was applied, what changed, how each workload's
// rollout went and how long it took, any rollback, the diagnosis, and where the service can be reached.
// It guards against a CI run that is "green" without saying what it did, and keeps one rendering
// (Markdown) for both the job summary and the terminal.
package report

import (
	"fmt"
	"strings"
	"time"
)

// Change is what the apply did to one object.
type Change struct {
	Object string // "deployment.apps/app"
	Action string // created, configured, unchanged, pruned
}

// Workload is one workload's rollout.
type Workload struct {
	Name     string // "deployment/app"
	Outcome  string // rolled out, failed, timed out, not finished
	Revision string
	Images   []string
	Duration time.Duration
	Observed time.Time // when the outcome was seen
	Reason   string
}

// Rollback is one workload undone after a failed rollout.
type Rollback struct {
	Workload     string
	FromRevision string // "" when the change was undone before the Deployment controller made a revision of it
	ToRevision   string // the revision whose template was restored
	NewRevision  string // the revision number the restored template now carries
	Images       []string
	Healthy      bool
	Detail       string
}

// Report is the account of one deploy (or manual rollback).
type Report struct {
	Action       string // "deploy", "rollback"
	Overlay      string
	Namespace    string
	Image        string
	Provenance   string // the provenance gate's verdict on the image ("" = not checked)
	Succeeded    bool
	Summary      string
	Started      time.Time
	LockAcquired time.Time // after the lock write succeeded
	JobsDone     time.Time // pre-deploy jobs finished (zero: none ran)
	Applied      time.Time
	RolledOut    time.Time // the rollout wait ended
	Finished     time.Time
	LockReleased time.Time // just before the release write: the lock was held at least until then
	Changes      []Change
	Workloads    []Workload
	Rollbacks    []Rollback
	RollbackNote string // why nothing was rolled back, when that matters
	Diagnosis    []string
	Addresses    []string // external addresses of LoadBalancer services
	Release      string   // the release record written on success
	Notes        []string // what the deploy deliberately left alone, and why
	Jobs         []Job    // pre-deploy jobs
	Superseded   string   // an interrupted deploy whose unreleased lock this one took over
	Interrupted  string   // this deploy was interrupted: what it did about it
}

// Job is one pre-deploy job (a migration) of this revision.
type Job struct {
	Name     string // "job.batch/migrate-1a2b3c4d"
	Outcome  string // completed, failed, already completed for this revision, ...
	Duration time.Duration
	Detail   string
}

// Markdown renders the report for a GitHub job summary or a terminal.
func (r *Report) Markdown() string {
	var b strings.Builder
	status := "succeeded"
	if !r.Succeeded {
		status = "FAILED"
	}
	fmt.Fprintf(&b, "## ship %s %s: %s\n\n", orDefault(r.Action, "deploy"), orDefault(r.Overlay, "?"), status)
	if r.Summary != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Summary)
	}
	fmt.Fprintf(&b, "| | |\n|---|---|\n| Overlay | `%s` |\n| Namespace | `%s` |\n", r.Overlay, r.Namespace)
	if r.Image != "" {
		fmt.Fprintf(&b, "| Image | `%s` |\n", r.Image)
	}
	if r.Provenance != "" {
		fmt.Fprintf(&b, "| Provenance | %s |\n", Cell(r.Provenance))
	}
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		fmt.Fprintf(&b, "| Duration | %s |\n", r.durations())
	}
	if r.Superseded != "" {
		fmt.Fprintf(&b, "| Superseded | an interrupted %s |\n", Cell(r.Superseded))
	}
	if r.Interrupted != "" {
		fmt.Fprintf(&b, "| Interrupted | %s |\n", Cell(r.Interrupted))
	}
	if r.Release != "" {
		fmt.Fprintf(&b, "| Release | %s |\n", Cell(r.Release))
	}
	for _, a := range r.Addresses {
		fmt.Fprintf(&b, "| External address | `%s` |\n", a)
	}
	r.jobs(&b)
	r.changes(&b)
	r.workloads(&b)
	r.rollbacks(&b)
	if len(r.Notes) > 0 {
		b.WriteString("\n### Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if len(r.Diagnosis) > 0 {
		b.WriteString("\n### Diagnosis\n\n```\n")
		for _, d := range r.Diagnosis {
			b.WriteString(strings.TrimRight(d, "\n") + "\n")
		}
		b.WriteString("```\n")
	}
	return b.String()
}

// durations is the whole time with its parts kept apart: a long lock wait or migration is not a slow rollout.
func (r *Report) durations() string {
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	total := round(r.Finished.Sub(r.Started))
	var parts []string
	add := func(name string, from, to time.Time) {
		if !from.IsZero() && !to.IsZero() && !to.Before(from) {
			parts = append(parts, fmt.Sprintf("%s %s", name, round(to.Sub(from))))
		}
	}
	add("lock wait", r.Started, r.LockAcquired)
	applyFrom := r.LockAcquired
	if !r.JobsDone.IsZero() {
		add("pre-deploy jobs", r.LockAcquired, r.JobsDone)
		applyFrom = r.JobsDone
	}
	add("apply", applyFrom, r.Applied)
	add("rollout", r.Applied, r.RolledOut)
	if len(parts) == 0 {
		return total.String()
	}
	return fmt.Sprintf("%s (%s)", total, strings.Join(parts, ", "))
}

func (r *Report) jobs(b *strings.Builder) {
	if len(r.Jobs) == 0 {
		return
	}
	b.WriteString("\n### Pre-deploy jobs\n\n| Job | Result | Time | Detail |\n|---|---|---|---|\n")
	for _, j := range r.Jobs {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", j.Name, j.Outcome, j.Duration.Round(100*time.Millisecond), Cell(j.Detail))
	}
	b.WriteString("\nA rollback never re-runs or undoes a pre-deploy job: each migration must work with the previous revision too.\n")
}

func (r *Report) changes(b *strings.Builder) {
	if len(r.Changes) == 0 {
		return
	}
	b.WriteString("\n### Changes\n\n| Object | Change |\n|---|---|\n")
	for _, c := range r.Changes {
		fmt.Fprintf(b, "| `%s` | %s |\n", c.Object, c.Action)
	}
}

func (r *Report) workloads(b *strings.Builder) {
	if len(r.Workloads) == 0 {
		return
	}
	b.WriteString("\n### Rollout\n\n| Workload | Result | Revision | Image | Time | Detail |\n|---|---|---|---|---|---|\n")
	for _, w := range r.Workloads {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s |\n", w.Name, w.Outcome, w.Revision, code(w.Images),
			w.Duration.Round(100*time.Millisecond), Cell(w.Reason))
	}
}

// From names what was rolled back: a revision, or a change the Deployment controller had not acted on yet.
func (rb Rollback) From() string {
	if rb.FromRevision == "" {
		return "the applied change (no revision of it yet)"
	}
	return "revision " + rb.FromRevision
}

func (r *Report) rollbacks(b *strings.Builder) {
	if len(r.Rollbacks) == 0 && r.RollbackNote == "" {
		return
	}
	b.WriteString("\n### Rollback\n\n")
	if r.RollbackNote != "" {
		fmt.Fprintf(b, "%s\n\n", r.RollbackNote)
	}
	for _, rb := range r.Rollbacks {
		health := "healthy again"
		if !rb.Healthy {
			health = "NOT healthy"
		}
		fmt.Fprintf(b, "- `%s`: rolled back from %s to revision %s (%s), now revision %s, %s", rb.Workload,
			rb.From(), rb.ToRevision, code(rb.Images), rb.NewRevision, health)
		if rb.Detail != "" {
			fmt.Fprintf(b, ": %s", rb.Detail)
		}
		b.WriteString("\n")
	}
}

func code(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return "`" + strings.Join(ss, "`, `") + "`"
}

// Cell keeps free text from breaking a Markdown table.
func Cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
