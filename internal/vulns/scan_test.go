// Reading scans from the fake ECR (signed awsJson1.1 requests, ECR's own JSON, pages with nextToken): every
// scan status the gate meets gets its own outcome, a scan in progress is waited for within a bound, and
// every page is read.
package vulns

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"dagger/ship/internal/testenv/fakeaws"
)

const (
	repo   = "acme/shop"
	digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

var img = Image{RegistryID: "123456789012", Repository: repo, Digest: digest}

func fakeECR(t *testing.T) (*fakeaws.Server, *ecr.Client) {
	t.Helper()
	s := fakeaws.New(t, fakeaws.Options{Account: "123456789012", Region: "eu-west-1"})
	s.AddUser("AKIAVULNSTESTKEY0001", "vulns-secret-for-fakeaws-only-000000000")
	s.AddRepository(repo)
	cfg := aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAVULNSTESTKEY0001", "vulns-secret-for-fakeaws-only-000000000", "")}
	return s, ecr.NewFromConfig(cfg)
}

// scanCalls counts DescribeImageScanFindings requests, failing the test on an unsigned one.
func scanCalls(t *testing.T, s *fakeaws.Server) int {
	t.Helper()
	n := 0
	for _, r := range s.Requests() {
		if r.Operation == "DescribeImageScanFindings" {
			if !r.Signed || r.Status != 200 {
				t.Errorf("request %+v", r)
			}
			n++
		}
	}
	return n
}

func findings(n int, sev string) []fakeaws.ScanFinding {
	var out []fakeaws.ScanFinding
	for i := range n {
		out = append(out, fakeaws.ScanFinding{ID: "CVE-2026-" + string(rune('1'+i)) + "000", Severity: sev, Package: "libfoo", Version: "1.0"})
	}
	return out
}

func TestReadsEveryPageOfABasicScan(t *testing.T) {
	s, client := fakeECR(t)
	fs := append(findings(3, "HIGH"), findings(2, "UNDEFINED")...)
	fs[0].Severity = "CRITICAL"
	s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: "COMPLETE", Findings: fs})
	s.SetScanPageSize(2)
	scan, err := Reader{Client: client}.Read(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(scan.Findings) != 5 || scan.Enhanced || scan.Status != "COMPLETE" || scan.CompletedAt.IsZero() {
		t.Fatalf("scan = %+v", scan)
	}
	if got := scanCalls(t, s); got != 3 {
		t.Errorf("%d requests for 5 findings at 2 a page, want 3", got)
	}
	f := scan.Findings[0]
	if f.Severity != Critical || f.Package != "libfoo 1.0" || f.Fix != FixUnknown || !strings.Contains(f.URI, f.ID) {
		t.Errorf("first finding = %+v", f)
	}
	if scan.Counts["HIGH"] != 2 || scan.Counts["UNDEFINED"] != 2 || scan.Findings[4].Severity != Undefined {
		t.Errorf("counts %v, last %+v", scan.Counts, scan.Findings[4])
	}
}

func TestReadsEnhancedFindingsWhileActive(t *testing.T) {
	s, client := fakeECR(t)
	s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: "ACTIVE", Enhanced: true, Findings: []fakeaws.ScanFinding{
		{ID: "CVE-2026-0001", Severity: "CRITICAL", Package: "openssl", Version: "3.0.11", FixedIn: "3.0.12", FixAvailable: "YES"},
		{ID: "CVE-2026-0002", Severity: "HIGH", Package: "zlib1g", Version: "1.2.13", FixAvailable: "NO"},
		{ID: "CVE-2026-0003", Severity: "UNTRIAGED", Package: "bash", Version: "5.2", FixAvailable: "PARTIAL"},
		{ID: "CVE-2026-0004", Severity: "CRITICAL", Package: "tar", Version: "1.34", Status: "SUPPRESSED"},
	}})
	scan, err := Reader{Client: client}.Read(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if !scan.Enhanced || scan.Status != "ACTIVE" || len(scan.Findings) != 3 || scan.Inactive != 1 {
		t.Fatalf("scan = %+v", scan)
	}
	want := []Finding{
		{ID: "CVE-2026-0001", Severity: Critical, Fix: FixYes, FixedIn: "3.0.12", Package: "openssl 3.0.11"},
		{ID: "CVE-2026-0002", Severity: High, Fix: FixNo, Package: "zlib1g 1.2.13"},
		{ID: "CVE-2026-0003", Severity: Undefined, Fix: FixPartial, Package: "bash 5.2"},
	}
	for i, w := range want {
		g := scan.Findings[i]
		if g.ID != w.ID || g.Severity != w.Severity || g.Fix != w.Fix || g.FixedIn != w.FixedIn || g.Package != w.Package {
			t.Errorf("finding %d = %+v, want %+v", i, g, w)
		}
	}
	if scan.Findings[2].RawSeverity != "UNTRIAGED" {
		t.Errorf("raw severity lost: %+v", scan.Findings[2])
	}
}

