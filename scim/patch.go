package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// PATCH (RFC 7644 section 3.5.2) is applied to the resource as a JSON
// object whose keys are the schema's attribute names. Every operation
// works on that copy. The handler saves the result only when all of them
// succeed, so a failing operation leaves the stored resource unchanged.
//
// Besides the RFC, the applier accepts what Okta and Microsoft Entra ID
// send: operation names in any case, booleans as the strings "True" and
// "False", path-less values whose keys are attribute paths such as
// name.givenName or URN-qualified names, add or replace on a value filter
// that matches nothing (a new value is made from the filter's "eq" terms),
// the enterprise manager as a bare id, an id in a path-less replace equal
// to the resource's own, and remove on a multi-valued attribute with a
// value list, which removes only the listed values.

// maxPatchOperations bounds the work of one PATCH request.
const maxPatchOperations = 1000

type patchOperation struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

type patchRequest struct {
	Schemas    []string         `json:"schemas"`
	Operations []patchOperation `json:"Operations"`
}

func decodePatch(r *http.Request) (patchRequest, error) {
	var req patchRequest
	if err := decodeBody(r, &req); err != nil {
		return patchRequest{}, err
	}
	if len(req.Schemas) > 0 && !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, patchSchema) }) {
		return patchRequest{}, errorf(http.StatusBadRequest, invalidSyntax, "schemas must contain %s.", patchSchema)
	}
	if len(req.Operations) == 0 {
		return patchRequest{}, errorf(http.StatusBadRequest, invalidSyntax, "Operations must contain at least one operation.")
	}
	if len(req.Operations) > maxPatchOperations {
		return patchRequest{}, errorf(http.StatusBadRequest, tooMany, "A PATCH request may contain at most %d operations.", maxPatchOperations)
	}
	return req, nil
}

// activeOnly reports whether every operation only sets active, as the
// deactivation and reactivation requests of Okta ({"op":"replace",
// "value":{"active":false}}) and Entra ID ({"op":"Replace","path":"active",
// "value":"False"}) do, and returns the value the last one sets. Anything
// else, null included, goes through the general applier.
func activeOnly(ops []patchOperation) (active, ok bool) {
	for _, op := range ops {
		if !strings.EqualFold(op.Op, "replace") && !strings.EqualFold(op.Op, "add") {
			return false, false
		}
		raw := op.Value
		if path := strings.TrimSpace(op.Path); path != "" {
			if !strings.EqualFold(path, "active") {
				return false, false
			}
		} else if raw, ok = singleActiveValue(raw); !ok {
			return false, false
		}
		if active, ok = parseActive(raw); !ok {
			return false, false
		}
	}
	return active, len(ops) > 0
}

// singleActiveValue returns v from a path-less value {"active": v}.
func singleActiveValue(raw json.RawMessage) (json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || len(obj) != 1 {
		return nil, false
	}
	for key, v := range obj {
		return v, strings.EqualFold(key, "active")
	}
	return nil, false
}

// parseActive reads true or false, also as a string in any case, as
// coerce does for boolean attributes.
func parseActive(raw json.RawMessage) (bool, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false, false
	}
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		if strings.EqualFold(v, "true") || strings.EqualFold(v, "false") {
			return strings.EqualFold(v, "true"), true
		}
	}
	return false, false
}

// patcher applies operations to doc, the resource as a JSON object.
type patcher struct {
	rt  *resourceType
	doc map[string]any
}

func badPath(format string, args ...any) error {
	return errorf(http.StatusBadRequest, invalidPath, format, args...)
}

func badValue(format string, args ...any) error {
	return errorf(http.StatusBadRequest, invalidValue, format, args...)
}

// applyPatch applies every operation to doc in order.
func applyPatch(rt *resourceType, doc map[string]any, ops []patchOperation) error {
	p := &patcher{rt: rt, doc: doc}
	for i, op := range ops {
		if err := p.apply(op); err != nil {
			var se *scimError
			if errors.As(err, &se) {
				return &scimError{status: se.status, scimType: se.scimType, detail: fmt.Sprintf("Operation %d: %s", i+1, se.detail)}
			}
			return err
		}
	}
	return nil
}

