package contract

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"time"
)

// Limits on request fields.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 2000
	MaxReasonLen      = 1000
	MaxListLen        = 64
	MaxOutputs        = 1000
	MaxInputs         = 1000
	MaxBulkTrades     = 1000
	MaxFindings       = 100
	MaxEvidence       = 100
	MaxMetrics        = 32
	MaxTokens         = int64(1) << 53 // exact in a JSON number
	DefaultPageSize   = 50
	MaxPageSize       = 500
	DefaultDepth      = 10
	MaxDepth          = 50
	MinBucketTrades   = 3
)

var (
	reID        = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	reMSP       = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	reDigest    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	reLanguage  = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)
	reRegion    = regexp.MustCompile(`^[A-Z]{2}(-[A-Z0-9]{1,3})?$`)
	reToken     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) // purposes, tokenizers, metric names
	reCurrency  = regexp.MustCompile(`^[A-Z]{3}$`)
	reRef       = regexp.MustCompile(`^[A-Za-z0-9._:/#-]{1,256}$`)
	reRuleID    = regexp.MustCompile(`^TT-R(0[1-9]|1[0-4])$`)
	rePrintable = regexp.MustCompile(`^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$`)
)

// Enumerations, each in ascending order of strength where order matters.
var (
	sectors           = []string{"healthcare", "agriculture", "industry", "education", "finance", "transport", "government", "services", "science", "other"}
	modalities        = []string{"text", "image", "audio", "video", "tabular", "code", "multimodal"}
	classifications   = []string{"general", "important", "core"}
	personalInfos     = []string{"none", "personal", "sensitive"}
	deidentifications = []string{"none", "pseudonymized", "anonymized"}
	// legalBases runs from the weakest basis to the strongest.
	legalBases   = []string{"none", "public-disclosed", "public-interest", "contract", "consent", "legal-duty", "separate-consent"}
	sourceTypes  = []string{"sensor", "user-generated", "public-web", "enterprise", "government-open", "synthetic", "purchased"}
	operations   = []string{"cleaning", "deduplication", "filtering", "labeling", "deidentification", "anonymization", "tokenization", "augmentation", "synthesis", "merge", "split"}
	reducingOps  = []string{"cleaning", "deduplication", "filtering", "deidentification", "anonymization"}
	accessModes  = []string{"copy", "api", "sandbox"}
	mechanisms   = []string{"security-assessment", "standard-contract", "certification", "exemption"}
	rightsKinds  = []string{"licence", "ownership"}
	verdicts     = []string{"compliant", "non-compliant", "remediation-required"}
	findingKinds = []string{ResultPass, ResultFail, ResultNotApplicable}
	retireWhy    = []string{"retention-expired", "erasure-request", "consent-withdrawn", "other"}
	allRoles     = []string{RoleRegulator, RoleProvider, RoleProcessor, RoleExchange, RoleConsumer, RoleAuditor}
)

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

func contains(list []string, v string) bool { return indexOf(list, v) >= 0 }

func checkEnum(field, v string, list []string) error {
	if !contains(list, v) {
		return invalid(field, "must be one of %v, not %q", list, clip(v))
	}
	return nil
}

// clip shortens a value quoted back in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// checkOptionalEnum is checkEnum for a field that may be left empty.
func checkOptionalEnum(field, v string, list []string) error {
	if v == "" {
		return nil
	}
	return checkEnum(field, v, list)
}

func checkID(field, v string) error {
	if !reID.MatchString(v) {
		return invalid(field, "must match [A-Za-z0-9._:-]{1,128}, not %q", clip(v))
	}
	return nil
}

func checkMSP(field, v string) error {
	if !reMSP.MatchString(v) {
		return invalid(field, "must be an MSP ID matching [A-Za-z0-9._-]{1,64}, not %q", clip(v))
	}
	return nil
}

func checkText(field, v string, max int, required bool) error {
	if required && v == "" {
		return invalid(field, "is required")
	}
	if len([]rune(v)) > max {
		return invalid(field, "is longer than %d characters", max)
	}
	if !rePrintable.MatchString(v) {
		return invalid(field, "contains control characters")
	}
	return nil
}

func checkPattern(field, v string, re *regexp.Regexp, what string) error {
	if !re.MatchString(v) {
		return invalid(field, "must be %s, not %q", what, clip(v))
	}
	return nil
}

func checkRegion(field, v string) error {
	return checkPattern(field, v, reRegion, "an ISO 3166 code such as CN, CN-SH or SG")
}

func checkDigest(field, v string) error {
	return checkPattern(field, v, reDigest, "sha256:<64 lowercase hex digits>")
}

