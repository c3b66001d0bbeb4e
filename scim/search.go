package scim

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// searchSchema names the body of a search request (RFC 7644 section 3.4.3).
const searchSchema = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

// searchRequest is the body of POST /Users/.search or /Groups/.search. It
// carries the query parameters of a list request, so that a filter too
// long for a URL, or one a client keeps out of access logs, still works.
type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             string   `json:"filter"`
	// SortBy and SortOrder are accepted and ignored, as on a GET, because
	// sorting is not supported (see /ServiceProviderConfig).
	SortBy     string `json:"sortBy"`
	SortOrder  string `json:"sortOrder"`
	StartIndex *int   `json:"startIndex"`
	Count      *int   `json:"count"`
}

// search serves a search request with list, the GET handler of the same
// resource type, by turning the body into the query parameters of that
// GET. Parameters in the POST's own URL are ignored.
func search(list handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		var req searchRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		if len(req.Schemas) > 0 && !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, searchSchema) }) {
			return errorf(http.StatusBadRequest, invalidSyntax, "schemas must contain %s.", searchSchema)
		}

		q := url.Values{}
		setParam(q, "filter", req.Filter)
		setParam(q, "attributes", strings.Join(req.Attributes, ","))
		setParam(q, "excludedAttributes", strings.Join(req.ExcludedAttributes, ","))
		if req.StartIndex != nil {
			q.Set("startIndex", strconv.Itoa(*req.StartIndex))
		}
		if req.Count != nil {
			q.Set("count", strconv.Itoa(*req.Count))
		}

		get := *r
		u := *r.URL
		u.RawQuery = q.Encode()
		get.URL = &u
		return list(w, &get, c)
	}
}

func setParam(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}
