package forms

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/russellhaering/gosaml2/types"
)

// entityXML is an md:EntityDescriptor. Its IdP roles are decoded with
// gosaml2's types.IDPSSODescriptor. The entity itself is not decoded with
// types.EntityDescriptor, because that type keeps only one IDPSSODescriptor.
// It also decodes validUntil as time.Time, which rejects an xs:dateTime
// without a time zone and so would fail the whole document.
type entityXML struct {
	EntityID   string       `xml:"entityID,attr"`
	ValidUntil string       `xml:"validUntil,attr"`
	Signature  *struct{}    `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
	IDPRoles   []idpRoleXML `xml:"urn:oasis:names:tc:SAML:2.0:metadata IDPSSODescriptor"`
	SPRoles    []struct{}   `xml:"urn:oasis:names:tc:SAML:2.0:metadata SPSSODescriptor"`
}

// idpRoleXML is an md:IDPSSODescriptor together with its
// protocolSupportEnumeration, which types.IDPSSODescriptor does not keep.
type idpRoleXML struct {
	types.IDPSSODescriptor
	Protocols []string
}

// UnmarshalXML decodes the role with gosaml2's type and keeps the protocols it
// declares.
func (r *idpRoleXML) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "protocolSupportEnumeration" {
			r.Protocols = strings.Fields(a.Value)
		}
	}
	return d.DecodeElement(&r.IDPSSODescriptor, &start)
}

// supportsSAML2 reports whether the role declares the SAML 2.0 protocol. A
// role without protocolSupportEnumeration, which the schema requires, gets the
// benefit of the doubt.
func (r *idpRoleXML) supportsSAML2() bool {
	if len(r.Protocols) == 0 {
		return true
	}
	for _, p := range r.Protocols {
		if p == nsProtocol {
			return true
		}
	}
	return false
}

// aggregateXML is an md:EntitiesDescriptor, which may nest further groups.
type aggregateXML struct {
	ValidUntil string         `xml:"validUntil,attr"`
	Signature  *struct{}      `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
	Entities   []entityXML    `xml:"urn:oasis:names:tc:SAML:2.0:metadata EntityDescriptor"`
	Groups     []aggregateXML `xml:"urn:oasis:names:tc:SAML:2.0:metadata EntitiesDescriptor"`
}

// candidateEntity is an entity with what it inherits from the
// EntitiesDescriptor elements around it.
type candidateEntity struct {
	entityXML
	// validUntil holds the validUntil values of the entity and of its
	// enclosing groups that are set.
	validUntil []string
	signed     bool
}

// decodeEntities decodes the document, whose root scanDocument has checked,
// into the list of entities it contains.
func decodeEntities(doc metadataDocument, root rootElement, problems *problemList) ([]candidateEntity, bool) {
	dec := xml.NewDecoder(bytes.NewReader(doc.text))
	dec.CharsetReader = doc.charsetReader

	var entities []candidateEntity
	var err error
	if root.start.Name.Local == "EntitiesDescriptor" {
		var group aggregateXML
		if err = dec.Decode(&group); err == nil {
			entities = flattenGroup(group, nil, false)
		}
	} else {
		var entity entityXML
		if err = dec.Decode(&entity); err == nil {
			entities = []candidateEntity{newCandidate(entity, nil, false)}
		}
	}

	if err != nil {
		line, _ := dec.InputPos()
		problems.errorf(fieldMetadata, "The metadata could not be read near line %d: %s. "+
			"Send us your IdP's metadata again without editing it, as an uploaded file, as pasted XML or by its URL.",
			line, strings.TrimPrefix(err.Error(), "xml: "))
		return nil, false
	}
	return entities, true
}

func flattenGroup(g aggregateXML, validUntil []string, signed bool) []candidateEntity {
	validUntil = appendIfSet(validUntil, g.ValidUntil)
	signed = signed || g.Signature != nil

	var out []candidateEntity
	for _, e := range g.Entities {
		out = append(out, newCandidate(e, validUntil, signed))
	}
	for _, inner := range g.Groups {
		out = append(out, flattenGroup(inner, validUntil, signed)...)
	}
	return out
}

func newCandidate(e entityXML, inherited []string, signed bool) candidateEntity {
	own := appendIfSet(inherited, e.ValidUntil)
	return candidateEntity{entityXML: e, validUntil: own, signed: signed || e.Signature != nil}
}

// appendIfSet returns a copy of list with v added when v is set, and list
// itself otherwise, so sibling entities never share a backing array.
func appendIfSet(list []string, v string) []string {
	if strings.TrimSpace(v) == "" {
		return list
	}
	return append(append([]string(nil), list...), v)
}

// chooseEntity picks the IdP entity to use: the only one, or the one whose
// entity ID is want. When it cannot, it returns the entity IDs to choose from.
func chooseEntity(entities []candidateEntity, want string, problems *problemList) (candidateEntity, []string, bool) {
	var idps []candidateEntity
	var ids []string
	for _, e := range entities {
		if len(e.IDPRoles) > 0 {
			idps = append(idps, e)
			ids = append(ids, e.EntityID)
		}
	}

	if len(idps) == 0 {
		reportNoIdP(entities, problems)
		return candidateEntity{}, nil, false
	}

	if want != "" {
		for _, e := range idps {
			if e.EntityID == want {
				return e, nil, true
			}
		}
		problems.errorf(fieldMetadata, "The metadata has no IdP entity with the entity ID %q. It contains: %s. "+
			"Choose one of these, or upload the metadata that contains %q.", want, quoteList(ids), want)
		return candidateEntity{}, ids, false
	}

	if len(idps) > 1 {
		problems.errorf(fieldMetadata, "The metadata contains %d identity providers: %s. "+
			"Choose the one your company's users sign in with.", len(idps), quoteList(ids))
		return candidateEntity{}, ids, false
	}
	return idps[0], nil, true
}

// reportNoIdP explains a document without an IDPSSODescriptor; the usual
// cause is service provider metadata uploaded by mistake.
func reportNoIdP(entities []candidateEntity, problems *problemList) {
	for _, e := range entities {
		if len(e.SPRoles) > 0 {
			problems.errorf(fieldMetadata, "This is service provider (SP) metadata (entity ID %q): "+
				"it has an SPSSODescriptor but no IDPSSODescriptor, so it describes an application users sign in to, "+
				"such as your SP's own metadata, not your identity provider. We need your IdP's metadata: "+
				"download it from the SAML app you set up for us in your IdP and upload that file.", e.EntityID)
			return
		}
	}

	if len(entities) == 0 {
		problems.errorf(fieldMetadata, "The metadata's EntitiesDescriptor contains no EntityDescriptor. "+
			"Download the metadata of your IdP's SAML app and upload that file.")
		return
	}
	problems.errorf(fieldMetadata, "The metadata has no IDPSSODescriptor, so it does not describe a SAML 2.0 identity provider. "+
		"Download the SAML 2.0 IdP metadata from your IdP and upload that file.")
}

// quoteList quotes the first ten items for a message and counts the rest.
func quoteList(items []string) string {
	const shown = 10
	var quoted []string
	for i, s := range items {
		if i == shown {
			quoted = append(quoted, fmt.Sprintf("and %d more", len(items)-shown))
			break
		}
		quoted = append(quoted, fmt.Sprintf("%q", s))
	}
	return strings.Join(quoted, ", ")
}
