package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tokentrail/tokentrail/app/openlineage"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// olSchemas validates OpenLineage documents offline: the specification's
// RunEvent and outputStatistics schemas (tokentrail's own statement of them
// in testdata/openlineage, or the official files from OPENLINEAGE_SPEC_DIR)
// and tokentrail's own facet schemas (docs/openlineage/facets), each
// registered under its URL.
type olSchemas struct {
	c        *jsonschema.Compiler
	known    map[string]bool // URL of every registered schema
	files    map[string]string
	runEvent *jsonschema.Schema
	cache    map[string]*jsonschema.Schema
	official string // the specification's directory, when its files are used
}

// olSpecDir is the official OpenLineage specification (the spec/ tree of
// the OpenLineage repository): OPENLINEAGE_SPEC_DIR, else
// ../shared/openlineage-spec beside the repository, where CI puts it. With
// neither, the test uses tokentrail's own statement of the two schemas it
// needs (testdata/openlineage), or, with CI set, fails.
func olSpecDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("OPENLINEAGE_SPEC_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "openlineage-spec")
	}
	if _, err := os.Stat(filepath.Join(dir, "OpenLineage.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the OpenLineage specification is not at %s (set OPENLINEAGE_SPEC_DIR): %v", dir, err)
		}
		t.Logf("the OpenLineage specification is not at %s: validating with testdata/openlineage", dir)
		return ""
	}
	return dir
}

// schemaID is the $id of JSON Schema file f.
func schemaID(t *testing.T, f string) string {
	t.Helper()
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
		t.Fatalf("%s has no $id", f)
	}
	return head.ID
}

// specSchemas maps the specification's schema URLs to our statement of them.
var specSchemas = map[string]string{
	"https://openlineage.io/spec/2-0-2/OpenLineage.json":                               "testdata/openlineage/runevent.schema.json",
	"https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json": "testdata/openlineage/output-statistics.schema.json",
}

func newOLSchemas(t *testing.T) *olSchemas {
	t.Helper()
	s := &olSchemas{c: jsonschema.NewCompiler(), known: map[string]bool{}, files: map[string]string{}, cache: map[string]*jsonschema.Schema{}}
	s.c.AssertFormat()
	add := func(url, file string) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := s.c.AddResource(url, doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		s.known[url], s.files[url] = true, file
	}
	if spec := olSpecDir(t); spec != "" {
		// The official specification: OpenLineage.json and every facet
		// schema, each under its $id.
		files, err := filepath.Glob(filepath.Join(spec, "facets", "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append([]string{filepath.Join(spec, "OpenLineage.json")}, files...) {
			add(schemaID(t, f), f)
		}
		s.official = spec
	} else {
		for url, file := range specSchemas {
			add(url, file)
		}
	}
	facets, err := filepath.Glob("../../docs/openlineage/facets/1-0-0/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range facets {
		add(schemaID(t, f), f)
	}
	if len(facets) != 6 {
		t.Fatalf("found %d facet schemas, want tokentrail's 6", len(facets))
	}
	if s.runEvent, err = s.c.Compile(openlineage.RunEventSchema); err != nil {
		t.Fatalf("compile %s: %v", openlineage.RunEventSchema, err)
	}
	return s
}

// facetSuffix is the schema name ending a facet must have where it is attached.
var facetSuffix = map[string]string{
	"run": "RunFacet", "job": "JobFacet", "facets": "DatasetFacet", "outputFacets": "OutputDatasetFacet", "inputFacets": "InputDatasetFacet",
}

// validate checks one RunEvent (see check).
func (s *olSchemas) validate(t *testing.T, raw []byte) {
	t.Helper()
	if err := s.check(raw); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
}

// check checks one RunEvent against the RunEvent schema and every facet in
// it against the schema its _schemaURL names, which must be one of the
// committed schemas, for the right kind of entity, under the key the schema
// defines.
func (s *olSchemas) check(raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if err := s.runEvent.Validate(doc); err != nil {
		return fmt.Errorf("RunEvent fails the OpenLineage schema: %v", err)
	}
	var ev struct {
		Run     struct{ Facets map[string]json.RawMessage }
		Job     struct{ Facets map[string]json.RawMessage }
		Inputs  []struct{ Facets, InputFacets map[string]json.RawMessage }
		Outputs []struct{ Facets, OutputFacets map[string]json.RawMessage }
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return err
	}
	all := []struct {
		where  string
		facets map[string]json.RawMessage
	}{{"run", ev.Run.Facets}, {"job", ev.Job.Facets}}
	for _, d := range ev.Inputs {
		all = append(all, struct {
			where  string
			facets map[string]json.RawMessage
		}{"facets", d.Facets}, struct {
			where  string
			facets map[string]json.RawMessage
		}{"inputFacets", d.InputFacets})
	}
	for _, d := range ev.Outputs {
		all = append(all, struct {
			where  string
			facets map[string]json.RawMessage
		}{"facets", d.Facets}, struct {
			where  string
			facets map[string]json.RawMessage
		}{"outputFacets", d.OutputFacets})
	}
	for _, a := range all {
		if err := s.checkFacets(a.where, a.facets); err != nil {
			return err
		}
	}
	return nil
}

func (s *olSchemas) checkFacets(where string, facets map[string]json.RawMessage) error {
	for key, raw := range facets {
		var base openlineage.FacetBase
		if err := json.Unmarshal(raw, &base); err != nil || base.Producer == "" || base.SchemaURL == "" {
			return fmt.Errorf("facet %s lacks _producer or _schemaURL: %s", key, raw)
		}
		id, ptr, ok := strings.Cut(base.SchemaURL, "#/$defs/")
		if !ok || !s.known[id] {
			return fmt.Errorf("facet %s: _schemaURL %s is not a committed schema's definition", key, base.SchemaURL)
		}
		if !strings.HasSuffix(ptr, facetSuffix[where]) || (where == "facets" && strings.HasSuffix(ptr, "OutputDatasetFacet")) {
			return fmt.Errorf("facet %s (%s) is attached to %s", key, ptr, where)
		}
		// The definition itself, then the document root, which names the
		// key the facet goes under.
		for _, loc := range []string{base.SchemaURL, id} {
			sch, ok := s.cache[loc]
			if !ok {
				var err error
				if sch, err = s.c.Compile(loc); err != nil {
					return fmt.Errorf("compile %s: %v", loc, err)
				}
				s.cache[loc] = sch
			}
			v := []byte(raw)
			if loc == id {
				v, _ = json.Marshal(map[string]json.RawMessage{key: raw})
			}
			doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(v))
			if err := sch.Validate(doc); err != nil {
				return fmt.Errorf("facet %s fails %s: %v", key, loc, err)
			}
		}
		var root struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		f, err := os.ReadFile(s.files[id])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(f, &root); err != nil {
			return err
		}
		if root.Properties[key] == nil {
			return fmt.Errorf("facet %s: %s defines no facet under that key", key, id)
		}
	}
	return nil
}

