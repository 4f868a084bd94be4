// ECR image scan findings (DescribeImageScanFindings, awsJson1.1), scripted per image: a test sets the
// sequence of states a scan goes through (IN_PROGRESS then COMPLETE, ACTIVE for enhanced scanning,
// FAILED...) and the findings, and the fake answers page by page with nextToken, in ECR's own JSON shape
// (basic "findings" or enhanced "enhancedFindings"). It guards against a gate tested only on hand-built SDK
// structs: the requests are signed and checked, and the SDK decodes real wire JSON.
package fakeaws

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func init() {
	register("ecr", "DescribeImageScanFindings", describeImageScanFindings)
}

// ImageScan is one state of an image's scan, as DescribeImageScanFindings reports it.
type ImageScan struct {
	Status      string // COMPLETE, ACTIVE, IN_PROGRESS, PENDING, FAILED, ...
	Description string // imageScanStatus.description; a default is derived from Status when empty
	// Enhanced answers with enhancedFindings (Amazon Inspector) instead of basic findings.
	Enhanced    bool
	Findings    []ScanFinding
	CompletedAt time.Time // zero: the fake's clock
}

// ScanFinding is one vulnerability, rendered as a basic or an enhanced finding.
type ScanFinding struct {
	ID       string // CVE-2024-1234
	Severity string // CRITICAL, HIGH, ..., UNDEFINED (UNTRIAGED for enhanced)
	Package  string
	Version  string
	FixedIn  string // enhanced: vulnerablePackages[].fixedInVersion
	// FixAvailable is enhanced scanning's fixAvailable: YES, NO or PARTIAL ("" leaves it out).
	FixAvailable string
	// Status is enhanced scanning's finding status (ACTIVE when empty; SUPPRESSED, CLOSED).
	Status string
}

type scanScript struct {
	states []ImageScan
	calls  int // first-page calls so far: which state answers next
}

// ScriptImageScan sets the states DescribeImageScanFindings goes through for repository@digest: each call
// without nextToken moves to the next state, and the last state stays. Pages of one listing stay on the
// state their first page showed, as a token names it.
func (s *Server) ScriptImageScan(repository, digest string, states ...ImageScan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	scripts, _ := s.Bucket("scans")["scripts"].(map[string]*scanScript)
	if scripts == nil {
		scripts = map[string]*scanScript{}
		s.Bucket("scans")["scripts"] = scripts
	}
	scripts[repository+"@"+digest] = &scanScript{states: states}
}

// SetScanPageSize caps the findings per page below maxResults, to exercise pagination (0: 100, ECR's default).
func (s *Server) SetScanPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Bucket("scans")["pageSize"] = n
}

var scanDescriptions = map[string]string{
	"COMPLETE":                 "The scan was completed successfully.",
	"ACTIVE":                   "Continuous scan is selected. The repository is being monitored for new findings.",
	"IN_PROGRESS":              "The scan is in progress.",
	"PENDING":                  "The image is queued for scanning.",
	"FAILED":                   "UnsupportedImageError: The operating system and/or package manager are not supported.",
	"SCAN_ELIGIBILITY_EXPIRED": "The scan duration for this image has expired.",
	"FINDINGS_UNAVAILABLE":     "No findings are available for this image.",
}

