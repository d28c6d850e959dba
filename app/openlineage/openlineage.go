// Package openlineage converts between tokentrail's lineage and OpenLineage
// (https://openlineage.io, spec 2-0-2): it writes the PROCESSED events of a
// lineage graph as RunEvents and maps a pipeline's COMPLETE RunEvent to the
// processing request it records. It knows neither HTTP nor the ledger;
// docs/openlineage.md has the mapping both ways.
package openlineage

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/strictjson"
)

// OpenLineage URIs.
const (
	// Producer is the producer URI of everything tokentrail writes.
	Producer = "https://github.com/tokentrail/tokentrail"
	// RunEventSchema is the schema URL of the RunEvents tokentrail writes.
	RunEventSchema = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	// FacetSchemaBase is where tokentrail's own facet schemas are
	// published, one immutable directory per version (docs/openlineage/facets).
	FacetSchemaBase        = "https://raw.githubusercontent.com/tokentrail/tokentrail/main/docs/openlineage/facets/1-0-0/"
	outputStatisticsSchema = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
)

// Facet keys: tokentrail's custom facets ({prefix}_{name}) and the
// standard output statistics facet.
const (
	FacetTokens           = "tokentrail_tokens"
	FacetClassification   = "tokentrail_classification"
	FacetPersonalInfo     = "tokentrail_personalInfo"
	FacetBatch            = "tokentrail_batch"
	FacetProcessing       = "tokentrail_processing"
	FacetTool             = "tokentrail_tool"
	FacetOutputStatistics = "outputStatistics"
)

// RunEvent types.
const (
	Complete = "COMPLETE"
)

var eventTypes = []string{"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"}

// RunEvent is an OpenLineage RunEvent, with the fields tokentrail reads
// or writes. Facets are kept as JSON: tokentrail reads only its own.
type RunEvent struct {
	EventType string    `json:"eventType,omitempty"`
	EventTime string    `json:"eventTime"`
	Run       *Run      `json:"run,omitempty"`
	Job       *Job      `json:"job,omitempty"`
	Inputs    []Dataset `json:"inputs"`
	Outputs   []Dataset `json:"outputs"`
	Producer  string    `json:"producer"`
	SchemaURL string    `json:"schemaURL"`
}

// Run is a RunEvent's run.
type Run struct {
	RunID  string                     `json:"runId"`
	Facets map[string]json.RawMessage `json:"facets,omitempty"`
}

// Job is a RunEvent's job.
type Job struct {
	Namespace string                     `json:"namespace"`
	Name      string                     `json:"name"`
	Facets    map[string]json.RawMessage `json:"facets,omitempty"`
}

// Dataset is an input or output dataset of a RunEvent.
type Dataset struct {
	Namespace    string                     `json:"namespace"`
	Name         string                     `json:"name"`
	Facets       map[string]json.RawMessage `json:"facets,omitempty"`
	InputFacets  map[string]json.RawMessage `json:"inputFacets,omitempty"`
	OutputFacets map[string]json.RawMessage `json:"outputFacets,omitempty"`
}

// FacetBase holds the fields every facet has.
type FacetBase struct {
	Producer  string `json:"_producer"`
	SchemaURL string `json:"_schemaURL"`
}

func facetBase(name string) FacetBase {
	return FacetBase{Producer: Producer, SchemaURL: FacetSchemaBase + name + ".json#/$defs/" + name}
}

// TokensFacet (tokentrail_tokens, a dataset facet) is a batch's token count.
type TokensFacet struct {
	FacetBase
	Count     int64  `json:"count"`
	Tokenizer string `json:"tokenizer"`
}

// ClassificationFacet (tokentrail_classification, a dataset facet) is a
// batch's data grading.
type ClassificationFacet struct {
	FacetBase
	Classification string `json:"classification"`
}

// PersonalInfoFacet (tokentrail_personalInfo, a dataset facet) is a batch's
// personal-information level and de-identification.
type PersonalInfoFacet struct {
	FacetBase
	PersonalInfo     string `json:"personalInfo"`
	Deidentification string `json:"deidentification"`
}

// BatchFacet (tokentrail_batch, a dataset facet) describes a batch: what a
// pipeline states about an output, and what the ledger holds about it.
// Owner and Status are written on export and ignored on import.
type BatchFacet struct {
	FacetBase
	Name          string   `json:"name,omitempty"`
	Description   string   `json:"description,omitempty"`
	ContentDigest string   `json:"contentDigest"`
	SizeBytes     *int64   `json:"sizeBytes"`
	Records       *int64   `json:"records"`
	Modality      string   `json:"modality,omitempty"`
	Languages     []string `json:"languages,omitempty"`
	Owner         string   `json:"owner,omitempty"`
	Status        string   `json:"status,omitempty"`
}

