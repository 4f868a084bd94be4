// The release record: what is running in an environment and where it came from, kept on the workloads
// themselves (one annotation), written only once a rollout is healthy. Because the Deployment controller
// copies a Deployment's annotations onto its current ReplicaSet, and a rollback restores a revision's
// annotations with its pod template, rolling back restores the previous record with the previous image.
// It guards against promoting "whatever staging has" by name: promote reads the record, checks the
// environment is healthy at exactly that digest, and deploys that digest.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"

	"dagger/ship/internal/kube"
)

// ReleaseAnnotation holds the JSON release record on each workload a deploy owns.
const ReleaseAnnotation = "ship/release"

// ReleaseManager is the field manager of the record, so later applies (which do not carry it) keep it.
const ReleaseManager = "ship-release"

// Release is the record of one successful deploy or promote.
type Release struct {
	Revision string `json:"revision,omitempty"` // git revision
	Image    string `json:"image"`              // the deployed reference, pinned by digest
	RunURL   string `json:"runURL,omitempty"`   // the CI run that deployed it
	Actor    string `json:"actor,omitempty"`    // who triggered it
	From     string `json:"from,omitempty"`     // the environment it was promoted from
	// Provenance is the signed provenance the gate verified (repository@sha256: of its bundle), "" when
	// the deploy was not verified.
	Provenance string    `json:"provenance,omitempty"`
	At         time.Time `json:"at"`
}

// summary is the one-line form status and reports show.
func (r Release) summary() string {
	if r.Image == "" {
		return ""
	}
	parts := []string{"image " + r.Image}
	if r.Revision != "" {
		parts = append([]string{"revision " + r.Revision}, parts...)
	}
	if r.From != "" {
		parts = append(parts, "promoted from "+r.From)
	}
	if r.Provenance != "" {
		parts = append(parts, "verified provenance "+r.Provenance)
	}
	if r.Actor != "" {
		parts = append(parts, "by "+r.Actor)
	}
	if r.RunURL != "" {
		parts = append(parts, "run "+r.RunURL)
	}
	if !r.At.IsZero() {
		parts = append(parts, "at "+r.At.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

// record writes the release record on every workload of the rendered set.
func record(ctx context.Context, c *kube.Client, p *plan, r Release) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding the release record: %w", err)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{ReleaseAnnotation: string(data)}}})
	for _, w := range p.workloads {
		if _, err := c.Patch(ctx, w.GVK(), p.namespace, w.Name, types.MergePatchType, patch, ReleaseManager); err != nil {
			return fmt.Errorf("the rollout is healthy, but recording the release on %s failed: %w", w, err)
		}
	}
	return nil
}

// releaseOf reads a workload's record; ok is false when it has none (deployed before records existed).
func releaseOf(annotations map[string]string) (Release, bool) {
	var r Release
	raw := annotations[ReleaseAnnotation]
	if raw == "" || json.Unmarshal([]byte(raw), &r) != nil || r.Image == "" {
		return Release{}, false
	}
	return r, true
}

// SourceError says why an environment cannot be promoted from.
type SourceError struct {
	Overlay, Namespace, Problem string
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("cannot promote from %s (namespace %s): %s", e.Overlay, e.Namespace, e.Problem)
}

// Released returns the release an environment runs, after checking that every Deployment the owner has
// there carries the same record, runs exactly its image, and is healthy (all replicas updated, ready and
// available, nothing older left). Anything else is a *SourceError that says what is wrong.
func Released(ctx context.Context, c *kube.Client, namespace string, owner kube.Owner) (Release, error) {
	objs, err := observed(ctx, c, namespace, owner)
	if err != nil {
		return Release{}, fmt.Errorf("reading %s's workloads: %w", owner.Overlay, err)
	}
	fail := func(format string, args ...any) (Release, error) {
		return Release{}, &SourceError{Overlay: owner.Overlay, Namespace: namespace, Problem: fmt.Sprintf(format, args...)}
	}
	if len(objs.Deployments) == 0 {
		return fail("app %q has no deployments there: it was never deployed", owner.App)
	}
	sort.Slice(objs.Deployments, func(i, j int) bool { return objs.Deployments[i].Name < objs.Deployments[j].Name })
	var rel Release
	for i, d := range objs.Deployments {
		r, ok := releaseOf(d.Annotations)
		switch {
		case !ok:
			return fail("deployment/%s has no release record (it was deployed by an older ship, or by hand); deploy it with ship first, or promote with --revision", d.Name)
		case i > 0 && r.Image != rel.Image:
			return fail("its deployments record different images (%s, %s): a deploy is incomplete", rel.Image, r.Image)
		}
		rel = r
		if !runsImage(d, r.Image) {
			return fail("deployment/%s runs %s, not the recorded image %s: a later deploy failed and was left in place, is still rolling out, or the workload was changed outside ship",
				d.Name, strings.Join(templateImages(d), ", "), r.Image)
		}
		if problem := unhealthy(d); problem != "" {
			return fail("deployment/%s is not healthy: %s", d.Name, problem)
		}
	}
	return rel, nil
}

// observed reads the owner's Deployments once their controller has caught up with them (recording a release
// changes annotations, which the API server counts as a new generation), waiting a few seconds at most.
func observed(ctx context.Context, c *kube.Client, namespace string, owner kube.Owner) (*kube.Objects, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		objs, err := c.Read(ctx, namespace, owner.Selector(), kube.DeploymentKind)
		if err != nil {
			return nil, err
		}
		behind := false
		for _, d := range objs.Deployments {
			behind = behind || d.Generation > d.Status.ObservedGeneration
		}
		if !behind || time.Now().After(deadline) {
			return objs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// unhealthy says why a Deployment is not fully rolled out and available, or "".
func unhealthy(d appsv1.Deployment) string {
	want, st := replicas(d.Spec.Replicas), d.Status
	switch {
	case d.Generation > st.ObservedGeneration:
		return "its controller has not observed the latest spec yet"
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas still running", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < want:
		return fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want)
	}
	return ""
}

// runsImage: the Deployment's template runs the image. A digest reference matches by name and digest, as
// rendering drops the tag of repo:tag@digest.
func runsImage(d appsv1.Deployment, image string) bool {
	for _, img := range templateImages(d) {
		if sameImage(img, image) {
			return true
		}
	}
	return false
}

func sameImage(a, b string) bool {
	an, _ := splitDigest(a)
	bn, _ := splitDigest(b)
	return SameDigest(a, b) && an == bn
}

// SameDigest reports whether two references name the same image digest; a reference without a digest
// matches only itself.
func SameDigest(a, b string) bool {
	_, ad := splitDigest(a)
	_, bd := splitDigest(b)
	if ad == "" || bd == "" {
		return a == b
	}
	return ad == bd
}

// splitDigest splits repo[:tag]@digest into repo and digest.
func splitDigest(ref string) (name, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name, digest
}
