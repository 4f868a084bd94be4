// Reading an image's ECR scan results (DescribeImageScanFindings), basic and enhanced (Amazon Inspector),
// every page. It does not use the SDK's ImageScanComplete waiter, which knows only COMPLETE and FAILED:
// enhanced scanning reports ACTIVE (continuous scanning, findings valid) and other states the waiter would
// wait on or misreport. Each status that yields no usable findings is an error saying what it means and what
// to do, so the gate never passes an image because its scan said nothing.
package vulns

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// API is the one ECR call the gate makes; *ecr.Client implements it.
type API interface {
	DescribeImageScanFindings(ctx context.Context, in *ecr.DescribeImageScanFindingsInput, opts ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error)
}

// Image is an image in ECR, by digest: scan results belong to a digest, never to a tag.
type Image struct {
	RegistryID string // the account; empty: the caller's
	Repository string
	Digest     string
}

func (i Image) String() string { return i.Repository + "@" + i.Digest }

var (
	ecrHostRe = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$`)
	digestRe  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// NotECRError is an image outside Amazon ECR: ECR has no scan of it.
type NotECRError struct{ Ref string }

func (e *NotECRError) Error() string {
	return fmt.Sprintf("image %s is not in Amazon ECR, and scan results come from ECR only: deploy an image from the ECR repository (publish puts it there), or pass --repository with the ECR repository's name when the registry host is a proxy of it", e.Ref)
}

// ParseImage finds the ECR repository and digest of a reference host/repository[:tag]@sha256:... .
// repository, when set, names the ECR repository for a host that is not ECR's own (a pull-through or test
// endpoint); the registry is then the caller's.
func ParseImage(ref, repository string) (Image, error) {
	name, digest, ok := strings.Cut(ref, "@")
	if !ok || !digestRe.MatchString(digest) {
		return Image{}, fmt.Errorf("image %q is not pinned by digest (…@sha256:<64 hex>): scan results belong to a digest", ref)
	}
	host, path, ok := strings.Cut(name, "/")
	if i := strings.LastIndex(path, ":"); i > strings.LastIndex(path, "/") {
		path = path[:i] // the tag
	}
	if m := ecrHostRe.FindStringSubmatch(host); ok && m != nil && path != "" {
		return Image{RegistryID: m[1], Repository: path, Digest: digest}, nil
	}
	if repository != "" {
		return Image{Repository: repository, Digest: digest}, nil
	}
	return Image{}, &NotECRError{Ref: ref}
}

// FixState is whether a fixed version exists, as enhanced scanning reports it; basic scanning does not say.
type FixState string

// Fix states; FixUnknown is basic scanning's (no fix information at all).
const (
	FixUnknown FixState = ""
	FixYes     FixState = "YES"
	FixNo      FixState = "NO"
	FixPartial FixState = "PARTIAL"
)

// Finding is one vulnerability in the image.
type Finding struct {
	ID          string // CVE-2024-12345 (basic: the finding's name; enhanced: vulnerabilityId, else its title)
	Severity    Severity
	RawSeverity string // as reported (UNTRIAGED stays visible)
	Package     string // name and version, when reported
	FixedIn     string
	Fix         FixState
	URI         string
}

// Scan is what ECR reports for an image.
type Scan struct {
	Image           Image
	Status          string
	Description     string
	Enhanced        bool
	Findings        []Finding
	Counts          map[string]int32 // findingSeverityCounts, as reported
	CompletedAt     time.Time
	SourceUpdatedAt time.Time
	// Inactive counts enhanced findings Inspector marked SUPPRESSED or CLOSED: not vulnerabilities of the
	// image now, left out of Findings and shown in the report.
	Inactive int
}

// ScanError is a scan that yields no findings to judge, with its status and what to do.
type ScanError struct {
	Image       Image
	Status      string // the scan status, or NONE when ECR has no scan
	Description string
	Fix         string
}

func (e *ScanError) Error() string {
	d := ""
	if e.Description != "" {
		d = ": " + e.Description
	}
	return fmt.Sprintf("ECR scan of %s is %s%s: %s", e.Image, e.Status, d, e.Fix)
}

// Pending reports whether the scan may still complete (PENDING or IN_PROGRESS).
func (e *ScanError) Pending() bool { return e.Status == "PENDING" || e.Status == "IN_PROGRESS" }

// Reader reads scan results, waiting a bounded time for a scan in progress.
type Reader struct {
	Client API
	// Wait bounds how long a PENDING or IN_PROGRESS scan is waited for (0: read once).
	Wait time.Duration
	// Interval between polls (default 10s); Sleep waits (default: a timer that honours ctx).
	Interval time.Duration
	Sleep    func(ctx context.Context, d time.Duration) error
	// MaxPages bounds one listing (default 200, i.e. 200,000 findings at 1,000 a page).
	MaxPages int
}

// Read returns the image's findings once the scan has them (COMPLETE, or ACTIVE for enhanced scanning), or a
// *ScanError saying why there are none.
func (r Reader) Read(ctx context.Context, img Image) (Scan, error) {
	waited := time.Duration(0)
	for {
		scan, err := r.readOnce(ctx, img)
		if err != nil {
			return scan, err
		}
		switch scan.Status {
		case string(types.ScanStatusComplete), string(types.ScanStatusActive):
			return scan, nil
		case string(types.ScanStatusPending), string(types.ScanStatusInProgress):
			if waited >= r.Wait {
				return scan, notReady(scan, r.Wait)
			}
			d := min(r.interval(), r.Wait-waited)
			if err := r.sleep(ctx, d); err != nil {
				return scan, fmt.Errorf("waiting for the ECR scan of %s: %w", img, err)
			}
			waited += d
		default:
			return scan, statusError(scan)
		}
	}
}

func (r Reader) interval() time.Duration {
	if r.Interval <= 0 {
		return 10 * time.Second
	}
	return r.Interval
}

func (r Reader) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readOnce reads every page of one listing; only a scan with findings has more than one page.
func (r Reader) readOnce(ctx context.Context, img Image) (Scan, error) {
	scan := Scan{Image: img, Counts: map[string]int32{}}
	in := &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(img.Repository),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(img.Digest)}, MaxResults: aws.Int32(1000)}
	if img.RegistryID != "" {
		in.RegistryId = aws.String(img.RegistryID)
	}
	maxPages, seen := r.MaxPages, map[string]bool{}
	if maxPages <= 0 {
		maxPages = 200
	}
	for page := 1; ; page++ {
		out, err := r.Client.DescribeImageScanFindings(ctx, in)
		if err != nil {
			return scan, apiError(img, err)
		}
		if page == 1 {
			scan.Status, scan.Description = statusOf(out.ImageScanStatus)
		}
		if scan.Status != string(types.ScanStatusComplete) && scan.Status != string(types.ScanStatusActive) {
			return scan, nil
		}
		scan.add(out.ImageScanFindings)
		next := aws.ToString(out.NextToken)
		switch {
		case next == "":
			return scan, nil
		case seen[next] || page >= maxPages:
			return scan, fmt.Errorf("ECR scan findings of %s did not end after %d pages (a repeated or endless nextToken): refusing to judge a partial list", img, page)
		}
		seen[next] = true
		in.NextToken = aws.String(next)
	}
}

func statusOf(s *types.ImageScanStatus) (string, string) {
	if s == nil {
		return "", ""
	}
	return string(s.Status), aws.ToString(s.Description)
}

// add appends one page's findings (basic and enhanced) and its counts and times.
func (s *Scan) add(f *types.ImageScanFindings) {
	if f == nil {
		return
	}
	for k, v := range f.FindingSeverityCounts {
		s.Counts[k] = v // the same on every page
	}
	if f.ImageScanCompletedAt != nil {
		s.CompletedAt = *f.ImageScanCompletedAt
	}
	if f.VulnerabilitySourceUpdatedAt != nil {
		s.SourceUpdatedAt = *f.VulnerabilitySourceUpdatedAt
	}
	for _, b := range f.Findings {
		s.Findings = append(s.Findings, basicFinding(b))
	}
	for _, e := range f.EnhancedFindings {
		s.Enhanced = true
		if st := strings.ToUpper(aws.ToString(e.Status)); st == "SUPPRESSED" || st == "CLOSED" {
			s.Inactive++
			continue
		}
		s.Findings = append(s.Findings, enhancedFinding(e))
	}
	if s.Status == string(types.ScanStatusActive) {
		s.Enhanced = true // ACTIVE is enhanced (continuous) scanning's status only
	}
}

func basicFinding(b types.ImageScanFinding) Finding {
	f := Finding{ID: aws.ToString(b.Name), RawSeverity: string(b.Severity), Severity: severityOf(string(b.Severity)), URI: aws.ToString(b.Uri)}
	var name, version string
	for _, a := range b.Attributes {
		switch aws.ToString(a.Key) {
		case "package_name":
			name = aws.ToString(a.Value)
		case "package_version":
			version = aws.ToString(a.Value)
		}
	}
	f.Package = strings.TrimSpace(name + " " + version)
	return f
}

func enhancedFinding(e types.EnhancedImageScanFinding) Finding {
	f := Finding{ID: aws.ToString(e.Title), RawSeverity: aws.ToString(e.Severity), Severity: severityOf(aws.ToString(e.Severity)),
		Fix: FixState(strings.ToUpper(aws.ToString(e.FixAvailable)))}
	if d := e.PackageVulnerabilityDetails; d != nil {
		if id := aws.ToString(d.VulnerabilityId); id != "" {
			f.ID = id
		}
		f.URI = aws.ToString(d.SourceUrl)
		if len(d.VulnerablePackages) > 0 {
			p := d.VulnerablePackages[0]
			f.Package = strings.TrimSpace(aws.ToString(p.Name) + " " + aws.ToString(p.Version))
			f.FixedIn = aws.ToString(p.FixedInVersion)
		}
	}
	switch f.Fix {
	case FixYes, FixNo, FixPartial:
	default:
		f.Fix = FixUnknown
	}
	return f
}

// apiError turns ECR's refusals into what to do.
func apiError(img Image, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("read the ECR scan findings of %s: %w", img, err)
	}
	switch ae.ErrorCode() {
	case "ScanNotFoundException":
		return &ScanError{Image: img, Status: "NONE", Description: ae.ErrorMessage(),
			Fix: fmt.Sprintf("ECR has no scan of this image: turn on scan on push for the repository (bootstrap and --create-repository do) and publish again, or start one: aws ecr start-image-scan --repository-name %s --image-id imageDigest=%s", img.Repository, img.Digest)}
	case "RepositoryNotFoundException", "ImageNotFoundException":
		return fmt.Errorf("read the ECR scan findings of %s: %s: check the image reference and the region", img, ae.ErrorMessage())
	case "AccessDeniedException", "AccessDenied":
		return fmt.Errorf("read the ECR scan findings of %s: %s: the role needs ecr:DescribeImageScanFindings on the repository (bootstrap grants it to the build and environment roles: run bootstrap again if they predate it)", img, ae.ErrorMessage())
	}
	return fmt.Errorf("read the ECR scan findings of %s: %w", img, err)
}

func notReady(s Scan, waited time.Duration) error {
	fix := "the scan has not finished: retry when it has (aws ecr describe-image-scan-findings shows its status)"
	if waited > 0 {
		fix = fmt.Sprintf("still not finished after waiting %s: retry when it has (aws ecr describe-image-scan-findings shows its status)", waited)
	}
	return &ScanError{Image: s.Image, Status: s.Status, Description: s.Description, Fix: fix}
}

// statusFixes says, for each status without findings, what it means and what to do.
var statusFixes = map[string]string{
	string(types.ScanStatusFailed): "ECR could not scan the image, so nothing vouches for it: fix what the description says " +
		"(e.g. an unsupported base image) and publish again",
	string(types.ScanStatusUnsupportedImage): "ECR does not scan this image's operating system or package manager: " +
		"use a supported base image (Debian, Ubuntu, Alpine, Amazon Linux...)",
	string(types.ScanStatusScanEligibilityExpired): "enhanced scanning stopped re-scanning the image when its re-scan duration " +
		"(Amazon Inspector's ECR setting) ended, so its findings are not current: lengthen the re-scan duration, or publish a new revision",
	string(types.ScanStatusFindingsUnavailable): "Amazon Inspector has no findings to report for this image (not in its coverage, " +
		"or closed when the image left the re-scan window): check the image in Inspector's coverage, or publish a new revision",
	string(types.ScanStatusLimitExceeded): "the account's image scan limit was reached: retry later",
	string(types.ScanStatusImageArchived): "ECR does not scan archived images: restore the image first",
}

func statusError(s Scan) error {
	fix, ok := statusFixes[s.Status]
	if !ok {
		fix = "this gate does not know that status, so it cannot vouch for the image"
	}
	status := s.Status
	if status == "" {
		status = "missing from ECR's answer"
	}
	return &ScanError{Image: s.Image, Status: status, Description: s.Description, Fix: fix}
}
