// Package tokens measures text datasets the way a token batch states them:
// it counts tokens with a real BPE tokenizer (o200k_base or cl100k_base,
// embedded, so it works offline), streams large files, and writes a
// manifest — per file: path, size, SHA-256, tokens, records — whose digest is
// the batch's contentDigest. [Verify] re-checks files against a manifest.
//
// [Count] builds a [Manifest]; [Manifest.Canonical] gives the exact bytes
// that are written and hashed, and [Manifest.Digest] the contentDigest.
// [Main] is the "tokentrail tokens" command family. docs/tokens.md describes
// the manifest format, how the digest is computed and how large files are
// split without changing counts.
package tokens

import (
	"errors"
	"fmt"

	"github.com/tiktoken-go/tokenizer"
)

// Tokenizer names accepted by [Options.Tokenizer] and recorded in manifests.
const (
	O200kBase  = "o200k_base"
	Cl100kBase = "cl100k_base"
)

// DefaultTokenizer is used when no tokenizer is named.
const DefaultTokenizer = O200kBase

// Tokenizers lists the supported tokenizer names.
func Tokenizers() []string { return []string{O200kBase, Cl100kBase} }

// Sentinel errors; test with errors.Is.
var (
	// ErrUnknownTokenizer: the tokenizer name is not one of [Tokenizers].
	ErrUnknownTokenizer = errors.New("unknown tokenizer")
	// ErrNotText: a file is not UTF-8 text (see [NotTextError]).
	ErrNotText = errors.New("not a UTF-8 text file")
	// ErrOutsideRoot: a path lies outside the root that manifest paths are
	// relative to.
	ErrOutsideRoot = errors.New("path outside the manifest root")
	// ErrNoFiles: the paths hold no file to count.
	ErrNoFiles = errors.New("no files to count")
	// ErrInvalidManifest: a manifest document is malformed or inconsistent.
	ErrInvalidManifest = errors.New("invalid manifest")
)

// NotTextError says why a file was not accepted as UTF-8 text. It matches
// [ErrNotText] with errors.Is.
type NotTextError struct {
	Path   string // manifest path of the file
	Offset int64  // byte offset of the first offending byte
	Reason string // "NUL byte" or "invalid UTF-8"
}

func (e *NotTextError) Error() string {
	return fmt.Sprintf("%s: not a UTF-8 text file (%s at byte %d)", e.Path, e.Reason, e.Offset)
}

// Is makes errors.Is(err, ErrNotText) true.
func (e *NotTextError) Is(target error) bool { return target == ErrNotText }

// Counter counts tokens with one tokenizer. It is safe for concurrent use.
type Counter struct {
	name  string
	codec tokenizer.Codec
	// chunk is the size at which buffered text is cut at a safe boundary and
	// counted; maxChunk the size at which, when no safe boundary exists, it is
	// cut anyway (see docs/tokens.md). Tests lower them to force many cuts.
	chunk, maxChunk int
}

const (
	defaultChunk    = 64 << 10
	defaultMaxChunk = 1 << 20
)

// NewCounter returns a Counter for the named tokenizer ("" means
// [DefaultTokenizer]). The first call for a tokenizer loads its vocabulary.
func NewCounter(name string) (*Counter, error) {
	if name == "" {
		name = DefaultTokenizer
	}
	var enc tokenizer.Encoding
	switch name {
	case O200kBase:
		enc = tokenizer.O200kBase
	case Cl100kBase:
		enc = tokenizer.Cl100kBase
	default:
		return nil, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownTokenizer, name, O200kBase, Cl100kBase)
	}
	codec, err := tokenizer.Get(enc)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	return &Counter{name: name, codec: codec, chunk: defaultChunk, maxChunk: defaultMaxChunk}, nil
}

// Name returns the tokenizer's name, as recorded in manifests.
func (c *Counter) Name() string { return c.name }

// Text returns the number of tokens in s, encoded as ordinary text: special
// tokens such as "<|endoftext|>" are not recognised, they count as the text
// they are (tiktoken's encode_ordinary).
func (c *Counter) Text(s string) (int64, error) {
	n, err := c.codec.Count(s)
	if err != nil {
		return 0, fmt.Errorf("tokenize: %w", err)
	}
	return int64(n), nil
}

// Encode returns the token IDs of s, encoded as ordinary text like [Counter.Text].
func (c *Counter) Encode(s string) ([]uint, error) {
	ids, _, err := c.codec.Encode(s)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	return ids, nil
}
