// Package openapi builds the OpenAPI 3.1 document of Journey's API
// (GET /api/v1/openapi.json, issue 17 item 2) from two embedded files:
// routes.txt, one line per route in ServeMux pattern syntax (so that a
// test compares it with the patterns really registered), and
// components.json, the schemas and security schemes the lines name.
package openapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

//go:embed routes.txt
var routesTxt string

//go:embed components.json
var componentsJSON []byte

// Version is the document's info.version (the API's, not the binary's).
const Version = "1.0.0"

// Route is one line of routes.txt.
type Route struct {
	// Pattern is the ServeMux pattern: "GET /api/v1/flags/{id}", or a
	// bare path for a route registered for every method.
	Pattern   string
	Method    string // "GET"…, "*" for every method
	Path      string // the pattern's path
	Auth      string // key, admin, token, metrics, public
	Body      string // the request body's schema, "" for none
	Query     []string
	Responses []Response
	Summary   string
	Line      int
}

// Response is a documented answer: its status and schema ("" for none;
// "Name[]" for an array of Name).
type Response struct {
	Status int
	Schema string
}

var auths = map[string]bool{"key": true, "admin": true, "token": true, "metrics": true, "public": true}

var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true, "*": true}

// Routes parses routes.txt.
func Routes() ([]Route, error) { return parseRoutes(routesTxt) }

func parseRoutes(text string) ([]Route, error) {
	var out []Route
	seen := map[string]int{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseRoute(line)
		if err != nil {
			return nil, fmt.Errorf("cannot parse routes.txt line %d %q: %w", i+1, line, err)
		}
		r.Line = i + 1
		if prev, dup := seen[r.Pattern]; dup {
			return nil, fmt.Errorf("routes.txt line %d: %s documented on line %d already", i+1, r.Pattern, prev)
		}
		seen[r.Pattern] = r.Line
		out = append(out, r)
	}
	return out, nil
}

func parseRoute(line string) (Route, error) {
	spec, summary, ok := strings.Cut(line, "|")
	if !ok || strings.TrimSpace(summary) == "" {
		return Route{}, fmt.Errorf("no summary after |")
	}
	f := strings.Fields(spec)
	if len(f) < 4 {
		return Route{}, fmt.Errorf("want METHOD PATH AUTH STATUS… | summary")
	}
	r := Route{Method: f[0], Path: f[1], Auth: f[2], Summary: strings.TrimSpace(summary)}
	if !methods[r.Method] {
		return Route{}, fmt.Errorf("unknown method %q", r.Method)
	}
	if !strings.HasPrefix(r.Path, "/") {
		return Route{}, fmt.Errorf("path %q does not start with /", r.Path)
	}
	if !auths[r.Auth] {
		return Route{}, fmt.Errorf("unknown auth %q", r.Auth)
	}
	r.Pattern = r.Method + " " + r.Path
	if r.Method == "*" {
		r.Pattern = r.Path
	}
	for _, w := range f[3:] {
		switch {
		case strings.HasPrefix(w, "body="):
			r.Body = strings.TrimPrefix(w, "body=")
		case strings.HasPrefix(w, "query="):
			r.Query = strings.Split(strings.TrimPrefix(w, "query="), ",")
		default:
			code, schema, _ := strings.Cut(w, "=")
			n, err := strconv.Atoi(code)
			if err != nil || n < 100 || n > 599 {
				return Route{}, fmt.Errorf("bad status %q", w)
			}
			r.Responses = append(r.Responses, Response{Status: n, Schema: schema})
		}
	}
	if len(r.Responses) == 0 {
		return Route{}, fmt.Errorf("no response status")
	}
	return r, nil
}

var wildcard = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// OpenAPIPath is a pattern's path as OpenAPI writes it: {$} (the exact
// path, trailing slash kept) dropped, {name...} as {name}.
func OpenAPIPath(path string) string {
	return wildcard.ReplaceAllString(strings.ReplaceAll(path, "{$}", ""), "{$1}")
}

// Document is the OpenAPI 3.1 document, built once.
var Document = sync.OnceValues(func() ([]byte, error) {
	routes, err := Routes()
	if err != nil {
		return nil, err
	}
	return build(routes, componentsJSON)
})

type obj = map[string]any

