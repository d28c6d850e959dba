package tokens

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// trickyRunes are runes whose neighbours decide where the tokenizers'
// pre-tokenization pieces start and end: newlines, spaces of several kinds,
// '/', the apostrophe and contraction letters, marks, digits, CJK and emoji.
var trickyRunes = []rune{'a', 's', 'Z', '中', '文', '1', '2', ' ', ' ', '\n', '\n', '\r', '\t', '/', '\'', '.', '，', '。',
	'\u0301', '\u00a0', '\u3000', '😀', '-', '(', 'é', 'д'}

// TestSafeBoundary checks the claim behind streaming: wherever safeBoundary
// allows a cut, counting the two halves gives the count of the whole.
func TestSafeBoundary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range Tokenizers() {
		c := mustCounter(t, name)
		count := func(s string) int64 {
			n, err := c.Text(s)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		checked := 0
		for range 4000 {
			rs := make([]rune, 2+rng.IntN(10))
			for i := range rs {
				rs[i] = trickyRunes[rng.IntN(len(trickyRunes))]
			}
			s := string(rs)
			whole := count(s)
			for i := 1; i < len(rs); i++ {
				if !safeBoundary(rs[i-1], rs[i]) {
					continue
				}
				checked++
				p := len(string(rs[:i]))
				if got := count(s[:p]) + count(s[p:]); got != whole {
					t.Fatalf("%s: cutting %q before rune %d gives %d tokens, whole %d", name, s, i, got, whole)
				}
			}
		}
		if checked < 1000 {
			t.Fatalf("%s: only %d boundaries checked", name, checked)
		}
	}
}

// TestNaiveCutsChangeCounts shows what safeBoundary guards against: cutting
// at other places changes counts, so the tests above can fail.
func TestNaiveCutsChangeCounts(t *testing.T) {
	cases := []struct{ tokenizer, a, b string }{
		{O200kBase, "a\n", "\nb"},           // "\n\n" is one token
		{Cl100kBase, "a\n", " b"},           // a newline then spaces is one piece
		{O200kBase, "end.\n", "/path"},      // o200k_base keeps ".\n/" together
		{O200kBase, "don", "'t"},            // o200k_base keeps "don't" together
		{Cl100kBase, "hello wor", "ld"},     // inside a word
		{O200kBase, "北京市海", "淀区"},           // inside a run of Chinese
		{Cl100kBase, "x   ", "  y"},         // inside a run of spaces
		{O200kBase, "12", "34"},             // digits group by three from the left
		{Cl100kBase, "你好", "，世界"},           // fine: rule 3, as a control below
		{O200kBase, "hello", " world"},      // fine: rule 2, as a control below
		{Cl100kBase, "line one\n", "line"},  // fine: rule 1, as a control below
		{O200kBase, "price: $19.99", ", x"}, // fine: rule 3
	}
	for _, tc := range cases {
		c := mustCounter(t, tc.tokenizer)
		whole, _ := c.Text(tc.a + tc.b)
		na, _ := c.Text(tc.a)
		nb, _ := c.Text(tc.b)
		a, _ := utf8.DecodeLastRuneInString(tc.a)
		b, _ := utf8.DecodeRuneInString(tc.b)
		safe := safeBoundary(a, b)
		if exact := na+nb == whole; safe && !exact {
			t.Errorf("%s %q|%q: safe cut changes the count (%d+%d vs %d)", tc.tokenizer, tc.a, tc.b, na, nb, whole)
		} else if !safe && exact {
			t.Logf("%s %q|%q: unsafe cut happens to keep the count", tc.tokenizer, tc.a, tc.b)
		}
	}
	c := mustCounter(t, O200kBase)
	whole, _ := c.Text("a\n\nb")
	na, _ := c.Text("a\n")
	nb, _ := c.Text("\nb")
	if na+nb == whole {
		t.Fatal(`cutting "a\n\nb" in the middle should change its count`)
	}
}

// generateText returns about size bytes of varied text: English and Chinese
// prose, code, blank and indented lines, CRLF, paths, numbers, emoji, and
// some long lines with no newline at all.
func generateText(size int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 7))
	words := []string{"the", "token", "ledger", "don't", "it's", "We'll", "HTTPRequest", "naïve", "café", "12345", "3.14",
		"数据", "训练", "令牌", "北京市海淀区", "你好", "世界", "😀", "--", "/usr/bin", "'quoted'", "(x)", "a+b", "\t", "  ", "…"}
	seps := []string{" ", " ", " ", "", "，", "。", ", ", ". ", "! ", "、", "/", "\u00a0"}
	lineStarts := []string{"", "", "", "  ", "\t", "/", "- ", "# ", "1. ", "「", "'", " "}
	ends := []string{"\n", "\n", "\n", "\r\n", "\n\n", "\n\n\n", " \n", ".\n", "\n  \n"}
	var b strings.Builder
	for b.Len() < size {
		b.WriteString(lineStarts[rng.IntN(len(lineStarts))])
		n := 1 + rng.IntN(20)
		if rng.IntN(40) == 0 {
			n = 2000 + rng.IntN(4000) // a long line, cut inside
		}
		for i := range n {
			if i > 0 {
				b.WriteString(seps[rng.IntN(len(seps))])
			}
			b.WriteString(words[rng.IntN(len(words))])
		}
		b.WriteString(ends[rng.IntN(len(ends))])
	}
	return b.String()
}