func (p *patcher) apply(op patchOperation) error {
	kind := strings.ToLower(op.Op)
	if kind != "add" && kind != "replace" && kind != "remove" {
		return errorf(http.StatusBadRequest, invalidSyntax, "op must be add, replace or remove, not %q.", op.Op)
	}
	value, err := decodeValue(op.Value)
	if err != nil {
		return err
	}
	if kind != "remove" && value == nil && len(bytes.TrimSpace(op.Value)) == 0 {
		return badValue("%s needs a value.", kind)
	}
	if strings.TrimSpace(op.Path) != "" {
		path, err := parsePatchPath(strings.TrimSpace(op.Path))
		if err != nil {
			return badPath("Invalid path: %s.", err.Error())
		}
		return p.applyPath(kind, path, value)
	}

	if kind == "remove" {
		return errorf(http.StatusBadRequest, noTarget, "remove needs a path.")
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return badValue("Without a path, the value must be an object of attributes.")
	}
	return p.applyObject(kind, "", obj)
}

func decodeValue(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badValue("The value is not valid JSON.")
	}
	return v, nil
}

// applyObject applies a path-less add or replace: each key of obj is an
// attribute path, relative to the extension uri when it is set.
func (p *patcher) applyObject(kind, uri string, obj map[string]any) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		v := obj[key]
		if uri == "" && p.skipKey(key, v) {
			continue
		}
		if ext := p.rt.extension(key); ext != nil && uri == "" {
			if err := p.applyExtension(kind, ext.ID, v); err != nil {
				return err
			}
			continue
		}
		path, err := splitAttrPath(key)
		if err != nil {
			return badPath("Invalid attribute name %q.", key)
		}
		if uri != "" && path.uri == "" {
			path.uri = uri
		}
		if err := p.applyPath(kind, patchPath{attr: path}, v); err != nil {
			return err
		}
	}
	return nil
}

// skipKey reports whether a path-less key is one the applier ignores:
// schemas, and an id equal to the resource's own (Okta sends it when it
// renames a group).
func (p *patcher) skipKey(key string, v any) bool {
	switch strings.ToLower(key) {
	case "schemas":
		return true
	case "id":
		s, ok := v.(string)
		return ok && strings.EqualFold(s, fmt.Sprint(p.doc["id"]))
	}
	return false
}

func (p *patcher) applyExtension(kind, urn string, v any) error {
	if kind == "remove" || v == nil {
		delete(p.doc, urn)
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return badValue("The value of %s must be an object.", urn)
	}
	return p.applyObject(kind, urn, obj)
}

// target is the attribute and values a path resolves to.
type target struct {
	attr      *attribute
	sub       *attribute // nil without a sub-attribute
	container map[string]any
}

func (p *patcher) resolve(kind string, path patchPath) (target, error) {
	a, ext := p.rt.lookup(path.attr.uri, path.attr.name)
	if a == nil {
		return target{}, badPath("Unknown attribute %q.", path.attr.String())
	}
	if a.Mutability == readOnly {
		return target{}, errorf(http.StatusBadRequest, mutabilityErr, "Attribute %q is read-only.", a.Name)
	}
	t := target{attr: a, container: p.doc}
	if ext != nil {
		inner, ok := p.doc[ext.ID].(map[string]any)
		if !ok {
			inner = map[string]any{}
			if kind != "remove" {
				p.doc[ext.ID] = inner
			}
		}
		t.container = inner
	}

	subName := path.attr.sub
	if path.sub != "" {
		subName = path.sub
	}
	if subName != "" {
		if a.Type != typeComplex {
			return target{}, badPath("Attribute %q has no sub-attributes.", a.Name)
		}
		if t.sub = a.sub(subName); t.sub == nil {
			return target{}, badPath("Attribute %q has no sub-attribute %q.", a.Name, subName)
		}
		if t.sub.Mutability == readOnly {
			return target{}, errorf(http.StatusBadRequest, mutabilityErr, "Attribute %s.%s is read-only.", a.Name, t.sub.Name)
		}
	}
	if path.filter != nil && !a.MultiValued {
		return target{}, badPath("Attribute %q is not multi-valued, so it takes no value filter.", a.Name)
	}
	return t, nil
}