func describeImageScanFindings(s *Server, c *Call) (any, error) {
	var in struct {
		RepositoryName string `json:"repositoryName"`
		RegistryID     string `json:"registryId"`
		ImageID        struct {
			ImageDigest string `json:"imageDigest"`
			ImageTag    string `json:"imageTag"`
		} `json:"imageId"`
		MaxResults int    `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if in.RegistryID != "" && in.RegistryID != s.Account {
		return nil, apiErr(400, "RepositoryNotFoundException",
			"The repository with name '%s' does not exist in the registry with id '%s'", in.RepositoryName, in.RegistryID)
	}
	if _, ok := s.state.repositories[in.RepositoryName]; !ok {
		return nil, apiErr(400, "RepositoryNotFoundException",
			"The repository with name '%s' does not exist in the registry with id '%s'", in.RepositoryName, s.Account)
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, ValidationError("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000", in.MaxResults)
	}
	scripts, _ := s.state.buckets["scans"]["scripts"].(map[string]*scanScript)
	sc := scripts[in.RepositoryName+"@"+in.ImageID.ImageDigest]
	if in.ImageID.ImageDigest == "" || sc == nil || len(sc.states) == 0 {
		return nil, apiErr(400, "ScanNotFoundException",
			"Image scan does not exist for the image with '{imageDigest:'%s', imageTag:'%s'}' in the repository with name '%s' in the registry with id '%s'",
			in.ImageID.ImageDigest, in.ImageID.ImageTag, in.RepositoryName, s.Account)
	}
	state, offset, err := sc.page(in.NextToken)
	if err != nil {
		return nil, err
	}
	return s.scanPage(in.RepositoryName, in.ImageID.ImageDigest, state, offset, s.pageSize(in.MaxResults)), nil
}

// page picks the state and offset: the next state for a first page, the token's for the others.
func (sc *scanScript) page(token string) (int, int, error) {
	if token == "" {
		i := min(sc.calls, len(sc.states)-1)
		sc.calls++
		return i, 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	st, off, ok := strings.Cut(string(raw), ":")
	i, err1 := strconv.Atoi(st)
	o, err2 := strconv.Atoi(off)
	if err != nil || !ok || err1 != nil || err2 != nil || i < 0 || i >= len(sc.states) || o <= 0 {
		return 0, 0, apiErr(400, "InvalidParameterException", "Invalid parameter at 'nextToken' failed to satisfy constraint: 'The token is invalid'")
	}
	return i, o, nil
}

func (s *Server) pageSize(maxResults int) int {
	n, _ := s.state.buckets["scans"]["pageSize"].(int)
	if n <= 0 {
		n = 100
	}
	if maxResults > 0 && maxResults < n {
		n = maxResults
	}
	return n
}

func (s *Server) scanPage(repo, digest string, idx, offset, size int) map[string]any {
	scripts := s.state.buckets["scans"]["scripts"].(map[string]*scanScript)
	st := scripts[repo+"@"+digest].states[idx]
	desc := st.Description
	if desc == "" {
		desc = scanDescriptions[st.Status]
	}
	out := map[string]any{"registryId": s.Account, "repositoryName": repo, "imageId": map[string]any{"imageDigest": digest},
		"imageScanStatus": map[string]any{"status": st.Status, "description": desc}}
	if st.Status != "COMPLETE" && st.Status != "ACTIVE" {
		return out // no findings object until findings exist
	}
	offset = min(offset, len(st.Findings))
	end := min(offset+size, len(st.Findings))
	if end < len(st.Findings) {
		out["nextToken"] = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d", idx, end))
	}
	completed := st.CompletedAt
	if completed.IsZero() {
		completed = s.now()
	}
	findings := map[string]any{"imageScanCompletedAt": completed.Unix(), "vulnerabilitySourceUpdatedAt": completed.Add(-time.Hour).Unix(),
		"findingSeverityCounts": severityCounts(st.Findings)}
	var page []any
	for _, f := range st.Findings[offset:end] {
		if st.Enhanced {
			page = append(page, s.enhancedFinding(repo, digest, f))
		} else {
			page = append(page, basicFinding(f))
		}
	}
	key := "findings"
	if st.Enhanced {
		key = "enhancedFindings"
	}
	if page == nil {
		page = []any{}
	}
	findings[key] = page
	out["imageScanFindings"] = findings
	return out
}

func severityCounts(fs []ScanFinding) map[string]int {
	counts := map[string]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	return counts
}

func basicFinding(f ScanFinding) map[string]any {
	return map[string]any{"name": f.ID, "severity": f.Severity,
		"uri":         "https://security-tracker.debian.org/tracker/" + f.ID,
		"description": f.ID + " in " + f.Package,
		"attributes": []map[string]string{{"key": "package_version", "value": f.Version}, {"key": "package_name", "value": f.Package},
			{"key": "CVSS2_VECTOR", "value": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}, {"key": "CVSS2_SCORE", "value": "7.5"}}}
}

func (s *Server) enhancedFinding(repo, digest string, f ScanFinding) map[string]any {
	status := f.Status
	if status == "" {
		status = "ACTIVE"
	}
	pkg := map[string]any{"name": f.Package, "version": f.Version, "packageManager": "OS", "arch": "X86_64"}
	if f.FixedIn != "" {
		pkg["fixedInVersion"] = f.FixedIn
	}
	out := map[string]any{"awsAccountId": s.Account, "severity": f.Severity, "status": status, "type": "PACKAGE_VULNERABILITY",
		"title": f.ID + " - " + f.Package, "description": f.ID + " in " + f.Package, "score": 7.5,
		"findingArn":      fmt.Sprintf("arn:aws:inspector2:%s:%s:finding/%x", s.Region, s.Account, len(f.ID)+len(f.Package)),
		"firstObservedAt": s.now().Add(-time.Hour).Unix(), "lastObservedAt": s.now().Unix(), "updatedAt": s.now().Unix(),
		"packageVulnerabilityDetails": map[string]any{"vulnerabilityId": f.ID, "source": "NVD", "vendorSeverity": f.Severity,
			"sourceUrl": "https://nvd.nist.gov/vuln/detail/" + f.ID, "vulnerablePackages": []any{pkg}},
		"resources": []any{map[string]any{"type": "AWS_ECR_CONTAINER_IMAGE", "id": fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s/%s", s.Region, s.Account, repo, digest)}}}
	if f.FixAvailable != "" {
		out["fixAvailable"] = f.FixAvailable
	}
	return out
}
