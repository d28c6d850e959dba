package tokens_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tokentrail/tokentrail/app/tokens"
)

// Count a directory and print what a COLLECTED event needs.
func ExampleCount() {
	m, err := tokens.Count(context.Background(), []string{"testdata/reference"},
		tokens.Options{Tokenizer: tokens.O200kBase, Root: "testdata/reference"})
	if err != nil {
		log.Fatal(err)
	}
	f, err := m.Collect()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Tokens.Count, f.Tokens.Tokenizer, f.SizeBytes, f.Records)
	fmt.Println(f.ContentDigest)
	// Output:
	// 54 o200k_base 200 11
	// sha256:cd0e3e3ccdff831df2c414eddd0db59ae06a75358226828359a5a6ae317f7e10
}

// Check files against a manifest.
func ExampleVerify() {
	ctx := context.Background()
	m, err := tokens.Count(ctx, []string{"testdata/reference"}, tokens.Options{Root: "testdata/reference"})
	if err != nil {
		log.Fatal(err)
	}
	mismatches, err := tokens.Verify(ctx, m, "testdata/reference", tokens.VerifyOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(mismatches), "mismatches")
	// Output: 0 mismatches
}