func (p *patcher) applyPath(kind string, path patchPath, value any) error {
	if path.filter == nil && path.attr.sub == "" {
		if ext := p.rt.extension(path.attr.String()); ext != nil {
			return p.applyExtension(kind, ext.ID, value)
		}
	}
	t, err := p.resolve(kind, path)
	if err != nil {
		return err
	}
	if !t.attr.MultiValued {
		return p.applySingular(kind, t, value)
	}
	list, _ := t.container[t.attr.Name].([]any)
	if path.filter != nil {
		list, err = p.applyFiltered(kind, t, list, path.filter, value)
	} else {
		list, err = p.applyMulti(kind, t, list, value)
	}
	if err != nil {
		return err
	}
	if len(list) == 0 {
		delete(t.container, t.attr.Name)
	} else {
		t.container[t.attr.Name] = list
	}
	return nil
}

func (p *patcher) applySingular(kind string, t target, value any) error {
	if t.sub != nil {
		m, _ := t.container[t.attr.Name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if err := setSub(m, t.sub, kind, value); err != nil {
			return err
		}
		if len(m) == 0 {
			delete(t.container, t.attr.Name)
		} else {
			t.container[t.attr.Name] = m
		}
		return nil
	}

	if kind == "remove" {
		if t.attr.Required {
			return badValue("Attribute %q is required and cannot be removed.", t.attr.Name)
		}
		delete(t.container, t.attr.Name)
		return nil
	}
	v, err := coerce(t.attr, value)
	if err != nil {
		return err
	}
	if merged, ok := v.(map[string]any); ok {
		have, _ := t.container[t.attr.Name].(map[string]any)
		v = mergeInto(have, merged)
	}
	if v == nil {
		delete(t.container, t.attr.Name)
		return nil
	}
	t.container[t.attr.Name] = v
	return nil
}

// setSub sets, or removes, one sub-attribute of the complex value m.
func setSub(m map[string]any, sub *attribute, kind string, value any) error {
	if kind == "remove" {
		delete(m, sub.Name)
		return nil
	}
	v, err := coerce(sub, value)
	if err != nil {
		return err
	}
	if v == nil {
		delete(m, sub.Name)
	} else {
		m[sub.Name] = v
	}
	return nil
}

func mergeInto(have, add map[string]any) map[string]any {
	if have == nil {
		have = map[string]any{}
	}
	for k, v := range add {
		if v == nil {
			delete(have, k)
		} else {
			have[k] = v
		}
	}
	if len(have) == 0 {
		return nil
	}
	return have
}

// applyFiltered applies an operation to the values of a multi-valued
// attribute that match filter.
func (p *patcher) applyFiltered(kind string, t target, list []any, filter expression, value any) ([]any, error) {
	var matched []int
	for i, e := range list {
		elem, _ := e.(map[string]any)
		ok, err := matches(t.attr, elem, filter)
		if err != nil {
			return nil, badPath("Invalid value filter: %s.", err.Error())
		}
		if ok {
			matched = append(matched, i)
		}
	}

	if kind == "remove" {
		if t.sub != nil {
			for _, i := range matched {
				delete(list[i].(map[string]any), t.sub.Name)
			}
			return list, nil
		}
		return deleteIndexes(list, matched), nil
	}

	if len(matched) == 0 {
		elem, ok := equalityTerms(t.attr, filter)
		if !ok {
			return nil, errorf(http.StatusBadRequest, noTarget, "No value of %q matches the filter.", t.attr.Name)
		}
		list = append(list, elem)
		matched = []int{len(list) - 1}
	}
	for _, i := range matched {
		elem := list[i].(map[string]any)
		if err := p.setElement(t, elem, kind, value); err != nil {
			return nil, err
		}
	}
	return normalizePrimary(list, matched[0]), nil
}

// setElement sets a sub-attribute of one value, or merges an object into it.
func (p *patcher) setElement(t target, elem map[string]any, kind string, value any) error {
	if t.sub != nil {
		return setSub(elem, t.sub, kind, value)
	}
	v, err := coerce(t.attr, value)
	if err != nil {
		return err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return badValue("The value for a filtered %q must be an object.", t.attr.Name)
	}
	mergeInto(elem, obj)
	return nil
}

// applyMulti applies an operation to a whole multi-valued attribute.
func (p *patcher) applyMulti(kind string, t target, list []any, value any) ([]any, error) {
	if t.sub != nil {
		if kind != "remove" && len(list) == 0 {
			list = []any{map[string]any{}}
		}
		for _, e := range list {
			if elem, ok := e.(map[string]any); ok {
				if err := setSub(elem, t.sub, kind, value); err != nil {
					return nil, err
				}
			}
		}
		return list, nil
	}

	values, err := coerceList(t.attr, value)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "remove":
		if value == nil {
			return nil, nil
		}
		return removeValues(t.attr, list, values), nil
	case "replace":
		return normalizePrimary(values, 0), nil
	}
	first := len(list)
	index := newValueIndex(t.attr, list)
	for _, v := range values {
		if i := index.find(v); i >= 0 {
			mergeInto(index.list[i].(map[string]any), v.(map[string]any))
			continue
		}
		index.append(v)
	}
	return normalizePrimary(index.list, first), nil
}

