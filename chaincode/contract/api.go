package contract

import "encoding/json"

// Transaction function names. Every ledger invokes the contract by these
// names with one JSON argument (the request types below).
const (
	FnBootstrap           = "Bootstrap"
	FnRegisterParticipant = "RegisterParticipant"
	FnSuspendParticipant  = "SuspendParticipant"
	FnCollect             = "CollectBatch"
	FnProcess             = "ProcessBatches"
	FnAssess              = "AssessBatch"
	FnCirculate           = "CirculateBatch"
	FnTrade               = "RecordTrade"
	FnTradeBulk           = "RecordTrades"
	FnAudit               = "AuditBatch"
	FnFreeze              = "FreezeBatch"
	FnUnfreeze            = "UnfreezeBatch"
	FnRetire              = "RetireBatch"

	FnGetParticipant   = "GetParticipant"
	FnListParticipants = "ListParticipants"
	FnGetBatch         = "GetBatch"
	FnListBatches      = "ListBatches"
	FnHistory          = "History"
	FnLineage          = "Lineage"
	FnImpact           = "Impact"
	FnCompliance       = "Compliance"
	FnListTrades       = "ListTrades"
	FnPrices           = "Prices"
	FnGetEvent         = "GetEvent"
	FnReadableEvents   = "ReadableEvents"
)

// TransientTerms is the transient-map key under which a trade's private terms
// travel: a [Terms] object for RecordTrade, an array of [Terms] (one per
// trade, in order) for RecordTrades.
const TransientTerms = "terms"

// TransientSalts is the transient-map key under which the salts of a
// submission's trades travel: [SaltSize] random bytes per trade, concatenated
// in the order of the trades. The app draws them from a cryptographic random
// source for every submission; the contract stores each inside the trade's
// private values (see [FormatVersion]) and refuses a trade without one.
const TransientSalts = "salts"

// EventName is the name of the chaincode event every write sets, including
// writes that record no lifecycle event; its payload is a [WriteEvent].
const EventName = "tokentrail"

// WriteEvent is the chaincode event payload of a write: the events it
// recorded, in the order they were recorded.
type WriteEvent struct {
	Events []Event `json:"events"`
}

// BootstrapRequest makes the caller the ledger's regulator. It succeeds once.
type BootstrapRequest struct {
	Name   string `json:"name"`
	Region string `json:"region"`
}

// RegisterParticipantRequest registers an organisation (regulator only).
type RegisterParticipantRequest struct {
	MSPID  string   `json:"mspId"`
	Name   string   `json:"name"`
	Roles  []string `json:"roles"`
	Region string   `json:"region"`
}

// SuspendParticipantRequest suspends an organisation (regulator only).
type SuspendParticipantRequest struct {
	MSPID  string `json:"mspId"`
	Reason string `json:"reason"`
}

// CollectRequest registers a collected batch. ID may be empty: the contract
// then derives a UUIDv7 from the transaction.
type CollectRequest struct {
	ID               string        `json:"id,omitempty"`
	Name             string        `json:"name"`
	Description      string        `json:"description,omitempty"`
	Sector           string        `json:"sector"`
	Modality         string        `json:"modality"`
	Languages        []string      `json:"languages,omitempty"`
	Tokens           Tokens        `json:"tokens"`
	ContentDigest    string        `json:"contentDigest"`
	SizeBytes        int64         `json:"sizeBytes"`
	Records          int64         `json:"records"`
	Classification   string        `json:"classification"`
	PersonalInfo     string        `json:"personalInfo"`
	Deidentification string        `json:"deidentification"`
	LegalBasis       string        `json:"legalBasis"`
	ConsentRef       string        `json:"consentRef,omitempty"`
	Purposes         []string      `json:"purposes"`
	Region           string        `json:"region"`
	Licence          string        `json:"licence,omitempty"`
	RetentionUntil   string        `json:"retentionUntil,omitempty"`
	Quality          *QualityInput `json:"quality,omitempty"`
	Source           Source        `json:"source"`
}

// QualityInput is a quality assessment as a request states it.
type QualityInput struct {
	Score   float64            `json:"score"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Method  string             `json:"method"`
}

// OutputRequest is one new batch produced by processing.
type OutputRequest struct {
	ID            string        `json:"id,omitempty"`
	Name          string        `json:"name"`
	Description   string        `json:"description,omitempty"`
	Tokens        Tokens        `json:"tokens"`
	ContentDigest string        `json:"contentDigest"`
	SizeBytes     int64         `json:"sizeBytes"`
	Records       int64         `json:"records"`
	Modality      string        `json:"modality,omitempty"`
	Languages     []string      `json:"languages,omitempty"`
	Quality       *QualityInput `json:"quality,omitempty"`
}

// ProcessRequest records processing of inputs into new output batches. The
// outputs' region is the processor's registered region; CrossBorder documents
// the transfer when that differs from an input's region.
type ProcessRequest struct {
	Inputs      []string        `json:"inputs"`
	Operations  []string        `json:"operations"`
	Tool        Tool            `json:"tool"`
	Outputs     []OutputRequest `json:"outputs"`
	CrossBorder *CrossBorder    `json:"crossBorder,omitempty"`
}

// AssessRequest records a quality assessment of a batch.
type AssessRequest struct {
	BatchID string             `json:"batchId"`
	Score   *float64           `json:"score"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Method  string             `json:"method"`
}

