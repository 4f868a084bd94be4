// Fuzz targets for the untrusted inputs the gate parses: the allowlist file (a user's YAML or JSON) and ECR's
// scan answer (decoded by the SDK, then turned into findings and judged here). `go test` runs the seeds only.
package vulns

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// bodyClient answers every request with one awsJson1.1 body, in process: no network.
type bodyClient []byte

func (b bodyClient) Do(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body: io.NopCloser(bytes.NewReader(b)), Request: r}, nil
}

// decodeScanPage runs a DescribeImageScanFindings answer through the SDK's own deserializer.
func decodeScanPage(body []byte) (*ecr.DescribeImageScanFindingsOutput, error) {
	client := ecr.New(ecr.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, HTTPClient: bodyClient(body),
		BaseEndpoint: aws.String("https://ecr.invalid"), RetryMaxAttempts: 1})
	return client.DescribeImageScanFindings(context.Background(), &ecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String(repo), ImageId: &types.ImageIdentifier{ImageDigest: aws.String(digest)}})
}

// pageAPI answers every call with the same page.
type pageAPI struct{ body []byte }

func (p pageAPI) DescribeImageScanFindings(ctx context.Context, in *ecr.DescribeImageScanFindingsInput, _ ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	return decodeScanPage(p.body)
}

func FuzzScanAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{"findings":[{"name":"CVE-2026-1","severity":"CRITICAL","attributes":[{"key":"package_name","value":"openssl"}]}],"findingSeverityCounts":{"CRITICAL":1}}}`,
		`{"imageScanStatus":{"status":"ACTIVE"},"imageScanFindings":{"enhancedFindings":[{"severity":"HIGH","fixAvailable":"NO","status":"ACTIVE","packageVulnerabilityDetails":{"vulnerabilityId":"CVE-2026-2","vulnerablePackages":[{"name":"zlib","version":"1"}]}}]}}`,
		`{"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{"findings":[]},"nextToken":"x"}`,
		`{"imageScanStatus":{"status":"FAILED","description":"boom"}}`,
		`{"imageScanStatus":{"status":"IN_PROGRESS"}}`,
		`{}`, `null`, `{"imageScanFindings":{"enhancedFindings":[{"severity":null,"packageVulnerabilityDetails":{}}]}}`,
	} {
		f.Add([]byte(seed), "HIGH", true)
	}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, threshold string, ignoreUnfixed bool) {
		th, err := ParseThreshold(threshold)
		if err != nil {
			th = Critical
		}
		v, err := Check(context.Background(), Reader{Client: pageAPI{body}, MaxPages: 3}, img, Policy{Threshold: th, IgnoreUnfixed: ignoreUnfixed}, now)
		if err == nil {
			if v.Scan.Status != "COMPLETE" && v.Scan.Status != "ACTIVE" {
				t.Fatalf("passed a scan with status %q", v.Scan.Status)
			}
			for _, f := range v.Scan.Findings {
				if f.Severity.Reaches(th) && !(ignoreUnfixed && f.Fix == FixNo) {
					t.Fatalf("passed with %+v at threshold %s", f, th)
				}
			}
		}
		_ = v.Report() // renders whatever was read without panicking
	})
}

func FuzzAllowlist(f *testing.F) {
	for _, seed := range []string{
		"vulnerabilities:\n  - id: CVE-2024-12345\n    reason: not reachable\n    expires: 2027-01-31\n",
		`{"vulnerabilities":[{"id":"GHSA-abcd-efgh-ijkl","reason":"r","expires":"2026-12-31"}]}`,
		"vulnerabilities:\n  - id: CVE-1\n", "vulnerabilities: 3", "{", "", "vulnerabilities:\n  - {id: x, reason: y, expires: 2026-13-45, extra: 1}\n",
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAllowlist("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, e := range a.Entries {
			if e.ID == "" || e.Reason == "" || e.Expires.IsZero() {
				t.Fatalf("accepted an incomplete entry %+v", e)
			}
		}
		if err := a.Expired(now); err != nil && !strings.Contains(err.Error(), "expired on") {
			t.Fatalf("expired error does not name the entries: %v", err)
		}
	})
}