func build(routes []Route, components []byte) ([]byte, error) {
	var comp struct {
		Schemas         map[string]json.RawMessage `json:"schemas"`
		SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
	}
	if err := json.Unmarshal(components, &comp); err != nil {
		return nil, fmt.Errorf("cannot decode components.json: %w", err)
	}
	ref := func(name string) (any, error) {
		base, array := strings.CutSuffix(name, "[]")
		if _, ok := comp.Schemas[base]; !ok {
			return nil, fmt.Errorf("no schema %q in components.json", base)
		}
		r := obj{"$ref": "#/components/schemas/" + base}
		if array {
			return obj{"type": "array", "items": r}, nil
		}
		return r, nil
	}
	paths := map[string]obj{}
	for _, r := range routes {
		op, err := operation(r, ref)
		if err != nil {
			return nil, fmt.Errorf("routes.txt line %d: %w", r.Line, err)
		}
		p := OpenAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = obj{}
		}
		method := strings.ToLower(r.Method)
		if method == "*" {
			method = "get"
		}
		if _, dup := paths[p][method]; dup {
			return nil, fmt.Errorf("routes.txt line %d: %s %s documented twice", r.Line, method, p)
		}
		paths[p][method] = op
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{"title": "Journey API", "version": Version,
			"description": "The management and query API of Journey (SPEC §4). Every /api/v1 route takes a project's secret key or a personal API key as Authorization: Bearer; admin routes the server's admin key. Errors answer {\"error\", \"field\"}. The web UI's API (/ui/api/projects/{pid}/…) mirrors the /api/v1 routes with a session instead of a key."},
		"servers":    []obj{{"url": "/"}},
		"paths":      paths,
		"components": obj{"schemas": comp.Schemas, "securitySchemes": comp.SecuritySchemes},
	}
	return json.MarshalIndent(doc, "", "  ")
}

var security = map[string][]obj{
	"key":     {{"secretKey": []string{}}},
	"admin":   {{"adminKey": []string{}}},
	"metrics": {{"metricsToken": []string{}}, {}},
	"token":   {},
	"public":  {},
}

func operation(r Route, ref func(string) (any, error)) (obj, error) {
	op := obj{"summary": r.Summary, "operationId": operationID(r), "security": security[r.Auth], "tags": []string{tag(r.Path)}}
	var params []obj
	for _, m := range wildcard.FindAllStringSubmatch(r.Path, -1) {
		params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}})
	}
	for _, q := range r.Query {
		params = append(params, obj{"name": q, "in": "query", "required": false, "schema": obj{"type": "string"}})
	}
	if params != nil {
		op["parameters"] = params
	}
	if r.Body != "" {
		s, err := ref(r.Body)
		if err != nil {
			return nil, err
		}
		op["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": s}}}
	}
	responses := obj{}
	for _, resp := range r.Responses {
		out := obj{"description": statusText(resp.Status)}
		if resp.Schema != "" {
			s, err := ref(resp.Schema)
			if err != nil {
				return nil, err
			}
			out["content"] = obj{"application/json": obj{"schema": s}}
		}
		responses[strconv.Itoa(resp.Status)] = out
	}
	errs := map[string][]int{"key": {400, 401, 403, 404}, "admin": {400, 401}, "token": {400, 401}}
	for _, code := range errs[r.Auth] {
		if _, ok := responses[strconv.Itoa(code)]; !ok {
			responses[strconv.Itoa(code)] = obj{"description": statusText(code),
				"content": obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/Error"}}}}
		}
	}
	op["responses"] = responses
	return op, nil
}

func operationID(r Route) string {
	m := strings.ToLower(r.Method)
	if m == "*" {
		m = "get"
	}
	p := strings.NewReplacer("{", "", "}", "", "$", "exact", "...", "", "-", "_", ".", "_").Replace(r.Path)
	return m + strings.ReplaceAll(p, "/", "_")
}

// tag groups operations by the path's area: /api/v1/flags/… is flags.
func tag(path string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(path, "/api/v1"), "/")
	area, _, _ := strings.Cut(rest, "/")
	if area == "" || strings.HasPrefix(area, "{") {
		return "other"
	}
	return area
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted: a job"
	case 204:
		return "No content"
	case 302:
		return "Redirect"
	case 400:
		return "Bad request: the field at fault is named"
	case 401:
		return "No key, or an unknown one"
	case 403:
		return "The key's role or scopes do not allow it"
	case 404:
		return "Not found (or not this project's)"
	}
	return strconv.Itoa(code)
}
