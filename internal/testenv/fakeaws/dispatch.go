// Request dispatch: authenticate, find the operation, inject planned failures,
// run the handler and record the call. Routing is by the SigV4 credential
// scope's service, exactly the information real AWS front ends have.
package fakeaws

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Handler implements one operation. Return an *APIError for service errors.
type Handler func(s *Server, c *Call) (any, error)

type route struct {
	method   string
	segments []string
	op       string
}

var (
	handlers = map[string]map[string]Handler{}
	routes   = map[string][]route{}
	// unsignedOps may be called without a signature, as with real STS.
	unsignedOps = map[string]bool{"AssumeRoleWithWebIdentity": true}
)

// register adds an operation handler for a service ("sts", "iam", "ecr", "eks").
func register(service, op string, h Handler) {
	if handlers[service] == nil {
		handlers[service] = map[string]Handler{}
	}
	handlers[service][op] = h
}

// registerRoute maps a restJson1 method and path pattern ("{label}" segments)
// to an operation name.
func registerRoute(service, method, pattern, op string) {
	routes[service] = append(routes[service], route{method, strings.Split(strings.Trim(pattern, "/"), "/"), op})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, awsQuery, apiErr(400, "InvalidRequest", "read body: %v", err))
		return
	}
	si, signed, sigErr := parseSignature(r)
	service := si.service
	if !signed {
		service = guessService(r)
	}
	proto, known := serviceProtocol[service]
	if !known {
		s.writeError(w, awsQuery, apiErr(400, "InvalidRequest", "fakeaws does not serve service %q", service))
		return
	}
	c := &Call{Service: service, Header: r.Header, RawBody: body, Query: r.URL.Query()}
	parseErr := parseCall(c, r, proto)

	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Request{Service: service, Operation: c.Operation, Signed: signed, Presigned: si.presigned,
		AccessKey: si.akid, Params: redactParams(c.Form), Path: c.PathParams, Body: c.Body}
	result, apiError := s.run(c, r, body, si, signed, sigErr, parseErr)
	if apiError != nil {
		rec.Status, rec.ErrorCode = apiError.Status, apiError.Code
		s.log = append(s.log, rec)
		s.writeError(w, proto, apiError)
		return
	}
	rec.Status = 200
	s.log = append(s.log, rec)
	s.writeResult(w, proto, service, c.Operation, result)
}

func (s *Server) run(c *Call, r *http.Request, body []byte, si sigInfo, signed bool, sigErr, parseErr *APIError) (any, *APIError) {
	if sigErr != nil {
		return nil, sigErr
	}
	if signed {
		p, e := s.verify(r, body, si)
		if e != nil {
			return nil, e
		}
		c.Caller = p
	} else if !unsignedOps[c.Operation] {
		return nil, apiErr(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	if parseErr != nil {
		return nil, parseErr
	}
	if queue := s.fails[c.Operation]; len(queue) > 0 {
		s.fails[c.Operation] = queue[1:]
		return nil, queue[0]
	}
	h := handlers[c.Service][c.Operation]
	if h == nil {
		return nil, apiErr(400, "InvalidAction", "fakeaws: %s operation %q is not implemented", c.Service, c.Operation)
	}
	result, err := h(s, c)
	if err != nil {
		if ae, ok := err.(*APIError); ok {
			return nil, ae
		}
		return nil, apiErr(500, "InternalFailure", "fakeaws: %v", err)
	}
	return result, nil
}

// guessService places an unsigned request; only STS web identity calls are
// legitimately unsigned, the rest are refused after routing.
func guessService(r *http.Request) string {
	switch {
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonEC2ContainerRegistry"):
		return "ecr"
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "TrentService"):
		return "kms"
	case strings.HasPrefix(r.URL.Path, "/clusters"):
		return "eks"
	default:
		return "sts"
	}
}

func parseCall(c *Call, r *http.Request, proto protocol) *APIError {
	switch proto {
	case awsQuery:
		form, err := url.ParseQuery(string(c.RawBody))
		if err != nil {
			return apiErr(400, "MalformedQueryString", "cannot parse form body")
		}
		for k, v := range r.URL.Query() {
			if !strings.HasPrefix(k, "X-Amz-") {
				form[k] = append(form[k], v...)
			}
		}
		c.Form = form
		c.Operation = form.Get("Action")
	case awsJSON11:
		_, c.Operation, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		return decodeBody(c)
	case restJSON1:
		c.Operation, c.PathParams = matchRoute(c.Service, r)
		if c.Operation == "" {
			return apiErr(404, "NotFoundException", "no operation for %s %s", r.Method, r.URL.Path)
		}
		return decodeBody(c)
	}
	return nil
}

func decodeBody(c *Call) *APIError {
	c.Body = map[string]any{}
	if len(c.RawBody) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.RawBody, &c.Body); err != nil {
		return apiErr(400, "SerializationException", "malformed JSON body")
	}
	return nil
}

func matchRoute(service string, r *http.Request) (string, map[string]string) {
	segs := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for _, rt := range routes[service] {
		if rt.method != r.Method || len(rt.segments) != len(segs) {
			continue
		}
		params, ok := map[string]string{}, true
		for i, pat := range rt.segments {
			seg, err := url.PathUnescape(segs[i])
			if err != nil {
				ok = false
				break
			}
			if strings.HasPrefix(pat, "{") {
				params[strings.Trim(pat, "{}")] = seg
			} else if pat != seg {
				ok = false
				break
			}
		}
		if ok {
			return rt.op, params
		}
	}
	return "", nil
}

// redactParams keeps bearer material out of the request log.
func redactParams(form url.Values) map[string][]string {
	if form == nil {
		return nil
	}
	out := make(map[string][]string, len(form))
	for k, v := range form {
		if k == "WebIdentityToken" {
			v = []string{"REDACTED"}
		}
		out[k] = v
	}
	return out
}
