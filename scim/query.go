package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Paging limits, advertised in /ServiceProviderConfig as filter.maxResults.
const (
	defaultCount = 100
	maxResults   = 1000
)

// listQuery holds the query parameters of a list request (RFC 7644
// section 3.4.2).
type listQuery struct {
	filter     expression
	startIndex int // 1-based
	count      int
	projection projection
}

func parseListQuery(rt *resourceType, q url.Values) (listQuery, error) {
	lq := listQuery{startIndex: 1, count: defaultCount}
	if raw := q.Get("filter"); raw != "" {
		f, err := parseFilter(raw)
		if err != nil {
			return listQuery{}, err
		}
		lq.filter = f
	}
	var err error
	if lq.startIndex, err = intParam(q, "startIndex", 1); err != nil {
		return listQuery{}, err
	}
	lq.startIndex = max(lq.startIndex, 1)
	if lq.count, err = intParam(q, "count", defaultCount); err != nil {
		return listQuery{}, err
	}
	lq.count = min(max(lq.count, 0), maxResults)
	lq.projection, err = parseProjection(rt, q)
	return lq, err
}

func intParam(q url.Values, key string, fallback int) (int, error) {
	raw := q.Get(key)
	if raw == "" {
		return fallback, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, invalidValue, "%s must be an integer.", key)
	}
	return n, nil
}

// projection is the attributes or excludedAttributes parameter (RFC 7644
// section 3.4.2.5). Unknown attribute names are ignored.
type projection struct {
	include, exclude []attrPath
}

func parseProjection(rt *resourceType, q url.Values) (projection, error) {
	var p projection
	var err error
	if p.include, err = parseAttrList(q.Get("attributes")); err != nil {
		return projection{}, err
	}
	if p.exclude, err = parseAttrList(q.Get("excludedAttributes")); err != nil {
		return projection{}, err
	}
	return p, nil
}

func parseAttrList(raw string) ([]attrPath, error) {
	if raw == "" {
		return nil, nil
	}
	var out []attrPath
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		path, err := splitAttrPath(item)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, invalidValue, "Invalid attribute name %q in attributes or excludedAttributes.", item)
		}
		out = append(out, path)
	}
	return out, nil
}

// wants reports whether the response needs the top-level attribute name,
// so the handler can skip loading it (a group's members, a user's groups).
func (p projection) wants(name string) bool {
	for _, e := range p.exclude {
		if e.uri == "" && e.sub == "" && strings.EqualFold(e.name, name) {
			return false
		}
	}
	if len(p.include) == 0 {
		return true
	}
	for _, i := range p.include {
		if i.uri == "" && strings.EqualFold(i.name, name) {
			return true
		}
	}
	return false
}

// apply returns v, or v reduced to the requested attributes. id and
// schemas are always returned.
func (p projection) apply(rt *resourceType, v any) (any, error) {
	if len(p.include) == 0 && len(p.exclude) == 0 {
		return v, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode resource: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode resource: %w", err)
	}
	if len(p.include) > 0 {
		doc = includeOnly(rt, doc, p.include)
	}
	for _, e := range p.exclude {
		exclude(rt, doc, e)
	}
	return doc, nil
}

// container finds the attribute a path names and the map that holds it:
// doc itself, or the extension's object inside doc.
func container(rt *resourceType, doc map[string]any, path attrPath, create bool) (*attribute, map[string]any) {
	a, ext := rt.lookup(path.uri, path.name)
	if a == nil {
		return nil, nil
	}
	if ext == nil {
		return a, doc
	}
	inner, ok := doc[ext.ID].(map[string]any)
	if !ok && create {
		inner = map[string]any{}
		doc[ext.ID] = inner
	}
	return a, inner
}

func includeOnly(rt *resourceType, doc map[string]any, paths []attrPath) map[string]any {
	out := map[string]any{"schemas": doc["schemas"], "id": doc["id"]}
	for _, path := range paths {
		if ext := rt.extension(path.String()); ext != nil {
			if v, ok := doc[ext.ID]; ok {
				out[ext.ID] = v
			}
			continue
		}
		a, src := container(rt, doc, path, false)
		if a == nil || src == nil || src[a.Name] == nil {
			continue
		}
		_, dst := container(rt, out, path, true)
		if path.sub == "" {
			dst[a.Name] = src[a.Name]
			continue
		}
		dst[a.Name] = mergeSub(dst[a.Name], src[a.Name], path.sub)
	}
	return out
}

// mergeSub copies the sub-attribute sub of value (an object, or a list of
// objects) into have, which holds what earlier paths copied.
func mergeSub(have, value any, sub string) any {
	switch v := value.(type) {
	case map[string]any:
		m, _ := have.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		copySub(m, v, sub)
		return m
	case []any:
		list, _ := have.([]any)
		if len(list) != len(v) {
			list = make([]any, len(v))
		}
		for i, e := range v {
			src, _ := e.(map[string]any)
			m, _ := list[i].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			copySub(m, src, sub)
			list[i] = m
		}
		return list
	}
	return have
}

func copySub(dst, src map[string]any, sub string) {
	for k, v := range src {
		if strings.EqualFold(k, sub) {
			dst[k] = v
		}
	}
}

func exclude(rt *resourceType, doc map[string]any, path attrPath) {
	if ext := rt.extension(path.String()); ext != nil {
		delete(doc, ext.ID)
		return
	}
	a, src := container(rt, doc, path, false)
	if a == nil || src == nil || a.Returned == "always" {
		return
	}
	if path.sub == "" {
		delete(src, a.Name)
		return
	}
	switch v := src[a.Name].(type) {
	case map[string]any:
		deleteFold(v, path.sub)
	case []any:
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				deleteFold(m, path.sub)
			}
		}
	}
}

func deleteFold(m map[string]any, key string) {
	for k := range m {
		if strings.EqualFold(k, key) {
			delete(m, k)
		}
	}
}