// CirculateRequest records that a batch is made available to another party.
type CirculateRequest struct {
	BatchID     string       `json:"batchId"`
	To          string       `json:"to"`
	Purpose     string       `json:"purpose"`
	AccessMode  string       `json:"accessMode"`
	CrossBorder *CrossBorder `json:"crossBorder,omitempty"`
	ExpiresAt   string       `json:"expiresAt,omitempty"`
}

// TradeRequest records one trade. Its terms travel in the transient map
// under [TransientTerms], never in the request itself.
type TradeRequest struct {
	TradeID  string   `json:"tradeId"`
	BatchID  string   `json:"batchId"`
	Seller   string   `json:"seller"`
	Buyer    string   `json:"buyer"`
	Tokens   int64    `json:"tokens"`
	Rights   string   `json:"rights"`
	Purposes []string `json:"purposes"`
}

// BulkTradeRequest records up to [MaxBulkTrades] trades in one transaction.
type BulkTradeRequest struct {
	Trades []TradeRequest `json:"trades"`
}

// AuditRequest records an audit of a batch.
type AuditRequest struct {
	BatchID  string    `json:"batchId"`
	Scope    string    `json:"scope"`
	Findings []Finding `json:"findings"`
	Verdict  string    `json:"verdict"`
}

// StatusRequest freezes, unfreezes or retires a batch.
type StatusRequest struct {
	BatchID string `json:"batchId"`
	Reason  string `json:"reason"`
}

// WriteResult is what a write returns.
type WriteResult struct {
	Participant *Participant `json:"participant,omitempty"`
	Batch       *Batch       `json:"batch,omitempty"`
	Batches     []Batch      `json:"batches,omitempty"`
	Event       *Event       `json:"event,omitempty"`
	// Replayed is true when a trade was an exact replay: nothing was written
	// and Event is the first recording's.
	Replayed bool `json:"replayed,omitempty"`
}

// BulkTradeResult is what RecordTrades returns: one result per trade, in
// request order.
type BulkTradeResult struct {
	Results []BulkItemResult `json:"results"`
}

// Bulk item statuses.
const (
	BulkCommitted = "committed"
	BulkReplayed  = "replayed"
	BulkRejected  = "rejected"
)

// BulkItemResult is one trade's outcome in a bulk submission.
type BulkItemResult struct {
	TradeID string `json:"tradeId"`
	Status  string `json:"status"`
	EventID string `json:"eventId,omitempty"`
	TxID    string `json:"txId,omitempty"`
	Error   *Error `json:"error,omitempty"`
	Event   *Event `json:"-"`
}

// Query requests.

// IDRequest names one batch, participant or event.
type IDRequest struct {
	ID string `json:"id"`
}

// PageRequest pages a list. PageSize 0 means [DefaultPageSize].
type PageRequest struct {
	PageSize  int    `json:"pageSize,omitempty"`
	PageToken string `json:"pageToken,omitempty"`
}

// ListBatchesRequest filters and pages batches.
type ListBatchesRequest struct {
	Sector   string `json:"sector,omitempty"`
	Modality string `json:"modality,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Status   string `json:"status,omitempty"`
	PageRequest
}

// HistoryRequest pages a batch's events in seq order.
type HistoryRequest struct {
	BatchID string `json:"batchId"`
	PageRequest
}

// LineageRequest asks for the lineage graph around a batch.
type LineageRequest struct {
	BatchID   string `json:"batchId"`
	Direction string `json:"direction,omitempty"` // up, down or both (default)
	Depth     int    `json:"depth,omitempty"`     // default 10, at most 50
}

// ListTradesRequest filters and pages trades. From and To are RFC 3339 times
// (To exclusive).
type ListTradesRequest struct {
	BatchID string `json:"batchId,omitempty"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	PageRequest
}

// PricesRequest asks for the price index. Sector, modality and currency
// select whole cells; nothing is aggregated across cells.
type PricesRequest struct {
	Sector   string `json:"sector,omitempty"`
	Modality string `json:"modality,omitempty"`
	Currency string `json:"currency,omitempty"`
	// From and To are RFC 3339 times (To exclusive). For anyone but the
	// regulator they must be starts of periods of the interval.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Interval is "day" (default: one cell per UTC day), "week" (ISO weeks,
	// from Monday 00:00Z), "month", or, for the regulator only, "window" (one
	// cell for the whole window).
	Interval string `json:"interval,omitempty"`
}

// Query responses.

