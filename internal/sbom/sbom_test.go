// Tests of the SBOM on real inputs: a dpkg status excerpt copied from a Debian 12 machine (plus one removed
// package whose configuration files remain, a state dpkg really records) and a `pip inspect` report made by
// pip 23.2 on the same machine, trimmed to ten distributions and without their long descriptions.
package sbom

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/testenv/golden"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseDpkgStatus(t *testing.T) {
	pkgs, err := ParseDpkgStatus(readFixture(t, "dpkg-status"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]DebPackage{}
	for _, p := range pkgs {
		names = append(names, p.Name)
		byName[p.Name] = p
	}
	if got, want := strings.Join(names, " "), "base-files bash bsdutils libc6 libssl3 perl-base tzdata zlib1g"; got != want {
		t.Errorf("installed packages = %s, want %s (removed-example is only config files)", got, want)
	}
	want := DebPackage{Name: "bsdutils", Version: "1:2.38.1-5+deb12u3", Architecture: "amd64", Source: "util-linux", SourceVer: "2.38.1-5+deb12u3"}
	if byName["bsdutils"] != want {
		t.Errorf("bsdutils = %+v, want %+v", byName["bsdutils"], want)
	}
	if p := byName["libc6"]; p.Source != "glibc" || p.SourceVer != "" {
		t.Errorf("libc6's source = %q %q, want glibc and no separate version", p.Source, p.SourceVer)
	}
}

func TestParseDpkgStatusRefusesMalformed(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"continuation first", " leading continuation\n", "line 1 continues a field"},
		{"no colon", "Package: a\nnot a field\n", "line 2 is not \"Field: value\""},
		{"installed without version", "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\nVersion: 1\n", "paragraph at line 1: an installed package has no Package or no Version"},
		{"line too long", "Package: a\nDescription: " + strings.Repeat("x", maxStatusLine+1) + "\n", "after line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDpkgStatus([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParsePipInspect(t *testing.T) {
	r, err := ParsePipInspect(readFixture(t, "pip-inspect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range r.Packages {
		names = append(names, p.Name+"=="+p.Version)
	}
	want := "annotated-types==0.7.0 charset-normalizer==3.4.7 idna==3.13 jsonschema-specifications==2025.9.1 pip==23.2.1 pydantic_core==2.46.4 PyYAML==6.0.3 typing_extensions==4.15.0"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("packages = %s\nwant       %s", got, want)
	}
	if r.Implementation != "cpython" || r.PythonVersion != "3.11.7" || r.PipVersion != "23.2.1" {
		t.Errorf("environment = %q %q pip %q", r.Implementation, r.PythonVersion, r.PipVersion)
	}
}

func TestParsePipInspectRefusesOtherShapes(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not json", "pip: command not found", "not JSON"},
		{"pip list output", `[{"name":"pip","version":"23.2.1"}]`, "not JSON"},
		{"no installed", `{"version":"1"}`, `no "version" or no "installed"`},
		{"other format", `{"version":"2","installed":[]}`, `format "2" is not supported`},
		{"nameless", `{"version":"1","installed":[{"metadata":{"version":"1.0"}}]}`, "installed[0] has no metadata name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePipInspect([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPURLs(t *testing.T) {
	deb12 := OSRelease{ID: "debian", VersionID: "12"}
	for _, tc := range []struct{ got, want string }{
		{debPURL(DebPackage{Name: "bsdutils", Version: "1:2.38.1-5+deb12u3", Architecture: "amd64", Source: "util-linux", SourceVer: "2.38.1-5+deb12u3"}, deb12),
			"pkg:deb/debian/bsdutils@1:2.38.1-5+deb12u3?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5%2Bdeb12u3"},
		{debPURL(DebPackage{Name: "tzdata", Version: "2025b-0+deb12u2", Architecture: "all"}, deb12), "pkg:deb/debian/tzdata@2025b-0+deb12u2?arch=all&distro=debian-12"},
		{debPURL(DebPackage{Name: "libc6", Version: "2.36-9", Architecture: "arm64", Source: "glibc"}, OSRelease{}), "pkg:deb/debian/libc6@2.36-9?arch=arm64&upstream=glibc"},
		{pypiPURL(PythonPackage{Name: "PyYAML", Version: "6.0.3"}), "pkg:pypi/pyyaml@6.0.3"},
		{pypiPURL(PythonPackage{Name: "typing_extensions", Version: "4.15.0"}), "pkg:pypi/typing-extensions@4.15.0"},
		{pypiPURL(PythonPackage{Name: "zope.interface", Version: "7.0+local/x"}), "pkg:pypi/zope-interface@7.0+local%2Fx"},
		{ociPURL(Image{Repository: "localhost:5000/shop/api", Digest: "sha256:ab", Platform: "linux/arm64"}),
			"pkg:oci/api@sha256:ab?platform=linux%2Farm64&repository_url=localhost%3A5000%2Fshop%2Fapi"},
	} {
		if tc.got != tc.want {
			t.Errorf("purl = %s\nwant   %s", tc.got, tc.want)
		}
	}
}

// fixtureInput is the SBOM input of the fixtures, as the glue assembles it.
func fixtureInput(t testing.TB) Input {
	debs, err := ParseDpkgStatus(readFixture(t, "dpkg-status"))
	if err != nil {
		t.Fatal(err)
	}
	py, err := ParsePipInspect(readFixture(t, "pip-inspect.json"))
	if err != nil {
		t.Fatal(err)
	}
	return Input{
		Image: Image{Repository: "localhost:5000/fastapi-app", Digest: "sha256:" + strings.Repeat("ab", 32), Platform: "linux/amd64"},
		OS:    ParseOSRelease(readFixture(t, "os-release")), Debs: debs, Python: py,
		Created: time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC),
	}
}

func TestEncodeGolden(t *testing.T) {
	got, err := Encode(fixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "sbom.golden.json"), got)
}

// TestEncodeListsEveryPackageWithPURL checks the document itself, independently of the golden file.
func TestEncodeListsEveryPackageWithPURL(t *testing.T) {
	in := fixtureInput(t)
	data, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, want := range []string{
		`"bomFormat": "CycloneDX"`, `"specVersion": "1.6"`,
		`"purl": "pkg:deb/debian/libssl3@3.0.19-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"`,
		`"purl": "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"`,
		`"purl": "pkg:pypi/pyyaml@6.0.3"`, `"purl": "pkg:pypi/pip@23.2.1"`,
		`"version": "sha256:` + strings.Repeat("ab", 32) + `"`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the SBOM lacks %s", want)
		}
	}
	if n := strings.Count(doc, `"purl": "pkg:deb/`); n != len(in.Debs) {
		t.Errorf("%d deb purls for %d packages", n, len(in.Debs))
	}
	if n := strings.Count(doc, `"purl": "pkg:pypi/`); n != len(in.Python.Packages) {
		t.Errorf("%d pypi purls for %d distributions", n, len(in.Python.Packages))
	}
	if strings.Contains(doc, "removed-example") {
		t.Error("the SBOM lists a package that is not installed")
	}
	if _, err := Encode(Input{}); err == nil {
		t.Error("an SBOM without an image digest was made")
	}
}

func TestEncodeSaysWhatWasNotRead(t *testing.T) {
	in := fixtureInput(t)
	in.Python = nil
	in.Notes = []string{"python packages not listed: the image has no pip (exit 127)"}
	data, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "the image has no pip") || strings.Contains(string(data), "pkg:pypi/") {
		t.Errorf("the note is missing or pypi packages appear:\n%s", data)
	}
}
