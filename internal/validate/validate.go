// Package validate checks rendered manifests before anything reaches a
// cluster. It guards against what kubectl apply would accept or only reject
// half-way through: misspelt fields silently dropped, the logical image
// placeholder or :latest shipped, and workloads without probes, resource
// bounds or the hardened security context.
package validate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Options tunes the checks.
type Options struct {
	// RequireDigest demands every container image be pinned by @sha256:.
	RequireDigest bool
	// ImageName is the logical image name render replaces (render.Options
	// ImageName); an image still so named was never replaced. Empty skips
	// that check: render itself refuses a name no container uses.
	ImageName string
}

// Severity says whether a finding fails validation.
type Severity int

const (
	// Failure fails Report.Err; it is the zero value, so a check fails
	// unless it says otherwise.
	Failure Severity = iota
	// Warning is printed but does not fail: the manifests work, but a
	// promise ship makes (such as a rollback) cannot be kept.
	Warning
	// Info is printed but does not fail: how ship treats the object.
	Info
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Info:
		return "info"
	}
	return "failure"
}

// Finding is one problem, or one note, about one object.
type Finding struct {
	Object   string // e.g. "Deployment fastapi-prod/fastapi-app"
	Field    string // e.g. "spec.template.spec.containers[app].image"
	Message  string
	Severity Severity // Failure unless set
}

// String is "object: [severity: ]field: message", the severity named only
// when the finding does not fail.
func (f Finding) String() string {
	return f.Object + ": " + f.detail()
}

// detail is the finding without its object, as the report lists it.
func (f Finding) detail() string {
	s := f.Message
	if f.Field != "" {
		s = f.Field + ": " + s
	}
	if f.Severity != Failure {
		s = f.Severity.String() + ": " + s
	}
	return s
}

// strictDecoder rejects unknown and duplicate fields; built once, it is
// safe for concurrent use.
var strictDecoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// Manifests checks every object in a multi-document YAML stream. It returns
// an error only when the input cannot be read as YAML; every problem with
// the objects themselves is a Finding in the Report.
func Manifests(rendered []byte, opts Options) (*Report, error) {
	r := &Report{}
	var objs []decoded
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for doc := 1; ; doc++ {
		data, err := reader.Read()
		if errors.Is(err, io.EOF) {
			checkSet(r, objs)
			return r, nil
		}
		if err != nil {
			return nil, fmt.Errorf("validate: reading YAML document %d: %w", doc, err)
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("validate: YAML document %d is not valid YAML: %w", doc, err)
		}
		if d, ok := checkDocument(r, doc, data, js, opts); ok {
			objs = append(objs, d)
		}
	}
}

// decoded is an object that decoded into its Kubernetes type, for the
// checks that look at several objects at once.
type decoded struct {
	name string // as findings name it
	obj  runtime.Object
}

// checkDocument decodes one document strictly and runs the object checks,
// returning the decoded object when there is one.
func checkDocument(r *Report, doc int, data, js []byte, opts Options) (decoded, bool) {
	js = bytes.TrimSpace(js)
	if bytes.Equal(js, []byte("null")) || len(js) == 0 {
		return decoded{}, false // an empty document, e.g. a trailing "---"
	}
	name, ok := objectName(doc, js)
	r.Objects = append(r.Objects, name)
	add := func(field, msg string) {
		r.Findings = append(r.Findings, Finding{Object: name, Field: field, Message: msg})
	}
	if !ok {
		add("", "not a Kubernetes object (a YAML mapping with apiVersion, kind and metadata)")
		return decoded{}, false
	}
	if _, err := yaml.YAMLToJSONStrict(data); err != nil {
		add("", "duplicate key: "+strings.TrimPrefix(err.Error(), "error converting YAML to JSON: yaml: "))
	}
	obj, gvk, err := strictDecoder.Decode(js, nil, nil)
	if err != nil && !decodeFindings(err, add) {
		return decoded{}, false
	}
	if gvk == nil || obj == nil {
		return decoded{}, false
	}
	checkObject(obj, add, opts)
	return decoded{name: name, obj: obj}, true
}

// decodeFindings turns a decode error into findings; it reports whether an
// object was still decoded (strict errors leave a usable object).
func decodeFindings(err error, add func(field, msg string)) bool {
	if se, ok := runtime.AsStrictDecodingError(err); ok {
		for _, e := range se.Errors() {
			msg := e.Error()
			if field, found := quotedAfter(msg, "unknown field "); found {
				add(field, "unknown field: misspelt, or not part of this apiVersion")
			} else if field, found := quotedAfter(msg, "duplicate field "); found {
				add(field, "duplicate field")
			} else {
				add("", msg)
			}
		}
		return true
	}
	switch {
	case runtime.IsMissingKind(err):
		add("kind", "missing; every object needs apiVersion and kind")
	case runtime.IsMissingVersion(err):
		add("apiVersion", "missing; every object needs apiVersion and kind")
	case runtime.IsNotRegisteredError(err):
		add("kind", "not a known built-in Kubernetes type for this apiVersion (custom resources are not accepted here; the apiVersions accepted are "+acceptedVersions()+")")
	default:
		add("", "does not decode into its Kubernetes type: "+err.Error())
	}
	return false
}

// objectName names a document as "Kind namespace/name".
func objectName(doc int, js []byte) (string, bool) {
	var meta struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(js, &meta); err != nil {
		return fmt.Sprintf("document %d", doc), false
	}
	kind := meta.Kind
	if kind == "" {
		kind = "object"
	}
	name := meta.Metadata.Name
	if name == "" {
		name = fmt.Sprintf("<unnamed, document %d>", doc)
	}
	if meta.Metadata.Namespace != "" {
		name = meta.Metadata.Namespace + "/" + name
	}
	return kind + " " + name, true
}

// quotedAfter extracts the quoted string following prefix in msg.
func quotedAfter(msg, prefix string) (string, bool) {
	i := strings.Index(msg, prefix+`"`)
	if i < 0 {
		return "", false
	}
	rest := msg[i+len(prefix)+1:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}
