package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type source struct {
	Type string `json:"type"`
	URI  string `json:"uri,omitempty"`
}

type inner struct {
	Tokens int `json:"tokens"`
}

type Common struct {
	Note string `json:"note"`
}

type doc struct {
	Common
	PersonalInfo string            `json:"personalInfo"`
	Source       *source           `json:"source"`
	Trades       []inner           `json:"trades"`
	Metrics      map[string]int    `json:"metrics"`
	Raw          json.RawMessage   `json:"raw"`
	Any          any               `json:"any"`
	Fixed        [2]inner          `json:"fixed"`
	Facets       map[string]source `json:"facets"`
	NoTag        string
	Skipped      string `json:"-"`
	hidden       string //nolint:unused
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		allow   bool
		path    string
		problem Problem
	}{
		{"valid", `{"personalInfo":"none","source":{"type":"web"},"trades":[{"tokens":1}],"note":"x","NoTag":"y"}`, false, "", 0},
		{"top duplicate", `{"personalInfo":"none","PersonalInfo":"sensitive"}`, false, "PersonalInfo", WrongCase},
		{"exact duplicate", `{"personalInfo":"none","personalInfo":"sensitive"}`, false, "personalInfo", Duplicate},
		{"escaped duplicate", `{"personalInfo":"none","personal\u0049nfo":"sensitive"}`, false, "personalInfo", Duplicate},
		{"nested duplicate", `{"source":{"type":"web","type":"book"}}`, false, "source.type", Duplicate},
		{"array duplicate", `{"trades":[{"tokens":1},{"tokens":1},{"tokens":1},{"tokens":2,"tokens":3}]}`, false, "trades[3].tokens", Duplicate},
		{"array wrong case", `{"trades":[{"Tokens":1}]}`, false, "trades[0].Tokens", WrongCase},
		{"fixed array", `{"fixed":[{"tokens":1},{"TOKENS":1}]}`, false, "fixed[1].TOKENS", WrongCase},
		{"kelvin sign folds", "{\"source\":{\"type\":\"web\",\"ur\u0130\":\"x\"}}", false, "source.ur\u0130", Unknown},
		{"long s folds", "{\"source\":{\"\u017fource\":1}}", false, "source.\u017fource", Unknown},
		{"long s folds onto field", "{\"source\":{\"type\":\"a\",\"uri\":\"b\"},\"note\":\"x\",\"\u017fource\":{}}", false, "\u017fource", WrongCase},
		{"unknown", `{"personal":"none"}`, false, "personal", Unknown},
		{"unknown allowed", `{"personal":"none","x":{"a":1}}`, true, "", 0},
		{"unknown allowed but duplicate inside", `{"x":{"a":1,"a":2}}`, true, "x.a", Duplicate},
		{"wrong case refused when unknown allowed", `{"PersonalInfo":"x"}`, true, "PersonalInfo", WrongCase},
		{"map keys free but unique", `{"metrics":{"A":1,"a":2}}`, false, "", 0},
		{"map duplicate", `{"metrics":{"a":1,"a":2}}`, false, "metrics.a", Duplicate},
		{"map of structs", `{"facets":{"f":{"Type":"x"}}}`, false, "facets.f.Type", WrongCase},
		{"raw message any keys", `{"raw":{"Anything":1,"b":[{"c":1}]}}`, false, "", 0},
		{"raw message duplicate", `{"raw":{"b":[{"c":1,"c":2}]}}`, false, "raw.b[0].c", Duplicate},
		{"interface duplicate", `{"any":[1,{"k":1,"k":2}]}`, false, "any[1].k", Duplicate},
		{"skipped field is unknown", `{"Skipped":"x"}`, false, "Skipped", Unknown},
		{"unexported field is unknown", `{"hidden":"x"}`, false, "hidden", Unknown},
		{"embedded promoted", `{"note":"a","Note":"b"}`, false, "Note", WrongCase},
		{"malformed left to decoder", `{"personalInfo":`, false, "", 0},
		{"type mismatch left to decoder", `{"source":"web","trades":{"x":1}}`, false, "", 0},
		{"strings with escapes", `{"personalInfo":"a\"}{\\","source":{"type":"\u0041"}}`, false, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			err := Check([]byte(tc.body), &d, tc.allow)
			if tc.problem == 0 {
				if err != nil {
					t.Fatalf("Check: %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Check: %v, want an *Error", err)
			}
			if e.Path != tc.path || e.Problem != tc.problem {
				t.Fatalf("Check: path %q problem %d (%v), want %q %d", e.Path, e.Problem, e, tc.path, tc.problem)
			}
		})
	}
}

// TestCheckAgreesWithDecoder: whatever Check lets through in strict mode,
// encoding/json decodes without an unknown field and with every key
// assigned to the field of the same spelling.
func TestCheckAgreesWithDecoder(t *testing.T) {
	body := []byte(`{"personalInfo":"none","source":{"type":"web","uri":"u"},"trades":[{"tokens":7}],"NoTag":"n","note":"c"}`)
	var d doc
	if err := Check(body, &d, false); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.PersonalInfo != "none" || d.Source.Type != "web" || d.Trades[0].Tokens != 7 || d.NoTag != "n" || d.Note != "c" {
		t.Fatalf("decoded %+v", d)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"personalInfo":"none","source":{"type":"web"},"trades":[{"tokens":1}]}`))
	f.Add([]byte(`{"a":"\u00e9","b":[1,2,{"c":"\\"}]}`))
	f.Add([]byte(`[{"\xff":1}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d doc
		err := Check(b, &d, false)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Problem == 0 {
				t.Fatalf("Check returned %v", err)
			}
			return
		}
		// Every key that passed Check names a field exactly, so a decoder
		// refusing unknown fields must not find one.
		if !json.Valid(b) {
			return
		}
		var d2 doc
		dec := json.NewDecoder(bytesReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d2); err != nil && strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("Check passed %q but the decoder found %v", b, err)
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