// TestStreamedEqualsWhole counts a generated file of megabytes in small
// chunks and compares with counting the whole text at once.
func TestStreamedEqualsWhole(t *testing.T) {
	for name, size := range map[string]int{O200kBase: 2 << 20, Cl100kBase: 1 << 20} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			text := generateText(size, 42)
			file := filepath.Join(t.TempDir(), "big.txt")
			if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			c := mustCounter(t, name)
			whole, err := c.Text(text)
			if err != nil {
				t.Fatal(err)
			}
			small := *c
			small.chunk, small.maxChunk = 4<<10, 64<<10 // hundreds of cuts
			var warnings []string
			m, err := Count(context.Background(), []string{file}, Options{Root: filepath.Dir(file), counter: &small,
				Warn: func(s string) { warnings = append(warnings, s) }})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Files[0].Tokens; got != whole {
				t.Errorf("streamed %d tokens, whole text %d", got, whole)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			if want := int64(strings.Count(text, "\n")); m.Files[0].Records != want {
				t.Errorf("records %d, want %d lines", m.Files[0].Records, want)
			}
			// Reads of odd sizes split runes between reads.
			prefix := text[:strings.LastIndexByte(text[:200<<10], '\n')+1]
			fc, err := small.Reader(context.Background(), iotest.HalfReader(strings.NewReader(prefix)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if w, _ := c.Text(prefix); fc.Tokens != w || fc.HardCuts != 0 {
				t.Errorf("half reads: %d tokens (%d hard cuts), whole %d", fc.Tokens, fc.HardCuts, w)
			}
		})
	}
}

// TestHardCut: a run longer than the maximum chunk with no safe boundary is
// cut anyway, and Count says so.
func TestHardCut(t *testing.T) {
	c := mustCounter(t, O200kBase)
	c.chunk, c.maxChunk = 1<<10, 2<<10
	text := strings.Repeat("x", 8<<10) + "\n" + strings.Repeat("中", 1000)
	fc, err := c.Reader(context.Background(), strings.NewReader(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fc.HardCuts == 0 {
		t.Fatalf("no hard cuts in %s", fc)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "run.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var warned bool
	if _, err := Count(context.Background(), []string{dir}, Options{Root: dir, counter: c, Warn: func(s string) {
		warned = warned || strings.Contains(s, "run.txt")
	}}); err != nil {
		t.Fatal(err)
	}
	if !warned {
		t.Error("Count did not warn about the hard cuts")
	}
}

func TestReaderRejectsBinary(t *testing.T) {
	c := mustCounter(t, O200kBase)
	c.chunk, c.maxChunk = 64, 256
	for _, tc := range []struct {
		name   string
		data   []byte
		offset int64
	}{
		{"NUL", append(bytes.Repeat([]byte("text\n"), 100), 0, 'x'), 500},
		{"invalid UTF-8", append(bytes.Repeat([]byte("文字\n"), 100), 0xff, 'x'), 700},
		{"truncated rune", []byte("ok 中")[:5], 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Reader(context.Background(), bytes.NewReader(tc.data), nil)
			var nt *NotTextError
			if !errors.As(err, &nt) || !errors.Is(err, ErrNotText) {
				t.Fatalf("err = %v, want a NotTextError", err)
			}
			if nt.Offset != tc.offset {
				t.Errorf("offset %d, want %d", nt.Offset, tc.offset)
			}
		})
	}
}

func TestLines(t *testing.T) {
	c := mustCounter(t, Cl100kBase)
	for text, want := range map[string]int64{"": 0, "a": 1, "a\n": 1, "a\nb": 2, "\n\n": 2, "a\r\nb\r\n": 2} {
		fc, err := c.Reader(context.Background(), strings.NewReader(text), nil)
		if err != nil {
			t.Fatal(err)
		}
		if fc.Lines != want {
			t.Errorf("%q: %d lines, want %d", text, fc.Lines, want)
		}
	}
}

// FuzzReader checks, for any text, that counting it through Reader in tiny
// chunks, one byte read at a time, equals counting it whole.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"hello world\n你好，世界！\n", "a\n\n/b c'd", "x  \n  y\t\tz", "don't.\n/usr 12345", "北京市海淀区。台北101大樓"} {
		f.Add(s)
	}
	c := mustCounter(f, O200kBase)
	c.chunk = 8
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return
		}
		whole, _ := c.Text(s)
		fc, err := c.Reader(context.Background(), iotest.OneByteReader(strings.NewReader(s)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if fc.Tokens != whole || fc.HardCuts != 0 {
			t.Fatalf("%q: streamed %d tokens (%d hard cuts), whole %d", s, fc.Tokens, fc.HardCuts, whole)
		}
	})
}
