package tokens

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// FileCount is what counting one stream yields.
type FileCount struct {
	SizeBytes int64
	SHA256    string // lowercase hex of the SHA-256 of every byte
	Tokens    int64
	Lines     int64 // '\n' bytes, plus one when the text does not end with '\n'
	// HardCuts is how many times the text had to be cut where the count
	// might differ from counting it whole: a run of more than the maximum
	// chunk size without a safe boundary. Zero for ordinary text.
	HardCuts int
}

// readSize is how much is read from a file at a time.
const readSize = 32 << 10

// Reader counts the tokens of the UTF-8 text read from r without holding it
// all in memory. Text is buffered up to the chunk size and cut only at
// boundaries where BPE pre-tokenization is known to split anyway (see
// [safeCut]), so the count equals counting the whole text at once. It returns
// a [*NotTextError] (Path empty) when the text holds a NUL byte or invalid
// UTF-8. progress, when not nil, is called with the number of bytes read.
func (c *Counter) Reader(ctx context.Context, r io.Reader, progress func(n int64)) (FileCount, error) {
	h := sha256.New()
	var fc FileCount
	var last byte
	buf := make([]byte, 0, c.chunk+readSize)
	countTo := func(cut int) error {
		seg := buf[:cut]
		if !utf8.Valid(seg) {
			off := fc.SizeBytes - int64(len(buf)) + int64(firstInvalid(seg))
			return &NotTextError{Offset: off, Reason: "invalid UTF-8"}
		}
		n, err := c.Text(string(seg))
		if err != nil {
			return err
		}
		fc.Tokens += n
		buf = buf[:copy(buf, buf[cut:])]
		return nil
	}
	// drain counts buffered text up to safe cuts, keeping at most maxChunk
	// bytes in one segment; at the end of the text it counts everything.
	drain := func(final bool) error {
		for len(buf) >= c.chunk || (final && len(buf) > 0) {
			if final && len(buf) <= c.maxChunk {
				return countTo(len(buf))
			}
			window := buf[:min(len(buf), c.maxChunk)]
			cut := safeCut(window)
			if cut == 0 {
				if !final && len(buf) < c.maxChunk {
					return nil // read on: a safe boundary may come
				}
				cut = runeCut(window)
				fc.HardCuts++
			}
			if err := countTo(cut); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return fc, err
		}
		if cap(buf)-len(buf) < readSize {
			grown := make([]byte, len(buf), 2*cap(buf))
			copy(grown, buf)
			buf = grown
		}
		n, rerr := r.Read(buf[len(buf) : len(buf)+readSize])
		if n > 0 {
			fresh := buf[len(buf) : len(buf)+n]
			if i := bytes.IndexByte(fresh, 0); i >= 0 {
				return fc, &NotTextError{Offset: fc.SizeBytes + int64(i), Reason: "NUL byte"}
			}
			h.Write(fresh)
			fc.Lines += int64(bytes.Count(fresh, []byte{'\n'}))
			last = fresh[n-1]
			fc.SizeBytes += int64(n)
			buf = buf[:len(buf)+n]
			if progress != nil {
				progress(int64(n))
			}
		}
		eof := errors.Is(rerr, io.EOF)
		if rerr != nil && !eof {
			return fc, rerr
		}
		if err := drain(eof); err != nil {
			return fc, err
		}
		if eof {
			break
		}
	}
	if fc.SizeBytes > 0 && last != '\n' {
		fc.Lines++
	}
	fc.SHA256 = hex.EncodeToString(h.Sum(nil))
	return fc, nil
}

// safeCut returns the last position p in b (0 < p < len(b)) at which the text
// can be cut without changing its token count, or 0 when there is none.
//
// The tokenizers first split text into pieces with a regular expression and
// then apply BPE within each piece, so a cut is exact when it falls on a piece
// boundary that does not depend on the text on the other side. Reading the
// pre-tokenization patterns of cl100k_base and o200k_base, that holds at
// these boundaries between the rune before the cut (prev) and after it (next):
//
//  1. prev is a newline and next is a letter, digit, punctuation or symbol other
//     than '/': no pattern continues past newlines into such a rune (o200k_base
//     lets a punctuation piece swallow "\n/", hence the exception), and
//     whitespace-run patterns only end there.
//  2. next is a space and prev is a letter, digit, punctuation or symbol: no
//     pattern takes a space after a non-space rune, and no lookahead is
//     consulted because the piece before is not whitespace.
//  3. prev is a letter or digit and next is punctuation or a symbol other
//     than the apostrophe: letter and digit runs end there (o200k_base lets
//     a letter run swallow a following contraction such as "'s", hence the
//     exception); this is what cuts Chinese text at "，" or "。".
//
// After such a boundary, matching restarts on text that is the same whether
// or not it was cut. TestSafeBoundary checks every
// boundary of random tricky strings and TestStreamedEqualsWhole megabytes of
// generated text.
func safeCut(b []byte) int {
	next, size := utf8.DecodeLastRune(b)
	p := len(b) - size
	for p > 0 {
		prev, psize := utf8.DecodeLastRune(b[:p])
		if next != utf8.RuneError && prev != utf8.RuneError && safeBoundary(prev, next) {
			return p
		}
		next, p = prev, p-psize
	}
	return 0
}

func safeBoundary(prev, next rune) bool {
	switch {
	case prev == '\n':
		return next != '/' && (wordRune(next) || punctRune(next))
	case next == ' ':
		return wordRune(prev) || punctRune(prev)
	default:
		return wordRune(prev) && punctRune(next) && next != '\''
	}
}

// wordRune reports letters (\p{L}) and numbers (\p{N}).
func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

// punctRune reports punctuation (\p{P}) and symbols (\p{S}): never
// whitespace, letters, numbers or marks.
func punctRune(r rune) bool { return unicode.In(r, unicode.P, unicode.S) }

// runeCut returns the last position in b that does not split a UTF-8
// sequence, for the rare run with no safe boundary at all.
func runeCut(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b) // not UTF-8 anyway: validation will say so
}

// firstInvalid returns the offset of the first byte in b that is not part of
// a valid UTF-8 sequence.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// String returns a short description of a FileCount, for diagnostics.
func (fc FileCount) String() string {
	return fmt.Sprintf("%d bytes, %d tokens, %d lines, sha256 %s", fc.SizeBytes, fc.Tokens, fc.Lines, fc.SHA256)
}
