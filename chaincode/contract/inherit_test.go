package contract

import (
	"errors"
	"reflect"
	"testing"
)

// TestInherit checks each line of the inheritance rules in docs/data-model.md
// on the pure function that applies them.
func TestInherit(t *testing.T) {
	base := func(mod func(b *Batch)) *Batch {
		b := &Batch{Owner: "ProviderMSP", Classification: "general", PersonalInfo: "none", Deidentification: "none",
			LegalBasis: "contract", Purposes: []string{"evaluation", "model-training"}}
		if mod != nil {
			mod(b)
		}
		return b
	}
	cases := []struct {
		name   string
		inputs []*Batch
		ops    []string
		want   func(in *inheritance)
		rule   string
	}{
		{name: "one input passes on what it has", inputs: []*Batch{base(func(b *Batch) {
			b.ConsentRef = "c-1"
			b.Licence = "CC-BY-4.0"
			b.RetentionUntil = "2030-01-01T00:00:00Z"
		})},
			want: func(in *inheritance) {
				in.ConsentRef, in.Licence, in.RetentionUntil = "c-1", "CC-BY-4.0", "2030-01-01T00:00:00Z"
			}},
		{name: "classification takes the highest", inputs: []*Batch{base(nil), base(func(b *Batch) { b.Classification = "important" })},
			want: func(in *inheritance) { in.Classification = "important" }},
		{name: "personal information takes the highest and its basis must fit", inputs: []*Batch{base(nil), base(func(b *Batch) { b.PersonalInfo = "personal"; b.LegalBasis = "consent" })},
			want: func(in *inheritance) { in.PersonalInfo = "personal" }},
		{name: "de-identification takes the weakest", inputs: []*Batch{base(func(b *Batch) { b.Deidentification = "anonymized" }), base(func(b *Batch) { b.Deidentification = "pseudonymized" })},
			want: func(in *inheritance) { in.Deidentification = "pseudonymized" }},
		{name: "anonymization makes the outputs anonymous", inputs: []*Batch{base(func(b *Batch) { b.PersonalInfo = "sensitive"; b.LegalBasis = "separate-consent" })}, ops: []string{"anonymization"},
			want: func(in *inheritance) { in.Deidentification, in.LegalBasis = "anonymized", "separate-consent" }},
		{name: "de-identification of raw data pseudonymizes it", inputs: []*Batch{base(nil)}, ops: []string{"deidentification"},
			want: func(in *inheritance) { in.Deidentification = "pseudonymized" }},
		{name: "legal basis takes the weakest", inputs: []*Batch{base(func(b *Batch) { b.LegalBasis = "legal-duty" }), base(func(b *Batch) { b.LegalBasis = "public-disclosed" })},
			want: func(in *inheritance) { in.LegalBasis = "public-disclosed" }},
		{name: "purposes are the intersection", inputs: []*Batch{base(nil), base(func(b *Batch) { b.Purposes = []string{"model-training", "research"} })},
			want: func(in *inheritance) { in.Purposes = []string{"model-training"} }},
		{name: "no shared purpose is refused", inputs: []*Batch{base(nil), base(func(b *Batch) { b.Purposes = []string{"research"} })}, rule: RulePurpose},
		{name: "retention is the earliest", inputs: []*Batch{base(func(b *Batch) { b.RetentionUntil = "2031-01-01T00:00:00Z" }), base(nil), base(func(b *Batch) { b.RetentionUntil = "2029-06-01T00:00:00Z" })},
			want: func(in *inheritance) { in.RetentionUntil = "2029-06-01T00:00:00Z" }},
		{name: "licences are joined with AND, each once, sorted", inputs: []*Batch{base(func(b *Batch) { b.Licence = "MIT" }), base(func(b *Batch) { b.Licence = "CC-BY-4.0" }), base(func(b *Batch) { b.Licence = "MIT" })},
			want: func(in *inheritance) { in.Licence = "CC-BY-4.0 AND MIT" }},
		{name: "a consent reference only when every input shares it", inputs: []*Batch{base(func(b *Batch) { b.ConsentRef = "c-1" }), base(func(b *Batch) { b.ConsentRef = "c-2" })},
			want: func(in *inheritance) {}},
		{name: "a shared consent reference is kept", inputs: []*Batch{base(func(b *Batch) { b.ConsentRef = "c-1" }), base(func(b *Batch) { b.ConsentRef = "c-1" })},
			want: func(in *inheritance) { in.ConsentRef = "c-1" }},
		{name: "owners that differ give the outputs to the processor", inputs: []*Batch{base(nil), base(func(b *Batch) { b.Owner = "ConsumerMSP" })},
			want: func(in *inheritance) { in.Owner = "ProcessorMSP" }},
		{name: "sensitive data on a weaker basis is refused", inputs: []*Batch{base(func(b *Batch) { b.PersonalInfo = "sensitive"; b.LegalBasis = "separate-consent" }), base(func(b *Batch) { b.LegalBasis = "consent" })}, rule: RuleLegalBasis},
		{name: "personal data with no basis is refused", inputs: []*Batch{base(func(b *Batch) { b.PersonalInfo = "personal"; b.LegalBasis = "none" })}, rule: RuleLegalBasis},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := inherit(c.inputs, c.ops, "ProcessorMSP")
			if c.rule != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Rule != c.rule {
					t.Fatalf("got %+v, %v; want a refusal under %s", got, err, c.rule)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := inheritance{Owner: "ProviderMSP", Classification: "general", PersonalInfo: "none", Deidentification: "none",
				LegalBasis: "contract", Purposes: []string{"evaluation", "model-training"}}
			c.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}
