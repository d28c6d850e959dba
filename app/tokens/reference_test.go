package tokens

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// referenceCase is a text with the token IDs that OpenAI's tiktoken gives it.
// The IDs come from published test data, not from this package:
//
//   - [tiktoken]: openai/tiktoken, tests/test_simple_public.py.
//   - [tiktoken-go]: tiktoken-go/tokenizer v0.8.0, tokenizer_test.go.
//   - [splintr]: ml-rust/splintr, tests/fixtures/pretrained/o200k_base.json
//     and cl100k_base.json at commit 376079ffcbf7f9dfb92269d5cab030ee82bf9d74,
//     fixtures that record the output of tiktoken 0.8.0's encode (their
//     "reference" field says so) for splintr's parity test.
type referenceCase struct {
	tokenizer string
	text      string
	ids       []uint
	source    string
}

var referenceCases = []referenceCase{
	// English.
	{Cl100kBase, "hello world", []uint{15339, 1917}, "tiktoken"},
	{O200kBase, "hello world", []uint{24912, 2375}, "tiktoken-go"},
	{Cl100kBase, "We know what we are, but know not what we may be.", []uint{1687, 1440, 1148, 584, 527, 11, 719, 1440, 539, 1148, 584, 1253, 387, 13}, "tiktoken-go"},
	{O200kBase, "We know what we are, but know not what we may be.", []uint{2167, 1761, 1412, 581, 553, 11, 889, 1761, 625, 1412, 581, 1340, 413, 13}, "tiktoken-go"},
	{Cl100kBase, "line one\nline two\nline three", []uint{1074, 832, 198, 1074, 1403, 198, 1074, 2380}, "splintr"},
	{O200kBase, "line one\nline two\nline three", []uint{1137, 1001, 198, 1137, 1920, 198, 1137, 3407}, "splintr"},
	{Cl100kBase, "def add(a, b):\n    return a + b\n", []uint{755, 923, 2948, 11, 293, 997, 262, 471, 264, 489, 293, 198}, "splintr"},
	{O200kBase, "def add(a, b):\n    return a + b\n", []uint{1314, 1147, 6271, 11, 287, 1883, 271, 622, 261, 659, 287, 198}, "splintr"},
	{Cl100kBase, "I've got it, don't worry.", []uint{40, 3077, 2751, 433, 11, 1541, 956, 11196, 13}, "splintr"},
	{O200kBase, "I've got it, don't worry.", []uint{30754, 3508, 480, 11, 4128, 14479, 13}, "splintr"},
	{Cl100kBase, "   \t\n   ", []uint{262, 1602, 262}, "splintr"},
	{O200kBase, "   \t\n   ", []uint{271, 2775, 271}, "splintr"},
	// Chinese.
	{Cl100kBase, "你好，世界！", []uint{57668, 53901, 3922, 3574, 244, 98220, 6447}, "splintr"},
	{O200kBase, "你好，世界！", []uint{177519, 979, 28428, 3393}, "splintr"},
	{Cl100kBase, "北京市海淀区", []uint{70090, 23530, 56235, 85315, 222, 24775}, "splintr"},
	{O200kBase, "北京市海淀区", []uint{141026, 12426, 11787, 222, 5243}, "splintr"},
	{Cl100kBase, "台北101大樓", []uint{55038, 49409, 4645, 27384, 162, 101, 241}, "splintr"},
	{O200kBase, "台北101大樓", []uint{3735, 19020, 7959, 1640, 136835}, "splintr"},
	{Cl100kBase, "GitHub仓库clone", []uint{76715, 6271, 241, 46056, 20579}, "splintr"},
	{O200kBase, "GitHub仓库clone", []uint{56279, 27052, 105278, 22376, 43139}, "splintr"},
	// Mixed scripts.
	{Cl100kBase, "Mixed 混合 текст with 日本語 and English.", []uint{87533, 6704, 115, 115, 40862, 71995, 449, 76502, 22656, 45918, 252, 323, 6498, 13}, "splintr"},
	{O200kBase, "Mixed 混合 текст with 日本語 and English.", []uint{97258, 35063, 115, 4377, 60350, 483, 17428, 40909, 326, 7725, 13}, "splintr"},
}

func TestTokenizerMatchesReference(t *testing.T) {
	for _, tc := range referenceCases {
		t.Run(tc.tokenizer+"/"+tc.text, func(t *testing.T) {
			c := mustCounter(t, tc.tokenizer)
			ids, err := c.Encode(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("ids = %v, %s reference %v", ids, tc.source, tc.ids)
			}
			n, err := c.Text(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(tc.ids)) {
				t.Errorf("Text = %d tokens, reference %d", n, len(tc.ids))
			}
		})
	}
}

// testdata/reference holds files whose whole content is one reference text;
// counting the directory must give each file the reference's token count.
var referenceFiles = map[string]string{
	"en/hello.txt":        "hello world",
	"en/lines.txt":        "line one\nline two\nline three",
	"en/add.py":           "def add(a, b):\n    return a + b\n",
	"en/contractions.txt": "I've got it, don't worry.",
	"zh/hello.txt":        "你好，世界！",
	"zh/beijing.txt":      "北京市海淀区",
	"zh/github.txt":       "GitHub仓库clone",
	"mixed.txt":           "Mixed 混合 текст with 日本語 and English.",
}

func referenceIDs(t *testing.T, tokenizer, text string) []uint {
	t.Helper()
	for _, tc := range referenceCases {
		if tc.tokenizer == tokenizer && tc.text == text {
			return tc.ids
		}
	}
	t.Fatalf("no reference for %s %q", tokenizer, text)
	return nil
}

func TestCountFilesMatchesReference(t *testing.T) {
	for _, tokenizer := range Tokenizers() {
		t.Run(tokenizer, func(t *testing.T) {
			m, err := Count(context.Background(), []string{"testdata/reference"}, Options{Tokenizer: tokenizer, Root: "testdata/reference"})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Files) != len(referenceFiles) {
				t.Fatalf("counted %d files, want %d", len(m.Files), len(referenceFiles))
			}
			var tokens int64
			for _, f := range m.Files {
				text, ok := referenceFiles[f.Path]
				if !ok {
					t.Fatalf("unexpected file %q", f.Path)
				}
				b, err := os.ReadFile(filepath.Join("testdata/reference", f.Path))
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != text {
					t.Fatalf("%s does not hold its reference text", f.Path)
				}
				want := int64(len(referenceIDs(t, tokenizer, text)))
				if f.Tokens != want {
					t.Errorf("%s: %d tokens, reference %d", f.Path, f.Tokens, want)
				}
				tokens += want
			}
			if m.Totals.Tokens != tokens {
				t.Errorf("total %d tokens, reference %d", m.Totals.Tokens, tokens)
			}
		})
	}
}

func mustCounter(t testing.TB, name string) *Counter {
	t.Helper()
	c, err := NewCounter(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
