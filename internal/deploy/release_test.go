// The release record on the real control plane: written on success, shown by status, restored with the
// previous image by a rollback, and read by promote only from an environment that is healthy at exactly
// the recorded digest.
package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReleaseRecordIsWrittenAndRestoredByRollback(t *testing.T) {
	e := newEnv(t)
	good := image("rel-good")
	o := e.options(good)
	o.Release = Release{Revision: "r1", Actor: "alice", RunURL: "https://github.com/acme/shop/actions/runs/1"}
	rep, err := e.run(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Release, "revision r1, image "+good+", by alice, run https://github.com/acme/shop/actions/runs/1") ||
		!strings.Contains(rep.Markdown(), "| Release | revision r1") {
		t.Fatalf("report release %q:\n%s", rep.Release, rep.Markdown())
	}
	if st := e.status(); !strings.Contains(st.String(), "release: revision r1, image "+good) {
		t.Fatalf("status:\n%s", st)
	}
	rel, err := Released(context.Background(), e.Client, e.ns, e.owner())
	if err != nil || rel.Image != good || rel.Revision != "r1" || rel.Actor != "alice" || time.Since(rel.At) > time.Minute {
		t.Fatalf("released: %+v %v", rel, err)
	}
	bad := e.options(image("rel-bad"), fault("ImagePullBackOff"))
	bad.Release = Release{Revision: "r2"}
	if _, err := e.run(bad); err == nil {
		t.Fatal("the bad deploy succeeded")
	}
	rel, err = Released(context.Background(), e.Client, e.ns, e.owner())
	if err != nil || rel.Revision != "r1" || rel.Image != good {
		t.Fatalf("after the rollback the record is %+v (%v), want r1 at %s", rel, err, good)
	}
}

func TestReleasedRefusesAnEnvironmentNotAtItsRecord(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var se *SourceError
	if _, err := Released(ctx, e.Client, e.ns, e.owner()); !errors.As(err, &se) || !strings.Contains(err.Error(), "never deployed") {
		t.Fatalf("empty namespace: %v", err)
	}
	// Deployed by hand, without ship: no record.
	e.KubectlStdin(string(e.manifests(image("by-hand"))), "apply", "--server-side", "-f", "-")
	if _, err := Released(ctx, e.Client, e.ns, e.owner()); !errors.As(err, &se) || !strings.Contains(err.Error(), "has no release record") {
		t.Fatalf("no record: %v", err)
	}
	recorded := image("recorded")
	if _, err := e.run(e.options(recorded)); err != nil {
		t.Fatal(err)
	}
	// Changed behind ship's back: the record no longer describes what runs.
	e.kubectl("set", "image", "deployment/fastapi-app", "-n", e.ns, "app="+image("sneaky"))
	if _, err := Released(ctx, e.Client, e.ns, e.owner()); !errors.As(err, &se) || !strings.Contains(err.Error(), "not the recorded image "+recorded) {
		t.Fatalf("changed by hand: %v", err)
	}
	if _, err := e.run(e.options(recorded)); err != nil {
		t.Fatal(err)
	}
	// A failed rollout left in place: the record is the last good one, which no longer runs.
	broken := e.options(image("broken"), fault("ImagePullBackOff"))
	broken.NoRollback = true
	if _, err := e.run(broken); err == nil {
		t.Fatal("the broken deploy succeeded")
	}
	if _, err := Released(ctx, e.Client, e.ns, e.owner()); !errors.As(err, &se) || !strings.Contains(err.Error(), "a later deploy failed and was left in place") {
		t.Fatalf("failed deploy left in place: %v", err)
	}
	// The recorded image, but pods that cannot be scheduled: not healthy.
	if _, err := e.run(e.options(recorded)); err != nil {
		t.Fatal(err)
	}
	e.kubectl("patch", "deployment", "fastapi-app", "-n", e.ns, "--type=merge", "-p", `{"spec":{"template":{"spec":{"nodeSelector":{"no-such-node":"x"}}}}}`)
	if _, err := Released(ctx, e.Client, e.ns, e.owner()); !errors.As(err, &se) || !strings.Contains(err.Error(), "is not healthy") {
		t.Fatalf("unschedulable: %v", err)
	}
}

// Promote is a deploy of the released image to another environment, recording where it came from.
func TestPromoteDeploysTheSourceDigest(t *testing.T) {
	staging, prod := newEnv(t), newEnv(t)
	img := image("promote-me")
	o := staging.options(img)
	o.Release = Release{Revision: "abc123"}
	if _, err := staging.run(o); err != nil {
		t.Fatal(err)
	}
	rel, err := Released(context.Background(), staging.Client, staging.ns, staging.owner())
	if err != nil {
		t.Fatal(err)
	}
	p := prod.options(rel.Image)
	prov := "reg.example/app@sha256:" + strings.Repeat("5", 64)
	p.Release = Release{Revision: rel.Revision, From: "dev", Provenance: prov}
	p.Provenance = "verified: signed by the test key"
	rep, err := prod.run(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Release, "revision abc123, image "+img+", promoted from dev, verified provenance "+prov) || rep.Provenance != p.Provenance {
		t.Fatalf("release: %q, provenance line %q", rep.Release, rep.Provenance)
	}
	if got, err := Released(context.Background(), prod.Client, prod.ns, prod.owner()); err != nil || got.Provenance != prov {
		t.Fatalf("prod's release record: %+v, %v; want provenance %s", got, err, prov)
	}
	if st := prod.status().Workloads[0]; st.Images[0] != img {
		t.Fatalf("prod runs %v", st.Images)
	}
}
