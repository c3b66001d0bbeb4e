package forms

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzValidateMetadata feeds arbitrary documents to the validator, seeded with
// the corpus files. It checks that the validator never panics and that every
// report is consistent.
func FuzzValidateMetadata(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:EntitiesDescriptor/></md:EntitiesDescriptor>`))

	f.Fuzz(func(t *testing.T, raw []byte) {
		r := ValidateMetadata(raw, ValidateOptions{Now: testNow})

		if r.Metadata == nil && !r.HasErrors() {
			t.Errorf("no metadata and no error for %q", raw)
		}
		for _, p := range r.Problems {
			if p.Field != fieldMetadata || p.Message == "" {
				t.Errorf("malformed problem %+v", p)
			}
		}
	})
}
