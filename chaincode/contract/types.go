package contract

// Roles a participant may hold.
const (
	RoleRegulator = "regulator"
	RoleProvider  = "provider"
	RoleProcessor = "processor"
	RoleExchange  = "exchange"
	RoleConsumer  = "consumer"
	RoleAuditor   = "auditor"
)

// Event types.
const (
	EventCollected  = "COLLECTED"
	EventProcessed  = "PROCESSED"
	EventAssessed   = "ASSESSED"
	EventCirculated = "CIRCULATED"
	EventTraded     = "TRADED"
	EventAudited    = "AUDITED"
	EventFrozen     = "FROZEN"
	EventUnfrozen   = "UNFROZEN"
	EventRetired    = "RETIRED"
)

// Batch statuses.
const (
	StatusActive  = "active"
	StatusFrozen  = "frozen"
	StatusRetired = "retired"
)

// TermsCollection is the private data collection that holds trade terms and
// the price points derived from them. On Fabric only the regulator's and the
// exchanges' peers hold it.
const TermsCollection = "tradeTerms"

// Participant is an organisation on the ledger, identified by its MSP ID.
type Participant struct {
	MSPID        string   `json:"mspId"`
	Name         string   `json:"name"`
	Roles        []string `json:"roles"`
	Region       string   `json:"region"`
	Status       string   `json:"status"` // active or suspended
	SuspendedFor string   `json:"suspendReason,omitempty"`
	RegisteredBy string   `json:"registeredBy"`
	TxID         string   `json:"txId"`
}

// Tokens is a token count measured with a named tokenizer.
type Tokens struct {
	Count     int64  `json:"count"`
	Tokenizer string `json:"tokenizer"`
}

// Quality is a batch's latest quality assessment. Metrics is a map: encoding/json
// writes map keys sorted, so its JSON is the same on every node.
type Quality struct {
	Score      float64            `json:"score"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	Method     string             `json:"method"`
	AssessedBy string             `json:"assessedBy,omitempty"`
	TxID       string             `json:"txId,omitempty"`
}

// Source says where collected data came from.
type Source struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Region      string `json:"region,omitempty"`
}

// Batch is the current state of a token batch.
type Batch struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Owner       string   `json:"owner"`
	Custodians  []string `json:"custodians"`
	// CustodyExpiresAt gives, for custodians whose custody was granted
	// for a time only, the instant it lapses (RFC 3339). A lapsed
	// custodian stays listed, with its expiry, and holds nothing.
	CustodyExpiresAt map[string]string `json:"custodyExpiresAt,omitempty"`
	Sector           string            `json:"sector"`
	Modality         string            `json:"modality"`
	Languages        []string          `json:"languages,omitempty"`
	Tokens           Tokens            `json:"tokens"`
	ContentDigest    string            `json:"contentDigest"`
	SizeBytes        int64             `json:"sizeBytes"`
	Records          int64             `json:"records"`
	Classification   string            `json:"classification"`
	PersonalInfo     string            `json:"personalInfo"`
	Deidentification string            `json:"deidentification"`
	LegalBasis       string            `json:"legalBasis"`
	ConsentRef       string            `json:"consentRef,omitempty"`
	Purposes         []string          `json:"purposes"`
	Region           string            `json:"region"`
	Licence          string            `json:"licence,omitempty"`
	RetentionUntil   string            `json:"retentionUntil,omitempty"`
	Quality          *Quality          `json:"quality,omitempty"`
	Parents          []string          `json:"parents,omitempty"`
	Source           *Source           `json:"source,omitempty"`
	Status           string            `json:"status"`
	RetiredFor       string            `json:"retiredFor,omitempty"`
	Version          int64             `json:"version"`
	CreatedTx        string            `json:"createdTxId"`
	CreatedAt        string            `json:"createdAt"`
	UpdatedAt        string            `json:"updatedAt"`
	// FormatVersion is the version of this record's format ([BatchFormat]);
	// absent in records of version 1.
	FormatVersion int `json:"formatVersion,omitempty"`
}

// Event is one lifecycle event as recorded in a batch's history. An event
// that touches several batches (PROCESSED) is recorded once per batch, each
// copy with that batch's Seq.
type Event struct {
	EventID   string   `json:"eventId"`
	Type      string   `json:"type"`
	BatchIDs  []string `json:"batchIds"`
	BatchID   string   `json:"batchId"`
	Seq       int64    `json:"seq"`
	Actor     string   `json:"actor"`
	TxID      string   `json:"txId"`
	Timestamp string   `json:"timestamp"`

	Collected  *CollectedPayload  `json:"collected,omitempty"`
	Processed  *ProcessedPayload  `json:"processed,omitempty"`
	Assessed   *AssessedPayload   `json:"assessed,omitempty"`
	Circulated *CirculatedPayload `json:"circulated,omitempty"`
	Traded     *TradedPayload     `json:"traded,omitempty"`
	Audited    *AuditedPayload    `json:"audited,omitempty"`
	Status     *StatusPayload     `json:"status,omitempty"`
}

// CollectedPayload records what a provider registered.
type CollectedPayload struct {
	Source Source `json:"source"`
	// Quality is the assessment given at collection, if any; the
	// compliance report cites the collection as that assessment. Events
	// recorded before it existed do not have it.
	Quality *AssessedPayload `json:"quality,omitempty"`
}

// ProcessedPayload records one processing step.
type ProcessedPayload struct {
	Inputs     []string `json:"inputs"`
	Operations []string `json:"operations"`
	Tool       Tool     `json:"tool"`
	Outputs    []string `json:"outputs"`
	// Owner is the owner the outputs were given.
	Owner string `json:"owner"`
	// Region is the outputs' region, the processor's.
	Region      string       `json:"region"`
	CrossBorder *CrossBorder `json:"crossBorder,omitempty"`
	// TokensIn and TokensOut are the token totals; KeptRatio is TokensOut /
	// TokensIn rounded to 6 decimals, recorded for reducing operations.
	TokensIn  int64   `json:"tokensIn"`
	TokensOut int64   `json:"tokensOut"`
	KeptRatio float64 `json:"keptRatio"`
	// OutputQuality is the assessment given to outputs at processing, by
	// output ID (a map: its JSON keys are sorted).
	OutputQuality map[string]AssessedPayload `json:"outputQuality,omitempty"`
}

// Tool names the software that processed a batch.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// AssessedPayload records a quality assessment.
type AssessedPayload struct {
	Score   float64            `json:"score"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Method  string             `json:"method"`
}