func checkTime(field, v string) (time.Time, error) {
	ts, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalid(field, "must be an RFC 3339 time such as 2027-01-01T00:00:00Z, not %q", clip(v))
	}
	return ts, nil
}

func checkTokens(field string, tk Tokens) error {
	if tk.Count < 1 || tk.Count > MaxTokens {
		return invalid(field+".count", "must be between 1 and %d", MaxTokens)
	}
	return checkPattern(field+".tokenizer", tk.Tokenizer, reToken, "a tokenizer name such as o200k_base")
}

func checkNonNegative(field string, v int64) error {
	if v < 0 {
		return invalid(field, "must not be negative")
	}
	return nil
}

// checkList validates a list of tokens (purposes, languages) and returns it
// sorted and without duplicates, so stored lists compare by content.
func checkList(field string, list []string, re *regexp.Regexp, what string, required bool) ([]string, error) {
	if required && len(list) == 0 {
		return nil, invalid(field, "needs at least one entry")
	}
	if len(list) > MaxListLen {
		return nil, invalid(field, "has more than %d entries", MaxListLen)
	}
	for i, v := range list {
		if !re.MatchString(v) {
			return nil, invalid(fmt.Sprintf("%s[%d]", field, i), "must be %s, not %q", what, clip(v))
		}
	}
	return sortedSet(list), nil
}

func sortedSet(list []string) []string {
	if list == nil {
		return nil
	}
	out := append([]string(nil), list...)
	sort.Strings(out)
	j := 0
	for i, v := range out {
		if i == 0 || v != out[j-1] {
			out[j] = v
			j++
		}
	}
	return out[:j]
}

func checkPurposes(field string, list []string) ([]string, error) {
	return checkList(field, list, reToken, "a purpose such as model-training", true)
}

func checkScore(field string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 100 {
		return invalid(field, "must be between 0 and 100")
	}
	return nil
}

func checkMetrics(field string, m map[string]float64) error {
	if len(m) > MaxMetrics {
		return invalid(field, "has more than %d metrics", MaxMetrics)
	}
	for _, name := range sortedKeys(m) {
		if !reToken.MatchString(name) {
			return invalid(field, "metric name %q must match [a-z0-9][a-z0-9._-]{0,63}", clip(name))
		}
		if v := m[name]; math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid(field+"."+name, "must be a finite number")
		}
	}
	return nil
}

func checkQuality(field string, q *QualityInput) error {
	if q == nil {
		return nil
	}
	if err := checkScore(field+".score", q.Score); err != nil {
		return err
	}
	if err := checkMetrics(field+".metrics", q.Metrics); err != nil {
		return err
	}
	return checkText(field+".method", q.Method, MaxNameLen, true)
}

func checkCrossBorder(field string, cb *CrossBorder) error {
	if cb == nil {
		return nil
	}
	if err := checkRegion(field+".destination", cb.Destination); err != nil {
		return err
	}
	if cb.Mechanism != "" {
		if err := checkEnum(field+".mechanism", cb.Mechanism, mechanisms); err != nil {
			return err
		}
	}
	if cb.ApprovalRef != "" {
		return checkPattern(field+".approvalRef", cb.ApprovalRef, reRef, "a reference of up to 256 characters [A-Za-z0-9._:/#-]")
	}
	return nil
}

func (r *CollectRequest) validate() error {
	if r.ID != "" {
		if err := checkID("id", r.ID); err != nil {
			return err
		}
	}
	if err := checkText("name", r.Name, MaxNameLen, true); err != nil {
		return err
	}
	if err := checkText("description", r.Description, MaxDescriptionLen, false); err != nil {
		return err
	}
	if err := checkEnum("sector", r.Sector, sectors); err != nil {
		return err
	}
	if err := checkEnum("modality", r.Modality, modalities); err != nil {
		return err
	}
	langs, err := checkList("languages", r.Languages, reLanguage, "a BCP 47 tag such as zh-CN", false)
	if err != nil {
		return err
	}
	r.Languages = langs
	if err := checkTokens("tokens", r.Tokens); err != nil {
		return err
	}
	if err := checkDigest("contentDigest", r.ContentDigest); err != nil {
		return err
	}
	if err := checkNonNegative("sizeBytes", r.SizeBytes); err != nil {
		return err
	}
	if err := checkNonNegative("records", r.Records); err != nil {
		return err
	}
	if err := checkEnum("classification", r.Classification, classifications); err != nil {
		return err
	}
	if err := checkEnum("personalInfo", r.PersonalInfo, personalInfos); err != nil {
		return err
	}
	if err := checkEnum("deidentification", r.Deidentification, deidentifications); err != nil {
		return err
	}
	if err := checkEnum("legalBasis", r.LegalBasis, legalBases); err != nil {
		return err
	}
	if r.ConsentRef != "" {
		if err := checkDigest("consentRef", r.ConsentRef); err != nil {
			return err
		}
	}
	purposes, err := checkPurposes("purposes", r.Purposes)
	if err != nil {
		return err
	}
	r.Purposes = purposes
	if err := checkRegion("region", r.Region); err != nil {
		return err
	}
	if err := checkText("licence", r.Licence, 256, false); err != nil {
		return err
	}
	if r.RetentionUntil != "" {
		if _, err := checkTime("retentionUntil", r.RetentionUntil); err != nil {
			return err
		}
	}
	if err := checkQuality("quality", r.Quality); err != nil {
		return err
	}
	if err := checkEnum("source.type", r.Source.Type, sourceTypes); err != nil {
		return err
	}
	if err := checkText("source.description", r.Source.Description, MaxDescriptionLen, false); err != nil {
		return err
	}
	if r.Source.Region != "" {
		return checkRegion("source.region", r.Source.Region)
	}
	return nil
}