// TestWaitsForAScanInProgress: IN_PROGRESS then COMPLETE is waited for; a scan that stays PENDING is refused
// once the bound is spent; without a bound it is read once.
func TestWaitsForAScanInProgress(t *testing.T) {
	s, client := fakeECR(t)
	var slept []time.Duration
	sleep := func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: "IN_PROGRESS"}, fakeaws.ImageScan{Status: "IN_PROGRESS"},
		fakeaws.ImageScan{Status: "COMPLETE", Findings: findings(1, "LOW")})
	scan, err := Reader{Client: client, Wait: time.Minute, Interval: 10 * time.Second, Sleep: sleep}.Read(context.Background(), img)
	if err != nil || scan.Status != "COMPLETE" || len(scan.Findings) != 1 || len(slept) != 2 {
		t.Fatalf("scan %+v, err %v, slept %v", scan, err, slept)
	}

	slept = nil
	s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: "PENDING"})
	_, err = Reader{Client: client, Wait: 25 * time.Second, Interval: 10 * time.Second, Sleep: sleep}.Read(context.Background(), img)
	var se *ScanError
	if !errors.As(err, &se) || !se.Pending() || !strings.Contains(err.Error(), "is PENDING: The image is queued for scanning.: still not finished after waiting 25s") {
		t.Errorf("stays PENDING: %v", err)
	}
	if len(slept) != 3 || slept[2] != 5*time.Second {
		t.Errorf("slept %v, want 10s, 10s, 5s (bounded)", slept)
	}

	slept = nil
	s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: "IN_PROGRESS"}, fakeaws.ImageScan{Status: "COMPLETE"})
	_, err = Reader{Client: client, Sleep: sleep}.Read(context.Background(), img)
	if !errors.As(err, &se) || se.Status != "IN_PROGRESS" || len(slept) != 0 || !strings.Contains(err.Error(), "the scan has not finished") {
		t.Errorf("no wait: %v, slept %v", err, slept)
	}
}

// TestStatusesWithoutFindingsAreRefused: each status that yields nothing to judge is an error of its own.
func TestStatusesWithoutFindingsAreRefused(t *testing.T) {
	s, client := fakeECR(t)
	cases := map[string]string{
		"FAILED":                   "is FAILED: UnsupportedImageError: The operating system and/or package manager are not supported.: ECR could not scan the image, so nothing vouches for it",
		"SCAN_ELIGIBILITY_EXPIRED": "is SCAN_ELIGIBILITY_EXPIRED: The scan duration for this image has expired.: enhanced scanning stopped re-scanning the image",
		"FINDINGS_UNAVAILABLE":     "is FINDINGS_UNAVAILABLE: No findings are available for this image.: Amazon Inspector has no findings to report",
		"UNSUPPORTED_IMAGE":        "is UNSUPPORTED_IMAGE: ECR does not scan this image's operating system",
		"LIMIT_EXCEEDED":           "the account's image scan limit was reached",
		"SOMETHING_NEW":            "is SOMETHING_NEW: this gate does not know that status",
	}
	for status, want := range cases {
		s.ScriptImageScan(repo, digest, fakeaws.ImageScan{Status: status, Findings: findings(1, "CRITICAL")})
		_, err := Reader{Client: client}.Read(context.Background(), img)
		var se *ScanError
		if !errors.As(err, &se) || se.Status != status || se.Pending() || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v\nwant %q", status, err, want)
		}
	}
}

func TestNoScanAndNoAccess(t *testing.T) {
	s, client := fakeECR(t)
	_, err := Reader{Client: client}.Read(context.Background(), img)
	var se *ScanError
	if !errors.As(err, &se) || se.Status != "NONE" || !strings.Contains(err.Error(), "aws ecr start-image-scan --repository-name acme/shop --image-id imageDigest="+digest) {
		t.Errorf("no scan: %v", err)
	}
	s.FailNext("DescribeImageScanFindings", fakeaws.APIError{Status: 400, Code: "AccessDeniedException", Message: "User is not authorized to perform: ecr:DescribeImageScanFindings"}, 1)
	if _, err := (Reader{Client: client}).Read(context.Background(), img); err == nil || !strings.Contains(err.Error(), "the role needs ecr:DescribeImageScanFindings") {
		t.Errorf("access denied: %v", err)
	}
	other := img
	other.Repository = "acme/none"
	if _, err := (Reader{Client: client}).Read(context.Background(), other); err == nil || !strings.Contains(err.Error(), "check the image reference") {
		t.Errorf("no repository: %v", err)
	}
}

// loopingAPI answers every page with the same nextToken, as a broken or hostile endpoint could.
type loopingAPI struct{ calls int }

func (l *loopingAPI) DescribeImageScanFindings(context.Context, *ecr.DescribeImageScanFindingsInput, ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	l.calls++
	out, _ := decodeScanPage([]byte(`{"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{"findings":[{"name":"CVE-2026-1","severity":"LOW"}]},"nextToken":"again"}`))
	return out, nil
}

func TestEndlessPagesAreRefused(t *testing.T) {
	api := &loopingAPI{}
	_, err := Reader{Client: api}.Read(context.Background(), img)
	if err == nil || !strings.Contains(err.Error(), "refusing to judge a partial list") || api.calls != 2 {
		t.Errorf("err %v after %d calls", err, api.calls)
	}
}

func TestParseImage(t *testing.T) {
	ecrRef := "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/shop:abc123@" + digest
	got, err := ParseImage(ecrRef, "")
	if err != nil || got != img {
		t.Errorf("ECR ref: %+v, %v", got, err)
	}
	if got, err := ParseImage("127.0.0.1:5000/acme/shop@"+digest, "acme/shop"); err != nil || got != (Image{Repository: repo, Digest: digest}) {
		t.Errorf("proxy host with --repository: %+v, %v", got, err)
	}
	var ne *NotECRError
	if _, err := ParseImage("ghcr.io/acme/shop:v1@"+digest, ""); !errors.As(err, &ne) || !strings.Contains(err.Error(), "scan results come from ECR only") {
		t.Errorf("not ECR: %v", err)
	}
	if _, err := ParseImage("123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/shop:v1", ""); err == nil || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Errorf("tag only: %v", err)
	}
}
