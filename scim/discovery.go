package scim

import (
	"net/http"
	"strings"
)

// The discovery endpoints of RFC 7644 section 4 describe exactly what this
// server supports.

type supported struct {
	Supported bool `json:"supported"`
}

type bulkSupport struct {
	Supported      bool `json:"supported"`
	MaxOperations  int  `json:"maxOperations"`
	MaxPayloadSize int  `json:"maxPayloadSize"`
}

type filterSupport struct {
	Supported  bool `json:"supported"`
	MaxResults int  `json:"maxResults"`
}

type authScheme struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Primary     bool   `json:"primary"`
}

type discoveryMeta struct {
	ResourceType string `json:"resourceType"`
	Location     string `json:"location"`
}

type serviceProviderConfig struct {
	Schemas               []string      `json:"schemas"`
	DocumentationURI      string        `json:"documentationUri,omitempty"`
	Patch                 supported     `json:"patch"`
	Bulk                  bulkSupport   `json:"bulk"`
	Filter                filterSupport `json:"filter"`
	ChangePassword        supported     `json:"changePassword"`
	Sort                  supported     `json:"sort"`
	ETag                  supported     `json:"etag"`
	AuthenticationSchemes []authScheme  `json:"authenticationSchemes"`
	Meta                  discoveryMeta `json:"meta"`
}

func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, serviceProviderConfig{
		Schemas:        []string{spConfigSchema},
		Patch:          supported{true},
		Bulk:           bulkSupport{},
		Filter:         filterSupport{Supported: true, MaxResults: maxResults},
		ChangePassword: supported{true},
		Sort:           supported{false},
		ETag:           supported{true},
		AuthenticationSchemes: []authScheme{{
			Type: "oauthbearertoken", Name: "OAuth Bearer Token", Primary: true,
			Description: "The SCIM token issued for the tenant, sent as Authorization: Bearer <token>.",
		}},
		Meta: discoveryMeta{ResourceType: "ServiceProviderConfig", Location: s.baseURL + prefix + "/ServiceProviderConfig"},
	})
	return nil
}

type schemaExtension struct {
	Schema   string `json:"schema"`
	Required bool   `json:"required"`
}

type resourceTypeDoc struct {
	Schemas          []string          `json:"schemas"`
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Endpoint         string            `json:"endpoint"`
	Description      string            `json:"description"`
	Schema           string            `json:"schema"`
	SchemaExtensions []schemaExtension `json:"schemaExtensions,omitempty"`
	Meta             discoveryMeta     `json:"meta"`
}

func (s *Server) resourceTypeDocs() []any {
	var out []any
	for _, rt := range []*resourceType{userType, groupType} {
		doc := resourceTypeDoc{
			Schemas: []string{resourceSchema}, ID: rt.Name, Name: rt.Name, Endpoint: rt.Endpoint,
			Description: rt.Schema.Description, Schema: rt.Schema.ID,
			Meta: discoveryMeta{ResourceType: "ResourceType", Location: s.baseURL + prefix + "/ResourceTypes/" + rt.Name},
		}
		for _, ext := range rt.Extensions {
			doc.SchemaExtensions = append(doc.SchemaExtensions, schemaExtension{Schema: ext.ID})
		}
		out = append(out, doc)
	}
	return out
}

type schemaDoc struct {
	Schemas []string `json:"schemas"`
	*schema
	Meta discoveryMeta `json:"meta"`
}

func (s *Server) schemaDocs() []any {
	var out []any
	for _, sc := range []*schema{userCoreSchema, enterpriseUserSchema, groupCoreSchema} {
		out = append(out, schemaDoc{
			Schemas: []string{schemaSchema}, schema: sc,
			Meta: discoveryMeta{ResourceType: "Schema", Location: s.baseURL + prefix + "/Schemas/" + sc.ID},
		})
	}
	return out
}

func (s *Server) resourceTypes(w http.ResponseWriter, r *http.Request, c *call) error {
	return writeDiscoveryList(w, r, s.resourceTypeDocs())
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request, c *call) error {
	return writeDiscoveryList(w, r, s.schemaDocs())
}

// writeDiscoveryList writes a whole list; RFC 7644 section 4 has these
// endpoints answer a filter with 403.
func writeDiscoveryList(w http.ResponseWriter, r *http.Request, docs []any) error {
	if r.URL.Query().Get("filter") != "" {
		return errorf(http.StatusForbidden, "", "Filtering is not supported on this endpoint.")
	}
	writeJSON(w, http.StatusOK, listResponse{
		Schemas: []string{listSchema}, TotalResults: len(docs), StartIndex: 1, ItemsPerPage: len(docs), Resources: docs,
	})
	return nil
}

func (s *Server) resourceTypeByID(w http.ResponseWriter, r *http.Request, c *call) error {
	for _, d := range s.resourceTypeDocs() {
		if doc := d.(resourceTypeDoc); strings.EqualFold(doc.ID, r.PathValue("id")) {
			writeJSON(w, http.StatusOK, doc)
			return nil
		}
	}
	return errorf(http.StatusNotFound, "", "No resource type %q.", r.PathValue("id"))
}

func (s *Server) schemaByID(w http.ResponseWriter, r *http.Request, c *call) error {
	for _, d := range s.schemaDocs() {
		if doc := d.(schemaDoc); strings.EqualFold(doc.ID, r.PathValue("id")) {
			writeJSON(w, http.StatusOK, doc)
			return nil
		}
	}
	return errorf(http.StatusNotFound, "", "No schema %q.", r.PathValue("id"))
}