// CrossBorder documents a transfer out of the batch's region.
type CrossBorder struct {
	Destination string `json:"destination"`
	Mechanism   string `json:"mechanism,omitempty"`
	ApprovalRef string `json:"approvalRef,omitempty"`
}

// CirculatedPayload records that a batch was made available to another party.
type CirculatedPayload struct {
	To          string       `json:"to"`
	Purpose     string       `json:"purpose"`
	AccessMode  string       `json:"accessMode"`
	CrossBorder *CrossBorder `json:"crossBorder,omitempty"`
	ExpiresAt   string       `json:"expiresAt,omitempty"`
}

// TradedPayload records a trade. Its private terms are not part of it: they
// live in [TermsCollection] only. (No digest of them is published: prices
// have so little entropy that a digest would give them away.)
type TradedPayload struct {
	TradeID  string   `json:"tradeId"`
	Exchange string   `json:"exchange"`
	Seller   string   `json:"seller"`
	Buyer    string   `json:"buyer"`
	Tokens   int64    `json:"tokens"`
	Rights   string   `json:"rights"`
	Purposes []string `json:"purposes"`
}

// Finding is one rule result in an audit.
type Finding struct {
	Rule     string   `json:"rule"`
	Result   string   `json:"result"`
	Evidence []string `json:"evidence,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// AuditedPayload records an auditor's findings.
type AuditedPayload struct {
	Scope    string    `json:"scope"`
	Findings []Finding `json:"findings"`
	Verdict  string    `json:"verdict"`
}

// StatusPayload records a freeze, unfreeze or retirement.
type StatusPayload struct {
	Reason string `json:"reason"`
}

// Terms are a trade's private terms.
type Terms struct {
	UnitPrice     float64 `json:"unitPrice"`
	Currency      string  `json:"currency"`
	PriceUnit     string  `json:"priceUnit"`
	SettlementRef string  `json:"settlementRef,omitempty"`
}

// Trade is a recorded trade as the trades query returns it. Terms are present
// only for the regulator and the exchange that recorded it.
type Trade struct {
	TradeID   string   `json:"tradeId"`
	Exchange  string   `json:"exchange"`
	BatchID   string   `json:"batchId"`
	Seller    string   `json:"seller"`
	Buyer     string   `json:"buyer"`
	Tokens    int64    `json:"tokens"`
	Rights    string   `json:"rights"`
	Purposes  []string `json:"purposes"`
	EventID   string   `json:"eventId"`
	TxID      string   `json:"txId"`
	Timestamp string   `json:"timestamp"`
	Digest    string   `json:"contentDigest"`
	Terms     *Terms   `json:"terms,omitempty"`
}
