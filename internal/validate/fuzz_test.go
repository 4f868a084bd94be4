// Manifests reads whatever a render or a user hands it; no input may make
// it panic, and its report must stay self-consistent.
package validate

import (
	"os"
	"strings"
	"testing"
)

func FuzzManifests(f *testing.F) {
	for _, overlay := range shippedOverlays(f) {
		f.Add(renderShipped(f, overlay, shippedImage))
	}
	if good, err := os.ReadFile("testdata/good.yaml"); err == nil {
		f.Add(good)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []Options{{}, {RequireDigest: true}} {
			r, err := Manifests(data, opts)
			if err != nil {
				if r != nil {
					t.Fatalf("both a report and an error: %v", err)
				}
				continue
			}
			if r.OK() != (r.Err() == nil) {
				t.Fatalf("OK() = %v but Err() = %v", r.OK(), r.Err())
			}
			for _, fd := range r.Findings {
				if fd.Object == "" || fd.Message == "" {
					t.Fatalf("finding without object or message: %+v", fd)
				}
			}
			if s := r.String(); !strings.HasSuffix(s, "findings\n") {
				t.Fatalf("report lacks its summary line: %q", s)
			}
		}
	})
}