func (r *ProcessRequest) validate() error {
	if len(r.Inputs) == 0 {
		return invalid("inputs", "needs at least one input batch")
	}
	if len(r.Inputs) > MaxInputs {
		return invalid("inputs", "has more than %d entries", MaxInputs)
	}
	seen := map[string]bool{}
	for i, id := range r.Inputs {
		if err := checkID(fmt.Sprintf("inputs[%d]", i), id); err != nil {
			return err
		}
		if seen[id] {
			return invalid(fmt.Sprintf("inputs[%d]", i), "names batch %s twice", id)
		}
		seen[id] = true
	}
	if len(r.Operations) == 0 {
		return invalid("operations", "needs at least one operation")
	}
	for i, op := range r.Operations {
		if err := checkEnum(fmt.Sprintf("operations[%d]", i), op, operations); err != nil {
			return err
		}
	}
	r.Operations = sortedSet(r.Operations)
	if err := checkText("tool.name", r.Tool.Name, MaxNameLen, true); err != nil {
		return err
	}
	if err := checkText("tool.version", r.Tool.Version, 64, true); err != nil {
		return err
	}
	if len(r.Outputs) == 0 {
		return invalid("outputs", "needs at least one output batch")
	}
	if len(r.Outputs) > MaxOutputs {
		return invalid("outputs", "has more than %d entries", MaxOutputs)
	}
	for i := range r.Outputs {
		o := &r.Outputs[i]
		f := fmt.Sprintf("outputs[%d]", i)
		if o.ID != "" {
			if err := checkID(f+".id", o.ID); err != nil {
				return err
			}
			if seen[o.ID] {
				return &Error{Kind: KindRule, Rule: RuleLineage, Field: f + ".id", Detail: fmt.Sprintf("batch %s appears twice among inputs and outputs; no batch can be its own ancestor", o.ID)}
			}
			seen[o.ID] = true
		}
		if err := checkText(f+".name", o.Name, MaxNameLen, true); err != nil {
			return err
		}
		if err := checkText(f+".description", o.Description, MaxDescriptionLen, false); err != nil {
			return err
		}
		if err := checkTokens(f+".tokens", o.Tokens); err != nil {
			return err
		}
		if err := checkDigest(f+".contentDigest", o.ContentDigest); err != nil {
			return err
		}
		if err := checkNonNegative(f+".sizeBytes", o.SizeBytes); err != nil {
			return err
		}
		if err := checkNonNegative(f+".records", o.Records); err != nil {
			return err
		}
		if o.Modality != "" {
			if err := checkEnum(f+".modality", o.Modality, modalities); err != nil {
				return err
			}
		}
		langs, err := checkList(f+".languages", o.Languages, reLanguage, "a BCP 47 tag such as zh-CN", false)
		if err != nil {
			return err
		}
		o.Languages = langs
		if err := checkQuality(f+".quality", o.Quality); err != nil {
			return err
		}
	}
	return checkCrossBorder("crossBorder", r.CrossBorder)
}

func (r *AssessRequest) validate() error {
	if err := checkID("batchId", r.BatchID); err != nil {
		return err
	}
	if r.Score == nil {
		return invalid("score", "is required")
	}
	if err := checkScore("score", *r.Score); err != nil {
		return err
	}
	if err := checkMetrics("metrics", r.Metrics); err != nil {
		return err
	}
	return checkText("method", r.Method, MaxNameLen, true)
}

