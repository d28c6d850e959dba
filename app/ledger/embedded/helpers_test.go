package embedded

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tokentrail/tokentrail/app/receipt"
	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// Organisations of the tests' consortium.
const (
	orgRegulator = "RegulatorMSP"
	orgProvider  = "ProviderMSP"
	orgProcessor = "ProcessorMSP"
	orgExchange  = "ExchangeMSP"
	orgConsumer  = "ConsumerMSP"
	orgAuditor   = "AuditorMSP"
)

func openTest(t testing.TB, cfg Config) *Ledger {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// counterTxIDs returns a TxIDs function yielding hex(sha256(prefix-n)).
func counterTxIDs(prefix string) func() string {
	var n atomic.Int64
	return func() string {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", prefix, n.Add(1)))
		return hex.EncodeToString(sum[:])
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func submit(t testing.TB, l *Ledger, org, fn string, req any, transient map[string][]byte) contractResult {
	t.Helper()
	res, err := l.Submit(context.Background(), org, fn, mustJSON(t, req), transient)
	if err != nil {
		t.Fatalf("%s by %s: %v", fn, org, err)
	}
	var w contract.WriteResult
	if err := json.Unmarshal(res.Payload, &w); err != nil {
		t.Fatalf("%s result: %v", fn, err)
	}
	return contractResult{TxID: res.TxID, Block: res.Block, WriteResult: w}
}

type contractResult struct {
	TxID  string
	Block uint64
	contract.WriteResult
}

// setupConsortium bootstraps the regulator and registers one organisation
// per role.
func setupConsortium(t testing.TB, l *Ledger) {
	t.Helper()
	submit(t, l, orgRegulator, contract.FnBootstrap, contract.BootstrapRequest{Name: "Regulator", Region: "CN"}, nil)
	for _, p := range []contract.RegisterParticipantRequest{
		{MSPID: orgProvider, Name: "Provider", Roles: []string{"provider"}, Region: "CN"},
		{MSPID: orgProcessor, Name: "Processor", Roles: []string{"processor"}, Region: "CN"},
		{MSPID: orgExchange, Name: "Exchange", Roles: []string{"exchange"}, Region: "CN"},
		{MSPID: orgConsumer, Name: "Consumer", Roles: []string{"consumer"}, Region: "CN"},
		{MSPID: orgAuditor, Name: "Auditor", Roles: []string{"auditor"}, Region: "CN"},
	} {
		submit(t, l, orgRegulator, contract.FnRegisterParticipant, p, nil)
	}
}

// collectReq is a valid collection request for a batch with id.
func collectReq(id string, n int) contract.CollectRequest {
	return contract.CollectRequest{
		ID: id, Name: "batch " + id, Sector: "healthcare", Modality: "text", Languages: []string{"zh-CN"},
		Tokens: contract.Tokens{Count: 10_000_000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", n),
		SizeBytes: 40_000_000, Records: 10_000, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"model-training", "evaluation"}, Region: "CN", Licence: "CC-BY-4.0",
		Quality: &contract.QualityInput{Score: 90, Method: "sampled review"},
		Source:  contract.Source{Type: "enterprise", Description: "records", Region: "CN"},
	}
}

func tradeReq(tradeID, batchID string) contract.TradeRequest {
	return contract.TradeRequest{TradeID: tradeID, BatchID: batchID, Seller: orgProvider, Buyer: orgConsumer,
		Tokens: 1000, Rights: "licence", Purposes: []string{"model-training"}}
}

func termsJSON(t testing.TB, prices ...float64) map[string][]byte {
	t.Helper()
	var ts []contract.Terms
	for _, p := range prices {
		ts = append(ts, contract.Terms{UnitPrice: p, Currency: "CNY", PriceUnit: "1M tokens", SettlementRef: "s"})
	}
	if len(ts) == 1 {
		return map[string][]byte{contract.TransientTerms: mustJSON(t, ts[0]), contract.TransientSalts: randomSalts(1)}
	}
	return map[string][]byte{contract.TransientTerms: mustJSON(t, ts), contract.TransientSalts: randomSalts(len(ts))}
}

// randomSalts draws n trades' salts, as the app does.
func randomSalts(n int) []byte {
	b := make([]byte, n*contract.SaltSize)
	rand.Read(b)
	return b
}

// stateDigest hashes the ledger's public and private state exactly as
// contracttest.MemLedger.StateDigest does, so the two can be compared.
func stateDigest(t testing.TB, l *Ledger) string {
	t.Helper()
	h := sha256.New()
	err := l.db.View(func(tx *bolt.Tx) error {
		write := func(k string, v []byte) {
			fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(v))
			h.Write(v)
		}
		if err := tx.Bucket(bucketState).ForEach(func(k, v []byte) error {
			write(string(k), v)
			return nil
		}); err != nil {
			return err
		}
		priv := map[string][]byte{}
		if err := tx.Bucket(bucketPrivate).ForEachBucket(func(c []byte) error {
			return tx.Bucket(bucketPrivate).Bucket(c).ForEach(func(k, v []byte) error {
				priv[string(c)+"/"+string(k)] = append([]byte(nil), v...)
				return nil
			})
		}); err != nil {
			return err
		}
		keys := make([]string, 0, len(priv))
		for k := range priv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			write(k, priv[k])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// blockHashes returns the hash of every block, in order, and their headers.
func blockHashes(t testing.TB, l *Ledger) (hashes []string, headers []string) {
	t.Helper()
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlocks).ForEach(func(k, v []byte) error {
			b, err := decodeBlock(v)
			if err != nil {
				return err
			}
			hashes = append(hashes, receipt.HexHash(receipt.HeaderHash(b.header)))
			headers = append(headers, string(b.header))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return hashes, headers
}

// committedTxs returns the records of every committed transaction, in order.
func committedTxs(t testing.TB, l *Ledger) []receipt.TxRecord {
	t.Helper()
	var out []receipt.TxRecord
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlocks).ForEach(func(k, v []byte) error {
			b, err := decodeBlock(v)
			if err != nil {
				return err
			}
			for _, st := range b.txs {
				var r receipt.TxRecord
				if err := json.Unmarshal(st.record, &r); err != nil {
					return err
				}
				out = append(out, r)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
