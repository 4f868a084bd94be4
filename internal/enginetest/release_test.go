//go:build engine

// A release that is more than a Deployment, through the real `dagger` CLI: a migration Job marked
// pre-deploy runs before each revision's rollout (and not again for the same revision, nor on rollback); a
// failing one fails the deploy with its exit code and log, printing the report once; and a `dagger call
// deploy` interrupted with SIGINT mid-rollout is followed at once by a deploy that gets the namespace within
// the lock's lease and says what it superseded (or finds it already rolled back, where the engine let the
// interrupted function finish its cleanup).
package enginetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"dagger/ship/internal/testenv/kubecluster"
	"dagger/ship/internal/testenv/kubetest"
)

// manifestsWith is a copy of k8s/ whose dev overlay also has the given resources (name -> YAML) and patches.
func (s *suite) manifestsWith(t testing.TB, resources, patches map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(s.root, "k8s"))); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "overlays", "dev")
	k, err := os.ReadFile(filepath.Join(dev, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range resources {
		if err := os.WriteFile(filepath.Join(dev, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		k = bytes.Replace(k, []byte("resources:\n  - ../../base\n"), []byte("resources:\n  - ../../base\n  - "+name+"\n"), 1)
	}
	for name, body := range patches {
		if err := os.WriteFile(filepath.Join(dev, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		k = bytes.Replace(k, []byte("patches:\n"), []byte("patches:\n  - path: "+name+"\n"), 1)
	}
	if err := os.WriteFile(filepath.Join(dev, "kustomization.yaml"), k, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// migration is the migration Job marked pre-deploy; podAnnotations go on its pod template.
func migration(podAnnotations string) map[string]string {
	return map[string]string{"migrate-job.yaml": kubetest.MigrationJob(podAnnotations)}
}

// fakeImage is a digest-pinned reference kwok never pulls.
func (s *suite) fakeImage(tag string) string {
	return fmt.Sprintf("%s/fastapi-app@sha256:%x", s.registry.Host, sha256.Sum256([]byte(fmt.Sprintf("%s-%d", tag, time.Now().UnixNano()))))
}

// jobs lists the dev namespace's Jobs.
func (s *suite) jobs(t testing.TB) []string {
	t.Helper()
	out, err := s.cluster.Kubectl(context.Background(), "get", "jobs", "-n", namespace, "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out)
}

func TestMigrations(t *testing.T) {
	s := setup(t)
	good := s.manifestsWith(t, migration(""), nil)
	before := len(s.jobs(t))
	img1, img2 := s.fakeImage("mig-1"), s.fakeImage("mig-2")
	for i, img := range []string{img1, img2} {
		plan := s.call(t, join([]string{"--manifests", good, "plan", "--overlay", "dev", "--image", img}, s.target())...)
		mustSucceed(t, plan, "(pre-deploy job migrate): would run, to completion, before any other object changes")
		r := s.call(t, join([]string{"--manifests", good, "deploy", "--allow-unverified", "--overlay", "dev", "--image", img, "--revision", fmt.Sprintf("mig-%d", i+1)}, s.target())...)
		mustSucceed(t, r, "## ship deploy dev: succeeded", "### Pre-deploy jobs", "| completed |", "pre-deploy jobs ")
		t.Logf("revision %d:\n%s", i+1, r.stdout)
	}
	if n := len(s.jobs(t)) - before; n != 2 {
		t.Fatalf("two revisions ran %d new jobs: %v", n, s.jobs(t))
	}
	again := s.call(t, join([]string{"--manifests", good, "deploy", "--allow-unverified", "--overlay", "dev", "--image", img2}, s.target())...)
	mustSucceed(t, again, "already completed for this revision")
	rb := s.call(t, join([]string{"--manifests", good, "rollback", "--overlay", "dev"}, s.target())...)
	mustSucceed(t, rb, "rolled back 1 deployment(s), healthy")
	if n := len(s.jobs(t)) - before; n != 2 {
		t.Fatalf("the redeploy or the rollback ran a job: %v", s.jobs(t))
	}

	t.Run("preview runs it on the preview cluster", func(t *testing.T) {
		r := s.call(t, join([]string{"--manifests", good}, pip(), []string{"preview"})...)
		mustSucceed(t, r, "### ship rollback dev: succeeded")
		if n := strings.Count(r.stdout, "| completed |"); n != 2 {
			t.Fatalf("%d completed pre-deploy jobs in the preview's two deploys, want 2:\n%s", n, r.stdout)
		}
	})
	t.Run("a failing migration", func(t *testing.T) {
		if err := s.cluster.SetLogs(context.Background(), namespace, "migrate", `sqlalchemy.exc.ProgrammingError: relation "users" does not exist`); err != nil {
			t.Fatal(err)
		}
		failing := s.manifestsWith(t, migration(kubecluster.FaultAnnotation+": "+kubecluster.FaultFailed+", "+kubecluster.FaultExitCodeAnnotation+`: "3"`), nil)
		status := func() string {
			return s.call(t, join([]string{"status", "--overlay", "dev"}, s.target())...).stdout
		}
		was := status()
		r := s.call(t, join([]string{"--manifests", failing, "deploy", "--allow-unverified", "--overlay", "dev", "--image", s.fakeImage("mig-bad"), "--revision", "mig-bad"}, s.target())...)
		if r.err == nil {
			t.Fatalf("a failing migration deployed:\n%s", r)
		}
		out := r.stdout + r.stderr
		for _, want := range []string{"pre-deploy job job.batch/migrate-", "exit code 3", `relation "users" does not exist`, "nothing else was applied"} {
			if !strings.Contains(out, want) {
				t.Errorf("the failure does not say %q:\n%s", want, r)
			}
		}
		if n := strings.Count(ansi.ReplaceAllString(out, ""), "## ship deploy dev: FAILED"); n != 1 {
			t.Errorf("the report was printed %d times:\n%s", n, out)
		}
		if now := status(); now != was {
			t.Errorf("a workload changed although the migration failed:\nbefore %s\nafter  %s", was, now)
		}
		t.Logf("the failed migration, as printed:\n%s", lastLines(r.stderr, 80))
	})
}

// TestInterruptedDeploy interrupts a `dagger call deploy` with SIGINT mid-rollout, then deploys at once.
func TestInterruptedDeploy(t *testing.T) {
	s := setup(t)
	good := s.fakeImage("int-good")
	mustSucceed(t, s.call(t, join([]string{"deploy", "--allow-unverified", "--overlay", "dev", "--image", good, "--revision", "int-good"}, s.target())...))
	slow := s.manifestsWith(t, nil, map[string]string{"slow.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: fastapi-app}\nspec:\n  minReadySeconds: 30\n"})

	cmd := exec.Command("dagger", join([]string{"--progress=plain", "call", "--manifests", slow, "deploy", "--allow-unverified", "--overlay", "dev",
		"--image", s.fakeImage("int-new"), "--revision", "int-new", "--owner", "interrupted-deploy"}, s.target())...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), "DAGGER_NO_NAG=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var interrupted time.Time
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if interrupted.IsZero() && strings.Contains(sc.Text(), "deployment.apps/fastapi-app configured") {
			interrupted = time.Now()
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitErr := cmd.Wait()
	if interrupted.IsZero() {
		t.Fatalf("the deploy never reached its rollout (%v):\n%s", waitErr, log.String())
	}
	t.Logf("the interrupted call exited %v, %s after SIGINT; its last lines:\n%s", waitErr, time.Since(interrupted).Round(100*time.Millisecond), lastLines(log.String(), 25))

	// At once, as deploy.yml's step for a cancelled job does: undo what the interrupted deploy left.
	undo := s.call(t, join([]string{"rollback", "--overlay", "dev", "--if-interrupted", "int-new"}, s.target())...)
	mustSucceed(t, undo, "rolled back 1 deployment(s), healthy")
	lockWait := reportPart(t, undo.stdout, "lock wait")
	freeAfter := time.Since(interrupted) - undo.took + lockWait
	superseded := strings.Contains(undo.stdout, "| Superseded | an interrupted deploy of ")
	t.Logf("the namespace was free %s after SIGINT (lock wait of the cleanup %s); superseded reported: %v\n%s",
		freeAfter.Round(100*time.Millisecond), lockWait, superseded, undo.stdout)
	if !superseded {
		t.Fatalf("the cleanup rolled back without naming the interrupted deploy it superseded:\n%s", undo.stdout)
	}
	// The lease is 15 s: a lock held for its old 2 minutes (or forever) fails here, whatever the engine's speed.
	if lockWait > 30*time.Second {
		t.Fatalf("the cleanup waited %s for the interrupted deploy's lock", lockWait)
	}
	if !strings.Contains(undo.stdout, good) {
		t.Fatalf("the cleanup did not go back to the good image %s:\n%s", good, undo.stdout)
	}
	// A second cleanup finds nothing left to undo, and the next deploy goes through.
	again := s.call(t, join([]string{"rollback", "--overlay", "dev", "--if-interrupted", "int-new"}, s.target())...)
	mustSucceed(t, again, "no deploy was left interrupted")
	next := s.call(t, join([]string{"deploy", "--allow-unverified", "--overlay", "dev", "--image", s.fakeImage("int-next"), "--revision", "int-next"}, s.target())...)
	mustSucceed(t, next, "## ship deploy dev: succeeded")
}

var partRe = regexp.MustCompile(`\| Duration \| [^|]*\(([^)]*)\)`)

// reportPart is one part of the report's Duration breakdown ("lock wait 14s").
func reportPart(t testing.TB, md, name string) time.Duration {
	t.Helper()
	m := partRe.FindStringSubmatch(md)
	if m == nil {
		t.Fatalf("no Duration breakdown in the report:\n%s", md)
	}
	for _, p := range strings.Split(m[1], ", ") {
		if v, ok := strings.CutPrefix(p, name+" "); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("no %q in the Duration %q", name, m[1])
	return 0
}
