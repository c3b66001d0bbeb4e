package scim

import "strings"

// Schema URNs from RFC 7643 and RFC 7644.
const (
	userSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	enterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	listSchema       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	patchSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	errorSchema      = "urn:ietf:params:scim:api:messages:2.0:Error"
	spConfigSchema   = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	resourceSchema   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Attribute types, mutability and returned values of RFC 7643 section 7.
const (
	typeString    = "string"
	typeBoolean   = "boolean"
	typeDateTime  = "dateTime"
	typeReference = "reference"
	typeBinary    = "binary"
	typeComplex   = "complex"

	readOnly  = "readOnly"
	readWrite = "readWrite"
	immutable = "immutable"
	writeOnly = "writeOnly"
)

// attribute describes one attribute of a schema, as /Schemas publishes it
// and as filters, PATCH and projection interpret it.
type attribute struct {
	Name            string       `json:"name"`
	Type            string       `json:"type"`
	MultiValued     bool         `json:"multiValued"`
	Description     string       `json:"description"`
	Required        bool         `json:"required"`
	CaseExact       bool         `json:"caseExact"`
	Mutability      string       `json:"mutability"`
	Returned        string       `json:"returned"`
	Uniqueness      string       `json:"uniqueness"`
	CanonicalValues []string     `json:"canonicalValues,omitempty"`
	ReferenceTypes  []string     `json:"referenceTypes,omitempty"`
	SubAttributes   []*attribute `json:"subAttributes,omitempty"`
}

// sub returns the sub-attribute with that name, ignoring case, or nil.
func (a *attribute) sub(name string) *attribute {
	return findAttribute(a.SubAttributes, name)
}

func findAttribute(list []*attribute, name string) *attribute {
	for _, a := range list {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// schema is one SCIM schema: a core resource schema or an extension.
type schema struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Attributes  []*attribute `json:"attributes"`
}

// attr builds an attribute with the defaults of RFC 7643 section 2.2:
// readWrite, returned by default, not unique, not case-exact.
func attr(name, typ, description string, opts ...func(*attribute)) *attribute {
	a := &attribute{Name: name, Type: typ, Description: description, Mutability: readWrite, Returned: "default", Uniqueness: "none"}
	for _, o := range opts {
		o(a)
	}
	return a
}

func multi(a *attribute)     { a.MultiValued = true }
func required(a *attribute)  { a.Required = true }
func caseExact(a *attribute) { a.CaseExact = true }
func ro(a *attribute)        { a.Mutability = readOnly }
func unique(a *attribute)    { a.Uniqueness = "server" }
func always(a *attribute)    { a.Returned = "always" }

func mutability(m string) func(*attribute) { return func(a *attribute) { a.Mutability = m } }
func returned(r string) func(*attribute)   { return func(a *attribute) { a.Returned = r } }
func canonical(v ...string) func(*attribute) {
	return func(a *attribute) { a.CanonicalValues = v }
}
func refTypes(v ...string) func(*attribute) { return func(a *attribute) { a.ReferenceTypes = v } }
func subs(list ...*attribute) func(*attribute) {
	return func(a *attribute) { a.SubAttributes = list }
}

// multiValuedSubs are the sub-attributes of emails, phone numbers and the
// other plain multi-valued attributes.
func multiValuedSubs(valueType string, types ...string) func(*attribute) {
	return subs(
		attr("value", valueType, "The value."),
		attr("display", typeString, "A name for display."),
		attr("type", typeString, "The kind of value.", canonical(types...)),
		attr("primary", typeBoolean, "Whether this is the primary value."),
	)
}

var userCoreSchema = &schema{
	ID: userSchema, Name: "User", Description: "User Account",
	Attributes: []*attribute{
		attr("userName", typeString, "Unique identifier for the user, used to sign in. Unique per tenant, ignoring case.", required, unique),
		attr("name", typeComplex, "The components of the user's name.", subs(
			attr("formatted", typeString, "The full name."),
			attr("familyName", typeString, "The family name."),
			attr("givenName", typeString, "The given name."),
			attr("middleName", typeString, "The middle name."),
			attr("honorificPrefix", typeString, "The honorific prefix."),
			attr("honorificSuffix", typeString, "The honorific suffix."),
		)),
		attr("displayName", typeString, "The name shown to end users."),
		attr("nickName", typeString, "The casual name."),
		attr("profileUrl", typeReference, "A URL of the user's online profile.", refTypes("external")),
		attr("title", typeString, "The user's title."),
		attr("userType", typeString, "The relationship between the organization and the user."),
		attr("preferredLanguage", typeString, "The preferred language, as an Accept-Language value."),
		attr("locale", typeString, "The default location, for localizing."),
		attr("timezone", typeString, "The time zone, in IANA format."),
		attr("active", typeBoolean, "Whether the user may sign in. Inactive users keep their data."),
		attr("password", typeString, "A new password. It is stored as a hash and never returned.", mutability(writeOnly), returned("never")),
		attr("emails", typeComplex, "Email addresses.", multi, multiValuedSubs(typeString, "work", "home", "other")),
		attr("phoneNumbers", typeComplex, "Phone numbers.", multi, multiValuedSubs(typeString, "work", "home", "mobile", "fax", "pager", "other")),
		attr("ims", typeComplex, "Instant messaging addresses.", multi, multiValuedSubs(typeString)),
		attr("photos", typeComplex, "URLs of photos.", multi, multiValuedSubs(typeReference, "photo", "thumbnail")),
		attr("addresses", typeComplex, "Physical mailing addresses.", multi, subs(
			attr("formatted", typeString, "The full address."),
			attr("streetAddress", typeString, "The street address."),
			attr("locality", typeString, "The city or locality."),
			attr("region", typeString, "The state or region."),
			attr("postalCode", typeString, "The zip or postal code."),
			attr("country", typeString, "The country, as an ISO 3166-1 alpha-2 code."),
			attr("type", typeString, "The kind of address.", canonical("work", "home", "other")),
			attr("primary", typeBoolean, "Whether this is the primary address."),
		)),
		attr("groups", typeComplex, "The groups the user belongs to. Change it through the Groups endpoint.", multi, ro, subs(
			attr("value", typeString, "The group's id.", ro),
			attr("$ref", typeReference, "The group's URI.", ro, refTypes("Group")),
			attr("display", typeString, "The group's displayName.", ro),
			attr("type", typeString, "How the user is a member.", ro, canonical("direct")),
		)),
		attr("entitlements", typeComplex, "Entitlements.", multi, multiValuedSubs(typeString)),
		attr("roles", typeComplex, "Roles.", multi, multiValuedSubs(typeString)),
		attr("x509Certificates", typeComplex, "Certificates, base64 DER.", multi, multiValuedSubs(typeBinary)),
	},
}

var enterpriseUserSchema = &schema{
	ID: enterpriseSchema, Name: "EnterpriseUser", Description: "Enterprise User",
	Attributes: []*attribute{
		attr("employeeNumber", typeString, "The employee number."),
		attr("costCenter", typeString, "The cost center."),
		attr("organization", typeString, "The organization."),
		attr("division", typeString, "The division."),
		attr("department", typeString, "The department."),
		attr("manager", typeComplex, "The user's manager.", subs(
			attr("value", typeString, "The manager's id."),
			attr("$ref", typeReference, "The manager's URI.", refTypes("User")),
			attr("displayName", typeString, "The manager's displayName.", ro),
		)),
	},
}

var groupCoreSchema = &schema{
	ID: groupSchema, Name: "Group", Description: "Group",
	Attributes: []*attribute{
		attr("displayName", typeString, "The group's name. Unique per tenant, ignoring case.", required, unique),
		attr("members", typeComplex, "The group's members: users of the same tenant.", multi, subs(
			attr("value", typeString, "The member's id.", mutability(immutable)),
			attr("$ref", typeReference, "The member's URI.", mutability(immutable), refTypes("User")),
			attr("display", typeString, "The member's displayName.", ro),
			attr("type", typeString, "The kind of member.", mutability(immutable), canonical("User")),
		)),
	},
}

// commonAttributes are the attributes of every resource (RFC 7643 section 3.1).
var commonAttributes = []*attribute{
	attr("id", typeString, "The identifier the service provider assigned.", ro, always, caseExact, unique),
	attr("externalId", typeString, "The identifier the IdP assigned.", caseExact),
	attr("meta", typeComplex, "Resource metadata.", ro, subs(
		attr("resourceType", typeString, "The resource type.", ro, caseExact),
		attr("created", typeDateTime, "When the resource was created.", ro),
		attr("lastModified", typeDateTime, "When the resource last changed.", ro),
		attr("location", typeReference, "The resource's URI.", ro),
		attr("version", typeString, "The resource's entity tag.", ro, caseExact),
	)),
}

// resourceType ties a resource's endpoint to its schema and extensions.
type resourceType struct {
	Name       string
	Endpoint   string
	Schema     *schema
	Extensions []*schema
}

var (
	userType  = &resourceType{Name: "User", Endpoint: "/Users", Schema: userCoreSchema, Extensions: []*schema{enterpriseUserSchema}}
	groupType = &resourceType{Name: "Group", Endpoint: "/Groups", Schema: groupCoreSchema}
)

// extension returns the resource type's extension schema with that URN,
// ignoring case, or nil.
func (rt *resourceType) extension(urn string) *schema {
	for _, s := range rt.Extensions {
		if strings.EqualFold(s.ID, urn) {
			return s
		}
	}
	return nil
}

// lookup finds the attribute a path's URI and name refer to. ext is the
// extension schema when the attribute belongs to one. An empty URI or the
// core schema's URN means the core schema or the common attributes.
func (rt *resourceType) lookup(uri, name string) (a *attribute, ext *schema) {
	if uri == "" || strings.EqualFold(uri, rt.Schema.ID) {
		if a := findAttribute(rt.Schema.Attributes, name); a != nil {
			return a, nil
		}
		return findAttribute(commonAttributes, name), nil
	}
	if ext := rt.extension(uri); ext != nil {
		return findAttribute(ext.Attributes, name), ext
	}
	return nil, nil
}
