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
	for _, overlay := range []string{"qa", "live"} {
		f.Add(renderShop(f, overlay, shopImage))
	}
	if good, err := os.ReadFile("testdata/good.yaml"); err == nil {
		f.Add(good)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []Options{{}, {RequireDigest: true, ImageName: "fastapi-app"}} {
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
				if fd.Object == "" || fd.Message == "" || fd.Severity < Failure || fd.Severity > Info {
					t.Fatalf("finding without object, message or a known severity: %+v", fd)
				}
			}
			if s := r.String(); !strings.Contains(s, " objects checked, ") || !strings.HasSuffix(s, "\n") {
				t.Fatalf("report lacks its summary line: %q", s)
			}
		}
	})
}
