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
	"k8s.io/client-go/kubernetes/scheme"
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

// Finding is one problem in one object.
type Finding struct {
	Object  string // e.g. "Deployment fastapi-prod/fastapi-app"
	Field   string // e.g. "spec.template.spec.containers[app].image"
	Message string
}

func (f Finding) String() string {
	if f.Field == "" {
		return f.Object + ": " + f.Message
	}
	return f.Object + ": " + f.Field + ": " + f.Message
}

// strictDecoder rejects unknown and duplicate fields; built once, it is
// safe for concurrent use.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// Manifests checks every object in a multi-document YAML stream. It returns
// an error only when the input cannot be read as YAML; every problem with
// the objects themselves is a Finding in the Report.
func Manifests(rendered []byte, opts Options) (*Report, error) {
	r := &Report{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for doc := 1; ; doc++ {
		data, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return r, nil
		}
		if err != nil {
			return nil, fmt.Errorf("validate: reading YAML document %d: %w", doc, err)
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("validate: YAML document %d is not valid YAML: %w", doc, err)
		}
		checkDocument(r, doc, data, js, opts)
	}
}

// checkDocument decodes one document strictly and runs the object checks.
func checkDocument(r *Report, doc int, data, js []byte, opts Options) {
	js = bytes.TrimSpace(js)
	if bytes.Equal(js, []byte("null")) || len(js) == 0 {
		return // an empty document, e.g. a trailing "---"
	}
	name, ok := objectName(doc, js)
	r.Objects = append(r.Objects, name)
	add := func(field, msg string) {
		r.Findings = append(r.Findings, Finding{Object: name, Field: field, Message: msg})
	}
	if !ok {
		add("", "not a Kubernetes object (a YAML mapping with apiVersion, kind and metadata)")
		return
	}
	if _, err := yaml.YAMLToJSONStrict(data); err != nil {
		add("", "duplicate key: "+strings.TrimPrefix(err.Error(), "error converting YAML to JSON: yaml: "))
	}
	obj, gvk, err := strictDecoder.Decode(js, nil, nil)
	if err != nil {
		if !decodeFindings(err, add) {
			return
		}
	}
	if gvk != nil && obj != nil {
		checkObject(obj, add, opts)
	}
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
		add("kind", "not a known built-in Kubernetes type for this apiVersion (custom resources are not accepted here)")
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
