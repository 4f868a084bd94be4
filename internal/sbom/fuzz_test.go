// Fuzz targets for the parsers of what an image contains: an image is built from anything its Dockerfile
// pulls in, so its dpkg database, its pip report and its os-release are untrusted input. `go test` runs the
// seeds only; `go test -fuzz=FuzzParseDpkgStatus ./internal/sbom` explores.
package sbom

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add(readFixture(f, "dpkg-status"))
	for _, s := range []string{"", "\n\n\n", "Package: a\nStatus: install ok installed\nVersion: 1:2+b\nSource: s (3)\n",
		" x\n", "Package a\n", "Package: a\nStatus: install ok installed\n", "Package: a\r\nStatus: install ok installed\r\nVersion: 1\r\n\r\n",
		"Status: install ok installed\nPackage: \xff\nVersion: \x00\nSource: (\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseDpkgStatus(data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("a package without name or version was returned: %+v", p)
			}
			if purl := debPURL(p, OSRelease{ID: "debian", VersionID: "12"}); !strings.HasPrefix(purl, "pkg:deb/debian/") || strings.ContainsAny(purl, " \n\"") {
				t.Fatalf("bad purl %q for %+v", purl, p)
			}
		}
		if _, err := Encode(Input{Image: Image{Digest: "sha256:00"}, Debs: pkgs, Created: time.Unix(0, 0)}); err != nil {
			t.Fatalf("parsed packages do not encode: %v", err)
		}
	})
}

func FuzzParsePipInspect(f *testing.F) {
	f.Add(readFixture(f, "pip-inspect.json"))
	for _, s := range []string{"", "null", "{}", `{"version":"1","installed":[]}`, `{"version":"1","installed":null}`,
		`{"version":"1","installed":[{"metadata":{"name":"A_b.C","version":"1 2/3","license":"MIT\nfull text"}}]}`,
		`{"version":1}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParsePipInspect(data)
		if err != nil {
			return
		}
		for _, p := range r.Packages {
			if strings.TrimSpace(p.Name) == "" || strings.TrimSpace(p.Version) == "" {
				t.Fatalf("a distribution without name or version was returned: %+v", p)
			}
			if purl := pypiPURL(p); !strings.HasPrefix(purl, "pkg:pypi/") || strings.ContainsAny(purl, " \n\"") {
				t.Fatalf("bad purl %q for %+v", purl, p)
			}
		}
		if _, err := Encode(Input{Image: Image{Digest: "sha256:00"}, Python: r, Created: time.Unix(0, 0)}); err != nil {
			t.Fatalf("parsed distributions do not encode: %v", err)
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add(readFixture(f, "os-release"))
	f.Add([]byte("ID=\"deb\\\"ian\nVERSION_ID='12'\n=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ParseOSRelease(data)
		if d := r.Distro(); d != "" && (r.ID == "" || r.VersionID == "") {
			t.Fatalf("distro %q from an incomplete release %+v", d, r)
		}
	})
}