// ProcessingFacet (tokentrail_processing, a run facet) is a PROCESSED
// event's own payload. On import only Operations and CrossBorder are read;
// the rest is what the ledger recorded and is written on export.
type ProcessingFacet struct {
	FacetBase
	Operations  []string              `json:"operations"`
	CrossBorder *contract.CrossBorder `json:"crossBorder,omitempty"`
	EventID     string                `json:"eventId,omitempty"`
	TxID        string                `json:"txId,omitempty"`
	Actor       string                `json:"actor,omitempty"`
	Owner       string                `json:"owner,omitempty"`
	Region      string                `json:"region,omitempty"`
	TokensIn    *int64                `json:"tokensIn,omitempty"`
	TokensOut   *int64                `json:"tokensOut,omitempty"`
	KeptRatio   *float64              `json:"keptRatio,omitempty"`
}

// ToolFacet (tokentrail_tool, a job facet) names the tool's version.
type ToolFacet struct {
	FacetBase
	Name    string `json:"name,omitempty"`
	Version string `json:"version"`
}

// outputStatisticsFacet is OpenLineage's standard output statistics facet.
type outputStatisticsFacet struct {
	FacetBase
	RowCount int64 `json:"rowCount"`
	Size     int64 `json:"size"`
}

// Lineage is the lineage graph around a batch as OpenLineage RunEvents,
// one per PROCESSED event, in time order.
type Lineage struct {
	Root      string     `json:"root"`
	Namespace string     `json:"namespace"`
	Truncated bool       `json:"truncated,omitempty"`
	Events    []RunEvent `json:"events"`
	// Withheld counts processing steps of the graph whose event the caller
	// may not read (it holds none of the batches the event is read through).
	Withheld int `json:"withheld,omitempty"`
}

// FromEvent is PROCESSED event e as a COMPLETE RunEvent of its tool's job,
// with its inputs and outputs as datasets of namespace ns named by batch ID;
// batches holds what the caller may read of each (nil: nothing).
func FromEvent(ns string, e contract.Event, batches map[string]*contract.Batch) RunEvent {
	p := e.Processed
	tokensIn, tokensOut, ratio := p.TokensIn, p.TokensOut, p.KeptRatio
	run := ProcessingFacet{FacetBase: facetBase("TokentrailProcessingRunFacet"), Operations: p.Operations, CrossBorder: p.CrossBorder,
		EventID: e.EventID, TxID: e.TxID, Actor: e.Actor, Owner: p.Owner, Region: p.Region,
		TokensIn: &tokensIn, TokensOut: &tokensOut, KeptRatio: &ratio}
	tool := ToolFacet{FacetBase: facetBase("TokentrailToolJobFacet"), Name: p.Tool.Name, Version: p.Tool.Version}
	ev := RunEvent{
		EventType: Complete,
		EventTime: e.Timestamp,
		Run:       &Run{RunID: e.EventID, Facets: map[string]json.RawMessage{FacetProcessing: mustRaw(run)}},
		Job:       &Job{Namespace: ns, Name: p.Tool.Name, Facets: map[string]json.RawMessage{FacetTool: mustRaw(tool)}},
		Inputs:    []Dataset{},
		Outputs:   []Dataset{},
		Producer:  Producer,
		SchemaURL: RunEventSchema,
	}
	for _, id := range p.Inputs {
		ev.Inputs = append(ev.Inputs, dataset(ns, id, batches[id], false))
	}
	for _, id := range p.Outputs {
		ev.Outputs = append(ev.Outputs, dataset(ns, id, batches[id], true))
	}
	return ev
}

// dataset is batch id as an OpenLineage dataset, with facets when the
// caller may read the batch (b is nil otherwise).
func dataset(ns, id string, b *contract.Batch, output bool) Dataset {
	d := Dataset{Namespace: ns, Name: id}
	if b == nil {
		return d
	}
	size, records := b.SizeBytes, b.Records
	d.Facets = map[string]json.RawMessage{
		FacetTokens:         mustRaw(TokensFacet{FacetBase: facetBase("TokentrailTokensDatasetFacet"), Count: b.Tokens.Count, Tokenizer: b.Tokens.Tokenizer}),
		FacetClassification: mustRaw(ClassificationFacet{FacetBase: facetBase("TokentrailClassificationDatasetFacet"), Classification: b.Classification}),
		FacetPersonalInfo: mustRaw(PersonalInfoFacet{FacetBase: facetBase("TokentrailPersonalInfoDatasetFacet"),
			PersonalInfo: b.PersonalInfo, Deidentification: b.Deidentification}),
		FacetBatch: mustRaw(BatchFacet{FacetBase: facetBase("TokentrailBatchDatasetFacet"), Name: b.Name, Description: b.Description,
			ContentDigest: b.ContentDigest, SizeBytes: &size, Records: &records, Modality: b.Modality, Languages: b.Languages,
			Owner: b.Owner, Status: b.Status}),
	}
	if output {
		d.OutputFacets = map[string]json.RawMessage{
			FacetOutputStatistics: mustRaw(outputStatisticsFacet{
				FacetBase: FacetBase{Producer: Producer, SchemaURL: outputStatisticsSchema}, RowCount: b.Records, Size: b.SizeBytes}),
		}
	}
	return d
}

