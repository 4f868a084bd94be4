// Golden tests of the rendered report (run with -update to rewrite testdata/*.md after a deliberate
// change).
package report

import (
	"path/filepath"
	"testing"
	"time"

	"dagger/ship/internal/testenv/golden"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func failed() *Report {
	return &Report{Action: "deploy", Overlay: "dev", Namespace: "fastapi-dev", Image: "reg.example/app@sha256:bad",
		Summary: "deployment/fastapi-app failed: pod x: ImagePullBackOff", Started: t0, Finished: t0.Add(7300 * time.Millisecond),
		Changes:   []Change{{"deployment.apps/fastapi-app", "configured"}, {"service/fastapi-app", "unchanged"}, {"configmap/old", "pruned"}},
		Workloads: []Workload{{Name: "deployment/fastapi-app", Outcome: "failed", Revision: "3", Images: []string{"reg.example/app@sha256:bad"}, Duration: 2100 * time.Millisecond, Reason: "pod x | y: ImagePullBackOff"}},
		Rollbacks: []Rollback{{Workload: "deployment/fastapi-app", FromRevision: "3", ToRevision: "2", NewRevision: "4", Images: []string{"reg.example/app@sha256:good"}, Healthy: true}},
		Diagnosis: []string{"diagnosis of deployment/fastapi-app:\n  - pod x container app: ImagePullBackOff\n"}}
}

func succeeded() *Report {
	return &Report{Action: "deploy", Overlay: "prod", Namespace: "fastapi", Image: "reg.example/app@sha256:good", Succeeded: true,
		Provenance: "verified: signed by AWS KMS key alias/ship-shop-attestations, builder acme/shop/.github/workflows/deploy.yml@refs/heads/main, revision r1, statement reg.example/app@sha256:prov",
		Summary:    "1 workload(s) rolled out in 3.2s", Started: t0, Finished: t0.Add(3200 * time.Millisecond),
		Changes:   []Change{{"deployment.apps/fastapi-app", "created"}},
		Workloads: []Workload{{Name: "deployment/fastapi-app", Outcome: "rolled out", Revision: "1", Images: []string{"reg.example/app@sha256:good"}, Duration: 2 * time.Second}},
		Addresses: []string{"a1.elb.example:80 (service/fastapi-app)"}}
}

// migrationFailed: the pre-deploy job failed, so nothing else was applied.
func migrationFailed() *Report {
	return &Report{Action: "deploy", Overlay: "staging", Namespace: "fastapi-staging", Image: "reg.example/app@sha256:new",
		Summary: "pre-deploy job job.batch/migrate-0a1b2c3d failed", Started: t0, LockAcquired: t0.Add(200 * time.Millisecond),
		JobsDone: t0.Add(4200 * time.Millisecond), Finished: t0.Add(4500 * time.Millisecond),
		Jobs:      []Job{{Name: "job.batch/migrate-0a1b2c3d", Outcome: "failed", Duration: 4 * time.Second, Detail: "BackoffLimitExceeded"}},
		Diagnosis: []string{"diagnosis of job.batch/migrate-0a1b2c3d:\n  - pod migrate-0a1b2c3d-x container migrate: terminated, exit code 3 (Error)\n"}}
}

// superseded: this deploy waited for an interrupted one's lock, then ran a migration and rolled out.
func superseded() *Report {
	return &Report{Action: "deploy", Overlay: "dev", Namespace: "fastapi-dev", Image: "reg.example/app@sha256:good", Succeeded: true,
		Provenance: "NOT VERIFIED (--allow-unverified): the image has no signed provenance",
		Summary:    "1 workload(s) rolled out in 400ms", Started: t0, LockAcquired: t0.Add(14 * time.Second), JobsDone: t0.Add(15 * time.Second),
		Applied: t0.Add(15200 * time.Millisecond), RolledOut: t0.Add(15600 * time.Millisecond), Finished: t0.Add(15700 * time.Millisecond),
		Superseded: `deploy of reg.example/app@sha256:bad (revision r2) by ship deploy r2#1a2b stopped during "rollout" without releasing the lock`,
		Jobs:       []Job{{Name: "job.batch/migrate-9f8e7d6c", Outcome: "completed", Duration: time.Second}},
		Workloads:  []Workload{{Name: "deployment/fastapi-app", Outcome: "rolled out", Revision: "3", Images: []string{"reg.example/app@sha256:good"}, Duration: 400 * time.Millisecond}}}
}

func TestMarkdownGolden(t *testing.T) {
	for name, r := range map[string]*Report{"failed": failed(), "succeeded": succeeded(), "migration-failed": migrationFailed(), "superseded": superseded()} {
		t.Run(name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", name+".md"), []byte(r.Markdown()))
		})
	}
}