func coerceList(a *attribute, value any) ([]any, error) {
	items, ok := value.([]any)
	if !ok {
		items = []any{value}
	}
	out := make([]any, 0, len(items))
	for _, item := range items {
		if item == nil {
			continue
		}
		v, err := coerce(a, item)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// removeValues removes from list the values whose "value" equals that of
// one of values.
func removeValues(a *attribute, list, values []any) []any {
	remove := newValueIndex(a, nil)
	for _, v := range values {
		remove.append(v)
	}
	var drop []int
	for i, e := range list {
		elem, _ := e.(map[string]any)
		if k, ok := remove.key(elem["value"]); ok && len(remove.byKey[k]) > 0 {
			drop = append(drop, i)
		}
	}
	return deleteIndexes(list, drop)
}

func sameString(a *attribute, x, y any) bool {
	xs, ok1 := x.(string)
	ys, ok2 := y.(string)
	if !ok1 || !ok2 {
		return false
	}
	if a != nil && a.CaseExact {
		return xs == ys
	}
	return strings.EqualFold(xs, ys)
}

// deleteIndexes returns list without the values at indexes, which are in
// ascending order.
func deleteIndexes(list []any, indexes []int) []any {
	if len(indexes) == 0 {
		return list
	}
	out := list[:0:0]
	for i, e := range list {
		if len(indexes) > 0 && indexes[0] == i {
			indexes = indexes[1:]
			continue
		}
		out = append(out, e)
	}
	return out
}

// normalizePrimary keeps at most one value marked primary. When several
// are, the first at or after index preferred keeps the mark: the one this
// operation wrote.
func normalizePrimary(list []any, preferred int) []any {
	keep := -1
	for i := preferred; i < len(list) && keep < 0; i++ {
		if isPrimary(list[i]) {
			keep = i
		}
	}
	for i, e := range list {
		if i != keep && isPrimary(e) {
			if keep < 0 {
				keep = i
				continue
			}
			e.(map[string]any)["primary"] = false
		}
	}
	return list
}

func isPrimary(e any) bool {
	m, ok := e.(map[string]any)
	return ok && m["primary"] == true
}

// coerce checks value against the attribute's type and returns it in the
// form the resource keeps: strings for string types, bool for booleans
// ("True" and "False" included), and for complex attributes an object
// with the schema's sub-attribute names (unknown ones are dropped). A bare
// string for a complex attribute becomes {"value": s}.
func coerce(a *attribute, value any) (any, error) {
	if value == nil {
		return nil, nil
	}
	switch a.Type {
	case typeComplex:
		return coerceComplex(a, value)
	case typeBoolean:
		switch v := value.(type) {
		case bool:
			return v, nil
		case string:
			if strings.EqualFold(v, "true") || strings.EqualFold(v, "false") {
				return strings.EqualFold(v, "true"), nil
			}
		}
		return nil, badValue("Attribute %q must be true or false.", a.Name)
	}
	switch v := value.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return nil, badValue("Attribute %q must be a string.", a.Name)
}

func coerceComplex(a *attribute, value any) (any, error) {
	if s, ok := value.(string); ok && a.sub("value") != nil {
		value = map[string]any{"value": s}
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return nil, badValue("Attribute %q must be an object.", a.Name)
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		sub := a.sub(k)
		if sub == nil {
			continue
		}
		cv, err := coerce(sub, v)
		if err != nil {
			return nil, err
		}
		out[sub.Name] = cv
	}
	return out, nil
}
