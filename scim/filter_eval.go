package scim

import (
	"strings"
	"time"
)

// matches evaluates a value filter, such as type eq "work", against one
// value of the multi-valued complex attribute a.
func matches(a *attribute, elem map[string]any, e expression) (bool, error) {
	switch e := e.(type) {
	case *logicalExpr:
		left, err := matches(a, elem, e.left)
		if err != nil {
			return false, err
		}
		right, err := matches(a, elem, e.right)
		if err != nil {
			return false, err
		}
		if e.and {
			return left && right, nil
		}
		return left || right, nil
	case *notExpr:
		inner, err := matches(a, elem, e.inner)
		return !inner, err
	case *compareExpr:
		if e.path.uri != "" || e.path.sub != "" {
			return false, invalidFilterf("%q is not a sub-attribute of %s", e.path.String(), a.Name)
		}
		sub := a.sub(e.path.name)
		if sub == nil {
			return false, invalidFilterf("%s has no sub-attribute %q", a.Name, e.path.name)
		}
		return compareValue(sub, elem[sub.Name], e)
	}
	return false, invalidFilterf("a value filter cannot contain another one")
}

func compareValue(a *attribute, have any, c *compareExpr) (bool, error) {
	present := have != nil && have != ""
	if c.op == "pr" || c.value == nil {
		switch c.op {
		case "pr", "ne":
			return present, nil
		case "eq":
			return !present, nil
		}
		return false, invalidFilterf("%q cannot compare with null", c.op)
	}

	if a.Type == typeBoolean {
		want, ok := c.value.(bool)
		if !ok || c.op != "eq" && c.op != "ne" {
			return false, invalidFilterf("%q compares true or false with eq or ne", a.Name)
		}
		got, _ := have.(bool)
		return (got == want) == (c.op == "eq"), nil
	}

	want, ok := c.value.(string)
	if !ok {
		return false, invalidFilterf("%q compares a string, not %s", a.Name, describeValue(c.value))
	}
	got, _ := have.(string)
	if c.op == "ne" {
		return !present || !equalStrings(a, got, want), nil
	}
	if !present {
		return false, nil
	}
	if a.Type == typeDateTime {
		return compareTimes(got, want, c.op), nil
	}
	if !a.CaseExact {
		got, want = strings.ToLower(got), strings.ToLower(want)
	}
	switch c.op {
	case "eq":
		return got == want, nil
	case "co":
		return strings.Contains(got, want), nil
	case "sw":
		return strings.HasPrefix(got, want), nil
	case "ew":
		return strings.HasSuffix(got, want), nil
	case "gt":
		return got > want, nil
	case "ge":
		return got >= want, nil
	case "lt":
		return got < want, nil
	}
	return got <= want, nil
}

func equalStrings(a *attribute, x, y string) bool {
	if a.CaseExact {
		return x == y
	}
	return strings.EqualFold(x, y)
}

func compareTimes(got, want, op string) bool {
	g, err1 := time.Parse(time.RFC3339Nano, got)
	w, err2 := time.Parse(time.RFC3339Nano, want)
	if err1 != nil || err2 != nil {
		return false
	}
	switch op {
	case "eq":
		return g.Equal(w)
	case "gt":
		return g.After(w)
	case "ge":
		return !g.Before(w)
	case "lt":
		return g.Before(w)
	case "le":
		return !g.After(w)
	}
	return false
}

// equalityTerms turns a filter made only of "sub eq value" terms joined by
// and into the value it describes, e.g. type eq "work" into
// {"type": "work"}, so add and replace can create a value that does not
// exist yet.
func equalityTerms(a *attribute, e expression) (map[string]any, bool) {
	switch e := e.(type) {
	case *logicalExpr:
		if !e.and {
			return nil, false
		}
		left, ok := equalityTerms(a, e.left)
		if !ok {
			return nil, false
		}
		right, ok := equalityTerms(a, e.right)
		if !ok {
			return nil, false
		}
		for k, v := range right {
			left[k] = v
		}
		return left, true
	case *compareExpr:
		sub := a.sub(e.path.name)
		if e.op != "eq" || sub == nil || e.path.uri != "" || e.path.sub != "" || sub.Mutability == readOnly {
			return nil, false
		}
		v, err := coerce(sub, e.value)
		if err != nil || v == nil {
			return nil, false
		}
		return map[string]any{sub.Name: v}, true
	}
	return nil, false
}
