package contract

import "strings"

// inheritance is what every output of one processing takes from its inputs
// (docs/data-model.md, "Inheritance"): the most protective of each
// classification, the weakest legal basis and de-identification, the
// purposes all inputs allow, the earliest retention, every licence.
type inheritance struct {
	Owner            string
	Classification   string
	PersonalInfo     string
	Deidentification string
	LegalBasis       string
	ConsentRef       string
	Purposes         []string
	RetentionUntil   string
	Licence          string
}

// maxLicence is the longest joined licence an output may carry.
const maxLicence = 4096

// inherit derives the outputs' inheritance from the inputs of a processing
// by processor with the given operations. It reads nothing but its
// arguments and refuses what no output could lawfully be: inputs that share
// no purpose (TT-R04) and personal data left without a basis for it (TT-R01).
// inputs is never empty (the request was validated).
func inherit(inputs []*Batch, operations []string, processor string) (inheritance, error) {
	first := inputs[0]
	in := inheritance{Owner: first.Owner, ConsentRef: first.ConsentRef, Purposes: first.Purposes}
	var classes, pis, deids, bases, licences []string
	for _, b := range inputs {
		if b.Owner != in.Owner {
			in.Owner = processor
		}
		if b.ConsentRef != in.ConsentRef {
			in.ConsentRef = ""
		}
		classes = append(classes, b.Classification)
		pis = append(pis, b.PersonalInfo)
		deids = append(deids, b.Deidentification)
		bases = append(bases, b.LegalBasis)
		in.Purposes = intersect(in.Purposes, b.Purposes)
		if b.RetentionUntil != "" && (in.RetentionUntil == "" || timeBefore(b.RetentionUntil, in.RetentionUntil)) {
			in.RetentionUntil = b.RetentionUntil
		}
		if b.Licence != "" {
			licences = append(licences, b.Licence)
		}
	}
	if len(in.Purposes) == 0 {
		return inheritance{}, violation(RulePurpose, "the inputs share no permitted purpose, so the outputs could be used for none")
	}
	in.Classification = maxOf(classifications, classes...)
	in.PersonalInfo = maxOf(personalInfos, pis...)
	in.Deidentification = minOf(deidentifications, deids...)
	switch {
	case contains(operations, "anonymization"):
		in.PersonalInfo, in.Deidentification = "none", "anonymized"
	case contains(operations, "deidentification") && in.Deidentification == "none":
		in.Deidentification = "pseudonymized"
	}
	in.LegalBasis = minOf(legalBases, bases...)
	if err := ruleLegalBasis(in.PersonalInfo, in.LegalBasis); err != nil {
		return inheritance{}, err
	}
	in.Licence = strings.Join(sortedSet(licences), " AND ")
	if len(in.Licence) > maxLicence {
		return inheritance{}, invalid("inputs", "the inputs' licences together exceed %d characters", maxLicence)
	}
	return in, nil
}