func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs of strings and numbers are encoded here
	}
	return b
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func olInvalid(field, format string, a ...any) error {
	return &contract.Error{Kind: contract.KindInvalid, Field: field, Detail: fmt.Sprintf(format, a...)}
}

// ProcessRequest maps a RunEvent to the processing request it
// records, for a ledger whose datasets are in namespace ns. recorded is
// false, with the reason, for run states that record nothing.
func ProcessRequest(ns string, ev RunEvent) (req contract.ProcessRequest, recorded bool, detail string, err error) {
	if ev.Run == nil || ev.Job == nil {
		return req, false, "", olInvalid("run", "required, with job: tokentrail records RunEvents, not DatasetEvents or JobEvents")
	}
	if ev.EventType != "" && !contains(eventTypes, ev.EventType) {
		return req, false, "", olInvalid("eventType", "must be one of %s, or absent", strings.Join(eventTypes, ", "))
	}
	if _, err := time.Parse(time.RFC3339Nano, ev.EventTime); err != nil {
		return req, false, "", olInvalid("eventTime", "required: an RFC 3339 time such as 2026-03-01T09:00:00Z")
	}
	if ev.Producer == "" {
		return req, false, "", olInvalid("producer", "required: a URI naming the software that sent the event")
	}
	if _, err := uuid.Parse(ev.Run.RunID); err != nil || len(ev.Run.RunID) != 36 {
		return req, false, "", olInvalid("run.runId", "required: a UUID such as 0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e5f")
	}
	if ev.EventType == "" {
		// The specification makes eventType optional: such an event says
		// something about a run without ending it.
		return req, false, "a run event without eventType records nothing: tokentrail records a processing step when its run is COMPLETE", nil
	}
	if ev.EventType != Complete {
		return req, false, fmt.Sprintf("a %s run records nothing: tokentrail records a processing step when its run is COMPLETE", ev.EventType), nil
	}

	// Job → tool.
	if ev.Job.Name == "" {
		return req, false, "", olInvalid("job.name", "required: the tool that processed the batches")
	}
	req.Tool.Name = ev.Job.Name
	if raw, ok := ev.Job.Facets[FacetTool]; ok {
		var tf ToolFacet
		if err := decodeFacet(raw, &tf, "job.facets."+FacetTool); err != nil {
			return req, false, "", olFacetError(err, "job.facets."+FacetTool, "must be an object {version, name?}: %s", jsonProblem(err))
		}
		if tf.Name != "" {
			req.Tool.Name = tf.Name
		}
		req.Tool.Version = tf.Version
	}
	if req.Tool.Version == "" {
		if name, version, ok := cutLast(ev.Job.Name, "@"); ok && name != "" && version != "" {
			req.Tool.Name, req.Tool.Version = name, version
		} else {
			return req, false, "", olInvalid("job.facets."+FacetTool+".version",
				"required: the tool's version, in job facet %s {\"version\": ...} or as the job name tool@version", FacetTool)
		}
	}

	// Run facet → operations.
	raw, ok := ev.Run.Facets[FacetProcessing]
	if !ok {
		return req, false, "", olInvalid("run.facets."+FacetProcessing, "required: {\"operations\": [...]} naming what the run did (cleaning, deduplication, ...)")
	}
	var pf ProcessingFacet
	if err := decodeFacet(raw, &pf, "run.facets."+FacetProcessing); err != nil {
		return req, false, "", olFacetError(err, "run.facets."+FacetProcessing, "must be an object {operations, crossBorder?}: %s", jsonProblem(err))
	}
	if len(pf.Operations) == 0 {
		return req, false, "", olInvalid("run.facets."+FacetProcessing+".operations", "required: at least one operation")
	}
	req.Operations, req.CrossBorder = pf.Operations, pf.CrossBorder

	// Inputs → batch IDs.
	if len(ev.Inputs) == 0 {
		return req, false, "", olInvalid("inputs", "required: the batches the run read, as datasets in namespace %s", ns)
	}
	for i, d := range ev.Inputs {
		f := fmt.Sprintf("inputs[%d]", i)
		if d.Namespace != ns {
			return req, false, "", olInvalid(f+".namespace", "must be %s: tokentrail records runs over batches of this ledger only", ns)
		}
		req.Inputs = append(req.Inputs, d.Name)
	}

	// Outputs → new batches.
	if len(ev.Outputs) == 0 {
		return req, false, "", olInvalid("outputs", "required: the batches the run produced, as datasets in namespace %s", ns)
	}
	for i, d := range ev.Outputs {
		f := fmt.Sprintf("outputs[%d]", i)
		if d.Namespace != ns {
			return req, false, "", olInvalid(f+".namespace", "must be %s: the run's outputs become batches of this ledger", ns)
		}
		o := contract.OutputRequest{ID: d.Name}
		raw, ok := d.Facets[FacetTokens]
		if !ok {
			return req, false, "", olInvalid(f+".facets."+FacetTokens, "required: {\"count\", \"tokenizer\"}: the output's measured token count")
		}
		var tf TokensFacet
		if err := decodeFacet(raw, &tf, f+".facets."+FacetTokens); err != nil {
			return req, false, "", olFacetError(err, f+".facets."+FacetTokens, "must be an object {count, tokenizer}: %s", jsonProblem(err))
		}
		o.Tokens = contract.Tokens{Count: tf.Count, Tokenizer: tf.Tokenizer}
		raw, ok = d.Facets[FacetBatch]
		if !ok {
			return req, false, "", olInvalid(f+".facets."+FacetBatch, "required: {\"contentDigest\", \"sizeBytes\", \"records\"} of the output")
		}
		var bf BatchFacet
		if err := decodeFacet(raw, &bf, f+".facets."+FacetBatch); err != nil {
			return req, false, "", olFacetError(err, f+".facets."+FacetBatch, "must be an object {contentDigest, sizeBytes, records, ...}: %s", jsonProblem(err))
		}
		switch {
		case bf.ContentDigest == "":
			return req, false, "", olInvalid(f+".facets."+FacetBatch+".contentDigest", "required: sha256:<64 hex> of the output's manifest")
		case bf.SizeBytes == nil:
			return req, false, "", olInvalid(f+".facets."+FacetBatch+".sizeBytes", "required: the output's size in bytes")
		case bf.Records == nil:
			return req, false, "", olInvalid(f+".facets."+FacetBatch+".records", "required: the output's number of records")
		}
		o.Name = bf.Name
		if o.Name == "" {
			o.Name = d.Name
		}
		o.Description, o.ContentDigest, o.SizeBytes, o.Records = bf.Description, bf.ContentDigest, *bf.SizeBytes, *bf.Records
		o.Modality, o.Languages = bf.Modality, bf.Languages
		req.Outputs = append(req.Outputs, o)
	}
	return req, true, "", nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// facetKeyError is a facet key that strictjson refused, with its full path.
type facetKeyError struct {
	path string
	err  *strictjson.Error
}

func (e *facetKeyError) Error() string { return e.err.Error() }

// decodeFacet decodes a facet. Keys a facet's fields do not name are
// allowed (facets are other producers' objects too), but a key given twice
// or in another case than the field's is refused: encoding/json would
// otherwise take the last one, or match it to the field anyway.
func decodeFacet(raw json.RawMessage, v any, path string) error {
	if err := strictjson.Check(raw, v, true); err != nil {
		var ke *strictjson.Error
		if errors.As(err, &ke) {
			return &facetKeyError{path: path + "." + ke.Path, err: ke}
		}
		return err
	}
	return json.Unmarshal(raw, v)
}

// olFacetError is the error for a facet that did not decode: a refused key
// is named by its path, anything else described after the facet's shape.
func olFacetError(err error, field, format string, a ...any) error {
	var fe *facetKeyError
	if errors.As(err, &fe) {
		return olInvalid(fe.path, "%s", fe.err.Error())
	}
	return olInvalid(field, format, a...)
}

// jsonProblem says what is wrong with a facet's JSON without quoting it.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be a JSON %s", te.Field, te.Type.Kind())
	}
	return "it is not valid JSON"
}

// Field renames a field of the contract's processing request to the path
// of the RunEvent field it came from.
func Field(field string) string {
	head, rest, _ := strings.Cut(field, ".")
	switch {
	case field == "":
		return ""
	case strings.HasPrefix(head, "inputs[") && rest == "":
		return field + ".name"
	case strings.HasPrefix(head, "outputs["):
		name, _, _ := strings.Cut(rest, ".")
		switch name {
		case "id":
			return head + ".name"
		case "tokens":
			return head + ".facets." + FacetTokens + strings.TrimPrefix(rest, "tokens")
		case "":
			return field
		}
		return head + ".facets." + FacetBatch + "." + rest
	case head == "operations" || strings.HasPrefix(head, "operations["):
		return "run.facets." + FacetProcessing + "." + field
	case head == "crossBorder":
		return "run.facets." + FacetProcessing + "." + field
	case field == "tool.name":
		return "job.name"
	case field == "tool.version":
		return "job.facets." + FacetTool + ".version"
	}
	return field
}
