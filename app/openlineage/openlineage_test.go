package openlineage

import "testing"

func TestField(t *testing.T) {
	for in, want := range map[string]string{
		"inputs[2]":                "inputs[2].name",
		"outputs[0].id":            "outputs[0].name",
		"outputs[1].tokens.count":  "outputs[1].facets.tokentrail_tokens.count",
		"outputs[1].tokens":        "outputs[1].facets.tokentrail_tokens",
		"outputs[0].contentDigest": "outputs[0].facets.tokentrail_batch.contentDigest",
		"outputs[0].languages[1]":  "outputs[0].facets.tokentrail_batch.languages[1]",
		"outputs[3]":               "outputs[3]",
		"operations":               "run.facets.tokentrail_processing.operations",
		"operations[1]":            "run.facets.tokentrail_processing.operations[1]",
		"crossBorder.mechanism":    "run.facets.tokentrail_processing.crossBorder.mechanism",
		"tool.name":                "job.name",
		"tool.version":             "job.facets.tokentrail_tool.version",
		"inputs":                   "inputs",
		"":                         "",
	} {
		if got := Field(in); got != want {
			t.Errorf("Field(%q) = %q, want %q", in, got, want)
		}
	}
}
