package scim

import (
	"strings"
	"unicode"
)

// valueIndex finds the values of a multi-valued attribute by their "value"
// sub-attribute with one map lookup, so that a PATCH adding or removing
// many values at once (a group's members, say) costs time linear in their
// number rather than quadratic.
type valueIndex struct {
	caseExact bool
	typeAttr  *attribute
	list      []any
	byKey     map[string][]int // positions in list, ascending
}

func newValueIndex(a *attribute, list []any) *valueIndex {
	ix := &valueIndex{typeAttr: a.sub("type"), byKey: make(map[string][]int, len(list))}
	if sub := a.sub("value"); sub != nil {
		ix.caseExact = sub.CaseExact
	}
	for _, e := range list {
		ix.append(e)
	}
	return ix
}

// key returns the map key of a "value": the string itself for a
// case-exact attribute, its case fold otherwise. Only strings have keys.
func (ix *valueIndex) key(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	if ix.caseExact {
		return s, true
	}
	return foldCase(s), true
}

// append adds e at the end of the list.
func (ix *valueIndex) append(e any) {
	ix.list = append(ix.list, e)
	elem, ok := e.(map[string]any)
	if !ok {
		return
	}
	if k, ok := ix.key(elem["value"]); ok {
		ix.byKey[k] = append(ix.byKey[k], len(ix.list)-1)
	}
}

// find returns the position of the first value with the same "value" as
// v, and the same "type" when v has one, or -1; see indexOfValue.
func (ix *valueIndex) find(v any) int {
	obj, ok := v.(map[string]any)
	if !ok || obj["value"] == nil {
		return -1
	}
	k, ok := ix.key(obj["value"])
	if !ok {
		return -1
	}
	for _, i := range ix.byKey[k] {
		elem := ix.list[i].(map[string]any)
		if obj["type"] == nil || sameString(ix.typeAttr, elem["type"], obj["type"]) {
			return i
		}
	}
	return -1
}

// foldCase maps every rune to the smallest rune of its Unicode case
// folding orbit, so two strings have the same result exactly when
// strings.EqualFold reports them equal.
func foldCase(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		smallest := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			smallest = min(smallest, f)
		}
		b.WriteRune(smallest)
	}
	return b.String()
}