func (r *CirculateRequest) validate() error {
	if err := checkID("batchId", r.BatchID); err != nil {
		return err
	}
	if err := checkMSP("to", r.To); err != nil {
		return err
	}
	if err := checkPattern("purpose", r.Purpose, reToken, "a purpose such as model-training"); err != nil {
		return err
	}
	if err := checkEnum("accessMode", r.AccessMode, accessModes); err != nil {
		return err
	}
	if err := checkCrossBorder("crossBorder", r.CrossBorder); err != nil {
		return err
	}
	if r.ExpiresAt != "" {
		if _, err := checkTime("expiresAt", r.ExpiresAt); err != nil {
			return err
		}
	}
	return nil
}

func (r *TradeRequest) validate(prefix string) error {
	if err := checkID(prefix+"tradeId", r.TradeID); err != nil {
		return err
	}
	if err := checkID(prefix+"batchId", r.BatchID); err != nil {
		return err
	}
	if err := checkMSP(prefix+"seller", r.Seller); err != nil {
		return err
	}
	if err := checkMSP(prefix+"buyer", r.Buyer); err != nil {
		return err
	}
	if r.Seller == r.Buyer {
		return invalid(prefix+"buyer", "must differ from the seller")
	}
	if err := checkEnum(prefix+"rights", r.Rights, rightsKinds); err != nil {
		return err
	}
	purposes, err := checkPurposes(prefix+"purposes", r.Purposes)
	if err != nil {
		return err
	}
	r.Purposes = purposes
	if r.Tokens < 1 || r.Tokens > MaxTokens {
		return violation(RuleQuantity, "%stokens must be at least 1 and at most the batch's token count, not %d", prefix, r.Tokens)
	}
	return nil
}

func (tm *Terms) validate(prefix string) error {
	if math.IsNaN(tm.UnitPrice) || math.IsInf(tm.UnitPrice, 0) || tm.UnitPrice <= 0 || tm.UnitPrice > MaxUnitPrice {
		return invalid(prefix+"terms.unitPrice", "must be a positive number of at most %g (per million tokens), not %g", float64(MaxUnitPrice), tm.UnitPrice)
	}
	if err := checkCurrency(prefix+"terms.currency", tm.Currency); err != nil {
		return err
	}
	if tm.PriceUnit != "1M tokens" {
		return invalid(prefix+"terms.priceUnit", `must be "1M tokens"`)
	}
	if tm.SettlementRef != "" {
		return checkPattern(prefix+"terms.settlementRef", tm.SettlementRef, reRef, "a reference of up to 256 characters [A-Za-z0-9._:/#-]")
	}
	return nil
}

func (r *AuditRequest) validate() error {
	if err := checkID("batchId", r.BatchID); err != nil {
		return err
	}
	if err := checkText("scope", r.Scope, MaxDescriptionLen, true); err != nil {
		return err
	}
	if len(r.Findings) > MaxFindings {
		return invalid("findings", "has more than %d entries", MaxFindings)
	}
	for i, f := range r.Findings {
		p := fmt.Sprintf("findings[%d]", i)
		if err := checkPattern(p+".rule", f.Rule, reRuleID, "a rule ID from TT-R01 to TT-R14"); err != nil {
			return err
		}
		if err := checkEnum(p+".result", f.Result, findingKinds); err != nil {
			return err
		}
		if len(f.Evidence) > MaxEvidence {
			return invalid(p+".evidence", "has more than %d entries", MaxEvidence)
		}
		for j, e := range f.Evidence {
			if err := checkPattern(fmt.Sprintf("%s.evidence[%d]", p, j), e, reRef, "a transaction ID"); err != nil {
				return err
			}
		}
		if err := checkText(p+".note", f.Note, MaxReasonLen, false); err != nil {
			return err
		}
	}
	return checkEnum("verdict", r.Verdict, verdicts)
}

func (r *StatusRequest) validate() error {
	if err := checkID("batchId", r.BatchID); err != nil {
		return err
	}
	return checkText("reason", r.Reason, MaxReasonLen, true)
}

func (r *RegisterParticipantRequest) validate() error {
	if err := checkMSP("mspId", r.MSPID); err != nil {
		return err
	}
	if err := checkText("name", r.Name, MaxNameLen, true); err != nil {
		return err
	}
	if len(r.Roles) == 0 {
		return invalid("roles", "needs at least one role")
	}
	for i, role := range r.Roles {
		if err := checkEnum(fmt.Sprintf("roles[%d]", i), role, allRoles); err != nil {
			return err
		}
		if role == RoleRegulator {
			return invalid(fmt.Sprintf("roles[%d]", i), "the regulator is fixed when the ledger is created")
		}
	}
	r.Roles = sortedSet(r.Roles)
	return checkRegion("region", r.Region)
}

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