type olAnswer struct {
	Root      string            `json:"root"`
	Namespace string            `json:"namespace"`
	Events    []json.RawMessage `json:"events"`
	Withheld  int               `json:"withheld"`
}

func (a olAnswer) decoded(t *testing.T) []openlineage.RunEvent {
	t.Helper()
	out := make([]openlineage.RunEvent, len(a.Events))
	for i, raw := range a.Events {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// twoStepLineage records raw-a + raw-b → (merge, deduplication) → mid →
// (filtering, split) → out-1 + out-2, processed by the processor on the
// provider's batches, and returns the events' IDs in order.
func twoStepLineage(e *env, prefix string) (step1, step2 string) {
	e.t.Helper()
	for _, id := range []string{prefix + "raw-a", prefix + "raw-b"} {
		e.collected(id)
		e.must(http.StatusCreated, "POST", "/api/v1/batches/"+id+"/circulations", provider,
			map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)
	}
	var w writeAnswer
	e.must(http.StatusCreated, "POST", "/api/v1/processing", processor, map[string]any{
		"inputs": []string{prefix + "raw-a", prefix + "raw-b"}, "operations": []string{"merge", "deduplication"},
		"tool": map[string]string{"name": "dedup", "version": "2.1"}, "outputs": []any{outputBody(prefix+"mid", 1_500_000)}}, &w)
	step1 = w.Event.EventID
	e.must(http.StatusCreated, "POST", "/api/v1/processing", processor, map[string]any{
		"inputs": []string{prefix + "mid"}, "operations": []string{"filtering", "split"},
		"tool":    map[string]string{"name": "filter", "version": "0.9"},
		"outputs": []any{outputBody(prefix+"out-1", 600_000), outputBody(prefix+"out-2", 700_000)}}, &w)
	return step1, w.Event.EventID
}

// TestOpenLineageExportValidates exports a two-step lineage and checks
// every RunEvent against the OpenLineage schema and every facet against its
// own schema, and that the events say what the ledger recorded.
func TestOpenLineageExportValidates(t *testing.T) {
	e := newEnv(t)
	schemas := newOLSchemas(t)
	step1, step2 := twoStepLineage(e, "")

	var a olAnswer
	e.must(http.StatusOK, "GET", "/api/v1/batches/out-1/lineage?format=openlineage&direction=up", processor, nil, &a)
	if a.Root != "out-1" || a.Namespace != "tokentrail://test" || a.Withheld != 0 {
		t.Fatalf("answer: root %q namespace %q withheld %d", a.Root, a.Namespace, a.Withheld)
	}
	if len(a.Events) != 2 {
		t.Fatalf("%d RunEvents, want one per PROCESSED event (2)", len(a.Events))
	}
	for _, raw := range a.Events {
		schemas.validate(t, raw)
	}
	evs := a.decoded(t)
	if evs[0].Run.RunID != step1 || evs[1].Run.RunID != step2 {
		t.Fatalf("runIds %s, %s; want the PROCESSED events %s, %s in time order", evs[0].Run.RunID, evs[1].Run.RunID, step1, step2)
	}
	var hist contract.Page[contract.Event]
	e.must(http.StatusOK, "GET", "/api/v1/batches/mid/events", processor, nil, &hist)
	if evs[0].EventTime != hist.Items[0].Timestamp || evs[0].EventType != "COMPLETE" {
		t.Fatalf("eventTime %s type %s; want the transaction's time %s, COMPLETE", evs[0].EventTime, evs[0].EventType, hist.Items[0].Timestamp)
	}
	names := func(ds []openlineage.Dataset) []string {
		var out []string
		for _, d := range ds {
			if d.Namespace != a.Namespace {
				t.Fatalf("dataset %s in namespace %s", d.Name, d.Namespace)
			}
			out = append(out, d.Name)
		}
		return out
	}
	if in, out := names(evs[1].Inputs), names(evs[1].Outputs); !slices.Equal(in, []string{"mid"}) || !slices.Equal(out, []string{"out-1", "out-2"}) {
		t.Fatalf("step 2: inputs %v outputs %v", in, out)
	}
	if evs[0].Job.Name != "dedup" || evs[1].Job.Name != "filter" {
		t.Fatalf("jobs %s, %s", evs[0].Job.Name, evs[1].Job.Name)
	}
	var tool openlineage.ToolFacet
	json.Unmarshal(evs[1].Job.Facets[openlineage.FacetTool], &tool)
	var proc openlineage.ProcessingFacet
	json.Unmarshal(evs[1].Run.Facets[openlineage.FacetProcessing], &proc)
	if tool.Version != "0.9" || !slices.Equal(proc.Operations, []string{"filtering", "split"}) || proc.Actor != processor || *proc.TokensOut != 1_300_000 {
		t.Fatalf("step 2 facets: tool %+v processing %+v", tool, proc)
	}
	var batch contract.Batch
	e.must(http.StatusOK, "GET", "/api/v1/batches/out-2", processor, nil, &batch)
	out2 := evs[1].Outputs[1] // outside the graph of out-1's ancestors, but the caller may read it
	var tokens openlineage.TokensFacet
	var class openlineage.ClassificationFacet
	var pi openlineage.PersonalInfoFacet
	var bf openlineage.BatchFacet
	json.Unmarshal(out2.Facets[openlineage.FacetTokens], &tokens)
	json.Unmarshal(out2.Facets[openlineage.FacetClassification], &class)
	json.Unmarshal(out2.Facets[openlineage.FacetPersonalInfo], &pi)
	json.Unmarshal(out2.Facets[openlineage.FacetBatch], &bf)
	if tokens.Count != batch.Tokens.Count || tokens.Tokenizer != batch.Tokens.Tokenizer || class.Classification != batch.Classification ||
		pi.PersonalInfo != batch.PersonalInfo || bf.ContentDigest != batch.ContentDigest || *bf.SizeBytes != batch.SizeBytes || bf.Owner != batch.Owner {
		t.Fatalf("out-2 facets %+v %+v %+v %+v; batch %+v", tokens, class, pi, bf, batch)
	}
	if out2.OutputFacets[openlineage.FacetOutputStatistics] == nil || evs[1].Inputs[0].OutputFacets != nil {
		t.Fatal("outputStatistics belongs on outputs, and only there")
	}

	// The whole graph from the top, and what a party holding only the last
	// output may see: the step that made it, not the one before.
	e.must(http.StatusOK, "GET", "/api/v1/batches/raw-a/lineage?format=openlineage&direction=down", regulator, nil, &a)
	if len(a.Events) != 2 {
		t.Fatalf("downstream of raw-a: %d RunEvents, want 2", len(a.Events))
	}
	for _, raw := range a.Events {
		schemas.validate(t, raw)
	}
	e.must(http.StatusCreated, "POST", "/api/v1/batches/out-1/circulations", provider,
		map[string]any{"to": consumer, "purpose": "model-training", "accessMode": "copy"}, nil)
	e.must(http.StatusOK, "GET", "/api/v1/batches/out-1/lineage?format=openlineage&direction=up", consumer, nil, &a)
	if len(a.Events) != 1 || a.Withheld != 1 {
		t.Fatalf("consumer: %d RunEvents, %d withheld; want 1 and 1", len(a.Events), a.Withheld)
	}
	schemas.validate(t, a.Events[0])
	ev := a.decoded(t)[0]
	if ev.Run.RunID != step2 || ev.Inputs[0].Facets != nil || ev.Outputs[0].Facets == nil || ev.Outputs[1].Facets != nil {
		t.Fatalf("consumer's RunEvent shows what it may not read, or hides what it may: %s", a.Events[0])
	}
}

// TestOpenLineageValidatorRejects makes sure the validation above can fail:
// each broken copy of a valid export is refused.
func TestOpenLineageValidatorRejects(t *testing.T) {
	e := newEnv(t)
	schemas := newOLSchemas(t)
	twoStepLineage(e, "")
	var a olAnswer
	e.must(http.StatusOK, "GET", "/api/v1/batches/mid/lineage?format=openlineage&direction=up", processor, nil, &a)
	good := string(a.Events[0])
	for name, bad := range map[string]string{
		"runId not a UUID":           strings.Replace(good, `"runId":"`, `"runId":"x`, 1),
		"no producer":                strings.Replace(good, `"producer":`, `"producerX":`, 1),
		"unknown classification":     strings.Replace(good, `"classification":"general"`, `"classification":"secret"`, 1),
		"tokens not a number":        strings.Replace(good, `"tokenizer":"o200k_base"`, `"tokenizer":7`, 1),
		"facet without _schemaURL":   strings.Replace(good, `"_schemaURL"`, `"_schemaUrl"`, 1),
		"unknown field in own facet": strings.Replace(good, `"contentDigest"`, `"contentDigestX":1,"contentDigest"`, 1),
		"unknown operation":          strings.Replace(good, `"operations":["`, `"operations":["magic","`, 1),
		"facet under the wrong key":  strings.Replace(good, `"tokentrail_tool"`, `"tokentrail_tools"`, 1),
	} {
		if bad == good {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if err := schemas.check([]byte(bad)); err == nil {
			t.Errorf("%s: the broken RunEvent passed validation", name)
		}
	}
	if err := schemas.check([]byte(good)); err != nil {
		t.Fatalf("the valid RunEvent failed validation: %v", err)
	}
}

// pipelineRun is a RunEvent as a pipeline would send it.
func pipelineRun(ns, runID, job string, inputs []string, ops []string, outputs ...map[string]any) map[string]any {
	var ins, outs []any
	for _, id := range inputs {
		ins = append(ins, map[string]any{"namespace": ns, "name": id})
	}
	facet := func(name string, fields map[string]any) map[string]any {
		fields["_producer"] = "https://example.org/pipeline"
		fields["_schemaURL"] = openlineage.FacetSchemaBase + name + ".json#/$defs/" + name
		return fields
	}
	for _, o := range outputs {
		outs = append(outs, map[string]any{"namespace": ns, "name": o["id"], "facets": map[string]any{
			openlineage.FacetTokens: facet("TokentrailTokensDatasetFacet", map[string]any{"count": o["tokens"], "tokenizer": "o200k_base"}),
			openlineage.FacetBatch: facet("TokentrailBatchDatasetFacet", map[string]any{"contentDigest": o["digest"], "sizeBytes": 1000, "records": 10,
				"name": "made by " + job}),
		}})
	}
	return map[string]any{
		"eventType": "COMPLETE", "eventTime": "2026-03-01T10:00:00Z", "producer": "https://example.org/pipeline",
		"schemaURL": openlineage.RunEventSchema,
		"run":       map[string]any{"runId": runID, "facets": map[string]any{openlineage.FacetProcessing: facet("TokentrailProcessingRunFacet", map[string]any{"operations": ops})}},
		"job":       map[string]any{"namespace": "airflow://prod", "name": job},
		"inputs":    ins, "outputs": outs,
	}
}

func out(id string, tokens int) map[string]any {
	return map[string]any{"id": id, "tokens": tokens, "digest": fmt.Sprintf("sha256:%064x", digestN.Add(1))}
}

// graphShape is a lineage graph without what differs between two ledgers
// recording the same steps (event and transaction IDs, times).
func graphShape(t *testing.T, e *env, root, org string) string {
	t.Helper()
	var g contract.Lineage
	e.must(http.StatusOK, "GET", "/api/v1/batches/"+root+"/lineage?direction=both", org, nil, &g)
	var lines []string
	for _, n := range g.Nodes {
		lines = append(lines, fmt.Sprintf("node %s d=%d owner=%s tokens=%d/%s digest=%s size=%d records=%d class=%s pi=%s/%s parents=%v custodians=%v name=%q",
			n.ID, n.Distance, n.Owner, n.Tokens.Count, n.Tokens.Tokenizer, n.ContentDigest, n.SizeBytes, n.Records, n.Classification,
			n.PersonalInfo, n.Deidentification, n.Parents, n.Custodians, n.Name))
	}
	for _, ed := range g.Edges {
		lines = append(lines, fmt.Sprintf("edge %s -> %s %v", ed.From, ed.To, ed.Operations))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestOpenLineageRoundTrip records processing from RunEvents and reads the
// lineage back: the exported events of one ledger, posted to another that
// holds the same collected batches, give the same graph; and a pipeline's
// own RunEvents give the graph they describe.
func TestOpenLineageRoundTrip(t *testing.T) {
	schemas := newOLSchemas(t)
	a := newEnv(t)
	twoStepLineage(a, "")
	var exported olAnswer
	a.must(http.StatusOK, "GET", "/api/v1/batches/raw-a/lineage?format=openlineage&direction=down", processor, nil, &exported)

	b := newEnv(t)
	for _, id := range []string{"raw-a", "raw-b"} {
		// The same batch, collected on the other ledger.
		var raw contract.Batch
		a.must(http.StatusOK, "GET", "/api/v1/batches/"+id, provider, nil, &raw)
		body := collectBody(id)
		body["contentDigest"] = raw.ContentDigest
		b.must(http.StatusCreated, "POST", "/api/v1/batches", provider, body, nil)
		b.must(http.StatusCreated, "POST", "/api/v1/batches/"+id+"/circulations", provider,
			map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)
	}
	for _, raw := range exported.Events {
		var w writeAnswer
		b.must(http.StatusCreated, "POST", "/api/v1/openlineage", processor, []byte(raw), &w)
		if w.Event == nil || w.Event.Type != contract.EventProcessed || len(w.Receipt) == 0 {
			t.Fatalf("answer to a posted RunEvent: %+v", w)
		}
	}
	for _, root := range []string{"raw-a", "out-2"} {
		if ga, gb := graphShape(t, a, root, regulator), graphShape(t, b, root, regulator); ga != gb {
			t.Fatalf("graph around %s differs after the round trip:\n%s\n---\n%s", root, ga, gb)
		}
	}
	var again olAnswer
	b.must(http.StatusOK, "GET", "/api/v1/batches/raw-a/lineage?format=openlineage&direction=down", processor, nil, &again)
	if len(again.Events) != 2 {
		t.Fatalf("%d RunEvents after the round trip", len(again.Events))
	}

	// A pipeline's RunEvents: tool version in the job name, one START that
	// records nothing.
	c := newEnv(t)
	c.collected("src")
	c.must(http.StatusCreated, "POST", "/api/v1/batches/src/circulations", provider,
		map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)
	const ns = "tokentrail://test"
	start := pipelineRun(ns, "0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e5f", "clean@1.4", []string{"src"}, []string{"cleaning"}, out("clean", 900_000))
	start["eventType"] = "START"
	var skipped runEventNotRecorded
	before := c.led.submits.Load()
	c.must(http.StatusOK, "POST", "/api/v1/openlineage", processor, start, &skipped)
	if skipped.Recorded || skipped.EventType != "START" || skipped.Detail == "" || c.led.submits.Load() != before {
		t.Fatalf("START: %+v, %d submissions", skipped, c.led.submits.Load()-before)
	}
	c.must(http.StatusCreated, "POST", "/api/v1/openlineage", processor,
		pipelineRun(ns, "0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e5f", "clean@1.4", []string{"src"}, []string{"cleaning"}, out("clean", 900_000)), nil)
	c.must(http.StatusCreated, "POST", "/api/v1/openlineage", processor,
		pipelineRun(ns, "0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e60", "tok@2", []string{"clean"}, []string{"tokenization", "split"}, out("train", 500_000), out("eval", 400_000)), nil)
	var g contract.Lineage
	c.must(http.StatusOK, "GET", "/api/v1/batches/src/lineage?direction=down", regulator, nil, &g)
	var edges []string
	for _, ed := range g.Edges {
		edges = append(edges, fmt.Sprintf("%s>%s %v", ed.From, ed.To, ed.Operations))
	}
	sort.Strings(edges)
	if want := []string{"clean>eval [split tokenization]", "clean>train [split tokenization]", "src>clean [cleaning]"}; !slices.Equal(edges, want) {
		t.Fatalf("edges %v, want %v", edges, want)
	}
	var olOut olAnswer
	c.must(http.StatusOK, "GET", "/api/v1/batches/src/lineage?format=openlineage&direction=down", regulator, nil, &olOut)
	evs := olOut.decoded(t)
	if len(evs) != 2 || evs[0].Job.Name != "clean" || evs[1].Job.Name != "tok" {
		t.Fatalf("exported jobs: %s", olOut.Events)
	}
	var tool openlineage.ToolFacet
	json.Unmarshal(evs[0].Job.Facets[openlineage.FacetTool], &tool)
	var bf openlineage.BatchFacet
	json.Unmarshal(evs[0].Outputs[0].Facets[openlineage.FacetBatch], &bf)
	if tool.Version != "1.4" || bf.Name != "made by clean@1.4" || *bf.Records != 10 {
		t.Fatalf("tool %+v batch facet %+v", tool, bf)
	}
	for _, raw := range olOut.Events {
		schemas.validate(t, raw)
	}
}

// TestOpenLineageRefusals checks that a RunEvent that cannot be recorded is
// refused 400 naming the RunEvent field, and that the contract's own
// refusals name RunEvent fields too.
func TestOpenLineageRefusals(t *testing.T) {
	e := newEnv(t)
	e.collected("src")
	e.must(http.StatusCreated, "POST", "/api/v1/batches/src/circulations", provider,
		map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)
	const ns = "tokentrail://test"
	good := func() map[string]any {
		return pipelineRun(ns, "0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e5f", "clean@1.4", []string{"src"}, []string{"cleaning"}, out("clean", 900_000))
	}
	outFacets := func(ev map[string]any) map[string]any {
		return ev["outputs"].([]any)[0].(map[string]any)["facets"].(map[string]any)
	}
	for _, tc := range []struct {
		name   string
		change func(map[string]any)
		status int
		field  string
	}{
		{"unknown eventType", func(ev map[string]any) { ev["eventType"] = "DONE" }, 400, "eventType"},
		{"a JobEvent", func(ev map[string]any) { delete(ev, "run") }, 400, "run"},
		{"runId not a UUID", func(ev map[string]any) { ev["run"].(map[string]any)["runId"] = "run-1" }, 400, "run.runId"},
		{"no eventTime", func(ev map[string]any) { delete(ev, "eventTime") }, 400, "eventTime"},
		{"no producer", func(ev map[string]any) { delete(ev, "producer") }, 400, "producer"},
		{"no tool version", func(ev map[string]any) { ev["job"].(map[string]any)["name"] = "clean" }, 400, "job.facets.tokentrail_tool.version"},
		{"no processing facet", func(ev map[string]any) { delete(ev["run"].(map[string]any), "facets") }, 400, "run.facets.tokentrail_processing"},
		{"unknown operation", func(ev map[string]any) {
			ev["run"].(map[string]any)["facets"].(map[string]any)[openlineage.FacetProcessing].(map[string]any)["operations"] = []string{"magic"}
		}, 400, "run.facets.tokentrail_processing.operations[0]"},
		{"no inputs", func(ev map[string]any) { delete(ev, "inputs") }, 400, "inputs"},
		{"input elsewhere", func(ev map[string]any) { ev["inputs"].([]any)[0].(map[string]any)["namespace"] = "s3://bucket" }, 400, "inputs[0].namespace"},
		{"unknown input", func(ev map[string]any) { ev["inputs"].([]any)[0].(map[string]any)["name"] = "nope" }, 404, "inputs[0].name"},
		{"output elsewhere", func(ev map[string]any) { ev["outputs"].([]any)[0].(map[string]any)["namespace"] = "s3://bucket" }, 400, "outputs[0].namespace"},
		{"output ID invalid", func(ev map[string]any) { ev["outputs"].([]any)[0].(map[string]any)["name"] = "a b" }, 400, "outputs[0].name"},
		{"no tokens facet", func(ev map[string]any) { delete(outFacets(ev), openlineage.FacetTokens) }, 400, "outputs[0].facets.tokentrail_tokens"},
		{"tokens as text", func(ev map[string]any) { outFacets(ev)[openlineage.FacetTokens].(map[string]any)["count"] = "many" }, 400, "outputs[0].facets.tokentrail_tokens"},
		{"zero tokens", func(ev map[string]any) { outFacets(ev)[openlineage.FacetTokens].(map[string]any)["count"] = 0 }, 400, "outputs[0].facets.tokentrail_tokens.count"},
		{"no batch facet", func(ev map[string]any) { delete(outFacets(ev), openlineage.FacetBatch) }, 400, "outputs[0].facets.tokentrail_batch"},
		{"no digest", func(ev map[string]any) {
			delete(outFacets(ev)[openlineage.FacetBatch].(map[string]any), "contentDigest")
		}, 400, "outputs[0].facets.tokentrail_batch.contentDigest"},
		{"bad digest", func(ev map[string]any) {
			outFacets(ev)[openlineage.FacetBatch].(map[string]any)["contentDigest"] = "md5:00"
		}, 400, "outputs[0].facets.tokentrail_batch.contentDigest"},
		{"no size", func(ev map[string]any) { delete(outFacets(ev)[openlineage.FacetBatch].(map[string]any), "sizeBytes") }, 400, "outputs[0].facets.tokentrail_batch.sizeBytes"},
		{"no records", func(ev map[string]any) { delete(outFacets(ev)[openlineage.FacetBatch].(map[string]any), "records") }, 400, "outputs[0].facets.tokentrail_batch.records"},
		{"tokens created by cleaning", func(ev map[string]any) { outFacets(ev)[openlineage.FacetTokens].(map[string]any)["count"] = 5_000_000 }, 422, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := good()
			tc.change(ev)
			rec := e.do("POST", "/api/v1/openlineage", processor, ev)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			p := problemOf(t, rec)
			if p.Field != tc.field {
				t.Fatalf("problem names field %q, want %q: %+v", p.Field, tc.field, p)
			}
		})
	}
	// Malformed JSON, and a consumer, which may not read the input and so
	// is answered as if it did not exist.
	if rec := e.do("POST", "/api/v1/openlineage", processor, `{"eventType":`); rec.Code != 400 {
		t.Fatalf("truncated JSON: %d", rec.Code)
	}
	if rec := e.do("POST", "/api/v1/openlineage", consumer, good()); rec.Code != 404 {
		t.Fatalf("consumer: %d %s", rec.Code, rec.Body.String())
	}
	// The good one is recorded; sent again, its outputs exist: 409.
	e.must(http.StatusCreated, "POST", "/api/v1/openlineage", processor, good(), nil)
	if rec := e.do("POST", "/api/v1/openlineage", processor, good()); rec.Code != 409 {
		t.Fatalf("replayed RunEvent: %d %s", rec.Code, rec.Body.String())
	}
}

// TestOpenLineageNoEventType: the specification makes eventType optional;
// an event without one is answered like a run that is not COMPLETE: 200,
// recorded false, nothing submitted.
func TestOpenLineageNoEventType(t *testing.T) {
	e := newEnv(t)
	e.collected("src")
	ev := pipelineRun("tokentrail://test", "0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e5f", "clean@1.4", []string{"src"}, []string{"cleaning"}, out("clean", 900_000))
	delete(ev, "eventType")
	before := e.led.submits.Load()
	var ans runEventNotRecorded
	e.must(http.StatusOK, "POST", "/api/v1/openlineage", processor, ev, &ans)
	if ans.Recorded || ans.EventType != "" || !strings.Contains(ans.Detail, "eventType") || e.led.submits.Load() != before {
		t.Fatalf("answer %+v, %d submissions", ans, e.led.submits.Load()-before)
	}
	// Still checked as a RunEvent: a bad runId is refused.
	ev["run"].(map[string]any)["runId"] = "r1"
	if rec := e.do("POST", "/api/v1/openlineage", processor, ev); rec.Code != 400 || problemOf(t, rec).Field != "run.runId" {
		t.Fatalf("no eventType, bad runId: %d %s", rec.Code, rec.Body.String())
	}
}

func gzipped(t *testing.T, write func(w io.Writer)) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	write(zw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestOpenLineageGzip: a gzip body (as OpenLineage's Python client sends) is
// recorded; a body that inflates beyond MaxOpenLineageBody is refused 413
// without being inflated further (a gzip bomb of 256 MiB of zeros costs a
// few MiB); a damaged stream is 400 and another encoding 415.
func TestOpenLineageGzip(t *testing.T) {
	e := newEnv(t)
	e.collected("src")
	e.must(http.StatusCreated, "POST", "/api/v1/batches/src/circulations", provider,
		map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)
	raw, _ := json.Marshal(pipelineRun("tokentrail://test", "0190d9f2-8b1e-7c3a-9f00-5a1b2c3d4e5f", "clean@1.4", []string{"src"}, []string{"cleaning"}, out("clean", 900_000)))
	post := func(body []byte, encoding string) *httptest.ResponseRecorder {
		return e.doWith("POST", "/api/v1/openlineage", processor, body, map[string]string{"Content-Encoding": encoding})
	}
	good := gzipped(t, func(w io.Writer) { w.Write(raw) })
	if rec := post(good, "gzip"); rec.Code != http.StatusCreated {
		t.Fatalf("gzip RunEvent: %d %s", rec.Code, rec.Body.String())
	}

	bomb := gzipped(t, func(w io.Writer) {
		zero := make([]byte, 1<<20)
		for range 256 {
			w.Write(zero)
		}
	})
	if len(bomb) > MaxBody {
		t.Fatalf("the bomb is %d bytes compressed, more than a body may be", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec := post(bomb, "gzip")
	runtime.ReadMemStats(&after)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("gzip bomb: %d %s", rec.Code, rec.Body.String())
	}
	if p := problemOf(t, rec); !strings.Contains(p.Detail, "inflates to more than") {
		t.Fatalf("gzip bomb problem: %+v", p)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Fatalf("refusing the bomb allocated %d MiB", alloc>>20)
	}
	// Exactly the limit inflated is accepted as far as decoding goes (a
	// JSON problem, not 413); one byte more is refused.
	pad := func(n int) []byte {
		return append(append([]byte(nil), raw...), bytes.Repeat([]byte(" "), n-len(raw))...)
	}
	if rec := post(gzipped(t, func(w io.Writer) { w.Write(pad(MaxOpenLineageBody)) }), "gzip"); rec.Code == http.StatusRequestEntityTooLarge {
		t.Fatalf("a body of exactly %d bytes inflated: %d", MaxOpenLineageBody, rec.Code)
	}
	if rec := post(gzipped(t, func(w io.Writer) { w.Write(pad(MaxOpenLineageBody + 1)) }), "gzip"); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body of %d bytes inflated: %d", MaxOpenLineageBody+1, rec.Code)
	}

	if rec := post(good[:len(good)-6], "gzip"); rec.Code != http.StatusBadRequest {
		t.Fatalf("truncated gzip: %d %s", rec.Code, rec.Body.String())
	}
	if rec := post(raw, "gzip"); rec.Code != http.StatusBadRequest {
		t.Fatalf("plain JSON labelled gzip: %d %s", rec.Code, rec.Body.String())
	}
	if rec := post(good, "br"); rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("Content-Encoding br: %d %s", rec.Code, rec.Body.String())
	}
}

// doWith sends body as JSON with extra headers.
func (e *env) doWith(method, path, org string, body []byte, headers map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+e.keys[org])
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

// TestOpenLineageSpecExamples imports the official specification's own
// examples: each facet example (tests/<Facet>/*.json), attached where its
// schema's name says to a RunEvent that tokentrail can record, is valid
// against the specification and is recorded (201) as the same processing
// step as without it, other producers' facets being ignored; and the
// specification's full example event, which names no batches, is valid and
// refused 400 naming what it lacks.
func TestOpenLineageSpecExamples(t *testing.T) {
	spec := olSpecDir(t)
	if spec == "" {
		t.Skip("needs the official OpenLineage specification")
	}
	schemas := newOLSchemas(t)
	e := newEnv(t)
	e.collected("src")
	e.must(http.StatusCreated, "POST", "/api/v1/batches/src/circulations", provider,
		map[string]any{"to": processor, "purpose": "model-training", "accessMode": "copy"}, nil)

	examples, err := filepath.Glob(filepath.Join(spec, "tests", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) < 30 {
		t.Fatalf("%d facet examples in %s, want the specification's (more than 30)", len(examples), spec)
	}
	for i, f := range examples {
		name := filepath.Base(filepath.Dir(f))
		t.Run(name+"/"+filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var facets map[string]any
			if err := json.Unmarshal(raw, &facets); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("ex-%d", i)
			ev := pipelineRun("tokentrail://test", fmt.Sprintf("0190d9f2-8b1e-7c3a-9f00-%012x", i), "tool@1", []string{"src"}, []string{"cleaning"}, out(id, 900_000))
			input := ev["inputs"].([]any)[0].(map[string]any)
			output := ev["outputs"].([]any)[0].(map[string]any)
			var into map[string]any
			switch {
			case strings.HasSuffix(name, "RunFacet"):
				into = ev["run"].(map[string]any)["facets"].(map[string]any)
			case strings.HasSuffix(name, "JobFacet"):
				into = map[string]any{}
				ev["job"].(map[string]any)["facets"] = into
			case strings.HasSuffix(name, "InputDatasetFacet"):
				into = map[string]any{}
				input["inputFacets"] = into
			case strings.HasSuffix(name, "OutputDatasetFacet"):
				into = map[string]any{}
				output["outputFacets"] = into
			default: // dataset facets, and LineageFacet, which may go on a dataset
				into = output["facets"].(map[string]any)
			}
			for k, v := range facets {
				into[k] = v
			}
			body, _ := json.Marshal(ev)
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas.runEvent.Validate(doc); err != nil {
				t.Fatalf("the RunEvent with the example fails the specification: %v", err)
			}
			var w writeAnswer
			e.must(http.StatusCreated, "POST", "/api/v1/openlineage", processor, body, &w)
			var b contract.Batch
			e.must(http.StatusOK, "GET", "/api/v1/batches/"+id, processor, nil, &b)
			if b.Tokens.Count != 900_000 || b.Name != "made by tool@1" || len(b.Parents) != 1 || b.Parents[0] != "src" {
				t.Fatalf("recorded batch %+v", b)
			}
		})
	}

	full, err := os.ReadFile(filepath.Join(spec, "tests", "example_full_event.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.runEvent.Validate(doc); err != nil {
		t.Fatalf("the specification's full example fails its schema: %v", err)
	}
	rec := e.do("POST", "/api/v1/openlineage", processor, full)
	if rec.Code != http.StatusBadRequest || problemOf(t, rec).Field != "job.facets.tokentrail_tool.version" && problemOf(t, rec).Field != "run.facets.tokentrail_processing" {
		t.Fatalf("the full example: %d %s", rec.Code, rec.Body.String())
	}
}
