// Wire protocols of the faked services: request parsing, result encoding and
// the exact error shape each protocol uses, so the SDK's own deserializers
// (and its retryer's error classification) see what real AWS sends.
package fakeaws

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

type protocol int

const (
	awsQuery protocol = iota
	awsJSON11
	restJSON1
)

var serviceProtocol = map[string]protocol{
	"sts": awsQuery, "iam": awsQuery, "ecr": awsJSON11, "eks": restJSON1,
}

var queryNamespace = map[string]string{
	"sts": "https://sts.amazonaws.com/doc/2011-06-15/",
	"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
}

// APIError is an AWS service error; it is written in the protocol's shape.
type APIError struct {
	Code    string
	Message string
	Status  int // default 400
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErr(status int, code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// Common errors, for handlers in any file.
func ValidationError(format string, args ...any) *APIError {
	return apiErr(400, "ValidationError", format, args...)
}
func AccessDenied(format string, args ...any) *APIError {
	return apiErr(403, "AccessDenied", format, args...)
}
func NoSuchEntity(format string, args ...any) *APIError {
	return apiErr(404, "NoSuchEntity", format, args...)
}
func EntityAlreadyExists(format string, args ...any) *APIError {
	return apiErr(409, "EntityAlreadyExists", format, args...)
}

// Call is one parsed request handed to an operation handler.
type Call struct {
	Service, Operation string
	Form               url.Values        // awsquery parameters (body + URL query)
	PathParams         map[string]string // restJson1 path labels, unescaped
	Query              url.Values        // URL query
	Body               map[string]any    // JSON body
	RawBody            []byte
	Header             http.Header
	Caller             *Principal // nil for unsigned requests
}

// Param returns an awsquery parameter.
func (c *Call) Param(name string) string { return c.Form.Get(name) }

// Path returns a restJson1 path label.
func (c *Call) Path(name string) string { return c.PathParams[name] }

// Str returns a top-level string field of a JSON body.
func (c *Call) Str(name string) string {
	v, _ := c.Body[name].(string)
	return v
}

// Decode unmarshals the JSON body into v.
func (c *Call) Decode(v any) error {
	if len(c.RawBody) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.RawBody, v); err != nil {
		return apiErr(400, "SerializationException", "malformed JSON body: %v", err)
	}
	return nil
}

// Members collects an awsquery list (`Prefix.member.N`) in order.
func (c *Call) Members(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := c.Form[fmt.Sprintf("%s.member.%d", prefix, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func (s *Server) writeResult(w http.ResponseWriter, p protocol, service, op string, result any) {
	rid := s.requestID()
	switch p {
	case awsQuery:
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("x-amzn-RequestId", rid)
		var b strings.Builder
		fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, op, queryNamespace[service])
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: op + "Result"}}); err != nil {
			s.writeError(w, p, apiErr(500, "InternalFailure", "fakeaws: encode %s: %v", op, err))
			return
		}
		fmt.Fprintf(&b, `<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, rid, op)
		_, _ = w.Write([]byte(b.String()))
	default:
		ct := "application/json"
		if p == awsJSON11 {
			ct = "application/x-amz-json-1.1"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("x-amzn-RequestId", rid)
		body, err := json.Marshal(result)
		if err != nil {
			s.writeError(w, p, apiErr(500, "InternalFailure", "fakeaws: encode %s: %v", op, err))
			return
		}
		_, _ = w.Write(body)
	}
}

func (s *Server) writeError(w http.ResponseWriter, p protocol, e *APIError) {
	status := e.Status
	if status == 0 {
		status = 400
	}
	rid := s.requestID()
	w.Header().Set("x-amzn-RequestId", rid)
	switch p {
	case awsQuery:
		kind := "Sender"
		if status >= 500 {
			kind = "Receiver"
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		var b strings.Builder
		b.WriteString(`<ErrorResponse><Error><Type>` + kind + `</Type><Code>`)
		_ = xml.EscapeText(&b, []byte(e.Code))
		b.WriteString(`</Code><Message>`)
		_ = xml.EscapeText(&b, []byte(e.Message))
		b.WriteString(`</Message></Error><RequestId>` + rid + `</RequestId></ErrorResponse>`)
		_, _ = w.Write([]byte(b.String()))
	case awsJSON11:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		body, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
		_, _ = w.Write(body)
	case restJSON1:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", e.Code)
		w.WriteHeader(status)
		body, _ := json.Marshal(map[string]string{"message": e.Message})
		_, _ = w.Write(body)
	}
}