// Page is one page of a list.
type Page[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"nextPageToken"`
}

// BatchView is a batch as a caller sees it: the whole batch, or only its ID
// and status when the caller may not read it.
type BatchView struct {
	*Batch
	ID       string `json:"id"`
	Redacted bool   `json:"redacted,omitempty"`
}

// Edge is one derivation in a lineage graph: From is a parent, To a child.
type Edge struct {
	From       string   `json:"from"`
	To         string   `json:"to"`
	EventID    string   `json:"eventId"`
	TxID       string   `json:"txId"`
	Operations []string `json:"operations,omitempty"`
	// Redacted: the caller may read neither end, so the edge shows only
	// that one derives from the other.
	Redacted bool `json:"redacted,omitempty"`
}

// Lineage is the graph around a batch; nodes and edges are in a stable order
// (breadth first, then by ID).
type Lineage struct {
	Root      string `json:"root"`
	Direction string `json:"direction"`
	Depth     int    `json:"depth"`
	Nodes     []Node `json:"nodes"`
	Edges     []Edge `json:"edges"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Node is a batch in a lineage graph with its distance from the root
// (negative: ancestor, positive: descendant).
type Node struct {
	Distance int `json:"distance"`
	Batch
	Redacted bool `json:"redacted,omitempty"`
}

// MarshalJSON writes a redacted node as {distance, id, status, redacted}
// and nothing else; a readable node as the whole batch with its distance.
func (n Node) MarshalJSON() ([]byte, error) {
	if n.Redacted {
		return json.Marshal(struct {
			Distance int    `json:"distance"`
			ID       string `json:"id"`
			Status   string `json:"status"`
			Redacted bool   `json:"redacted"`
		}{n.Distance, n.ID, n.Status, true})
	}
	type plain Node
	return json.Marshal(plain(n))
}

// Impact is everything downstream of a batch, itself included.
type Impact struct {
	Root             string        `json:"root"`
	Batches          []ImpactBatch `json:"batches"`
	Holders          []string      `json:"holders"`
	CirculationCount int           `json:"circulationCount"`
	TradeCount       int           `json:"tradeCount"`
}

// ImpactBatch is one affected batch with who holds it and where it went.
type ImpactBatch struct {
	Distance     int      `json:"distance"`
	BatchID      string   `json:"batchId"`
	Name         string   `json:"name,omitempty"`
	Owner        string   `json:"owner"`
	Status       string   `json:"status"`
	Custodians   []string `json:"custodians"`
	Circulations []Event  `json:"circulations"`
	Trades       []Trade  `json:"trades"`
}

// Compliance is a batch's compliance report.
type Compliance struct {
	BatchID   string       `json:"batchId"`
	Compliant bool         `json:"compliant"`
	Ancestors []string     `json:"ancestors"`
	Results   []RuleResult `json:"results"`
}

// Rule results.
const (
	ResultPass          = "pass"
	ResultFail          = "fail"
	ResultNotApplicable = "not-applicable"
)

// RuleResult is one rule's result over a batch and its ancestors.
type RuleResult struct {
	Rule     string   `json:"rule"`
	Title    string   `json:"title"`
	Result   string   `json:"result"`
	Detail   string   `json:"detail"`
	Evidence []string `json:"evidence"`
}

// Prices is the price index.
type Prices struct {
	From     string        `json:"from,omitempty"`
	To       string        `json:"to,omitempty"`
	Interval string        `json:"interval"`
	Buckets  []PriceBucket `json:"buckets"`
	// Withheld counts the cells in Buckets that are suppressed for the
	// caller.
	Withheld int `json:"withheld"`
	// Skipped counts stored price points the index could not use (out of
	// range or unreadable, written by an earlier version); the regulator's
	// answer only.
	Skipped int `json:"skipped,omitempty"`
}

// PriceBucket is one cell of the index: one sector, modality and currency
// over one period. A cell suppressed for the caller carries no numbers.
type PriceBucket struct {
	Sector     string `json:"sector"`
	Modality   string `json:"modality"`
	Currency   string `json:"currency"`
	Start      string `json:"start"`
	End        string `json:"end"`
	Suppressed bool   `json:"suppressed,omitempty"`
	*PriceStats
}

// PriceStats are a published cell's numbers. Prices are per million tokens.
type PriceStats struct {
	Trades int64 `json:"trades"`
	Tokens int64 `json:"tokens"`
	// VWAP is the volume-weighted average price per million tokens.
	VWAP float64 `json:"vwap"`
	// QualityAdjusted is the price per million tokens per 100 quality points:
	// sum(price×tokens) / sum(tokens×score/100), over trades of assessed batches.
	QualityAdjusted float64 `json:"qualityAdjusted"`
	AvgQuality      float64 `json:"avgQuality"`
	// Median and IQR are banded (means of a band of at least 3 prices around
	// each quantile, never one trade's price); absent when the cell is too
	// small for the caller (see [MinQuantileTrades]).
	Median *float64 `json:"median,omitempty"`
	IQR    *float64 `json:"iqr,omitempty"`
}

// EventRef locates an event: the transaction that recorded it and its copy
// in the first batch's history.
type EventRef struct {
	Event Event  `json:"event"`
	TxID  string `json:"txId"`
}
