package fabric

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

func mustChaincode(t testing.TB) shim.Chaincode {
	t.Helper()
	cc, err := NewChaincode()
	if err != nil {
		t.Fatalf("NewChaincode: %v", err)
	}
	return cc
}

// TestConformance runs the shared scenarios through contractapi's dispatch
// over fake stubs with Fabric's read and commit semantics.
func TestConformance(t *testing.T) {
	cc := mustChaincode(t)
	ids := newIdentities(t)
	contracttest.Run(t, func(t *testing.T, clock *contracttest.Clock) contracttest.Ledger {
		return newChaincodeLedger(t, cc, ids, clock)
	})
}

// chaincodeMetadata is the part of contractapi's metadata JSON the tests read.
type chaincodeMetadata struct {
	Contracts map[string]struct {
		Name         string `json:"name"`
		Default      bool   `json:"default"`
		Transactions []struct {
			Name       string   `json:"name"`
			Tag        []string `json:"tag"`
			Parameters []struct {
				Name   string `json:"name"`
				Schema struct {
					Type any `json:"type"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"transactions"`
	} `json:"contracts"`
}

func TestMetadataExposesEveryFunction(t *testing.T) {
	l := newChaincodeLedger(t, mustChaincode(t), newIdentities(t), contracttest.NewClock())
	resp := l.raw("AnyMSP", "org.hyperledger.fabric:GetMetadata")
	if resp.GetStatus() != shim.OK {
		t.Fatalf("GetMetadata: %d %s", resp.GetStatus(), resp.GetMessage())
	}
	var md chaincodeMetadata
	if err := json.Unmarshal(resp.GetPayload(), &md); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	tt, ok := md.Contracts[ContractName]
	if !ok {
		t.Fatalf("no contract %q in metadata; have %v", ContractName, reflect.ValueOf(md.Contracts).MapKeys())
	}
	if !tt.Default {
		t.Errorf("contract %q is not the default", ContractName)
	}
	c := contract.New()
	var got []string
	for _, tx := range tt.Transactions {
		got = append(got, tx.Name)
		want := "submit"
		if c.IsQuery(tx.Name) {
			want = "evaluate"
		}
		if len(tx.Tag) == 0 || tx.Tag[0] != want {
			t.Errorf("%s: tags %v, want %q first", tx.Name, tx.Tag, want)
		}
		if len(tx.Parameters) != 1 || tx.Parameters[0].Schema.Type != "string" {
			t.Errorf("%s: parameters %+v, want one string", tx.Name, tx.Parameters)
		}
	}
	if want := c.Functions(); !reflect.DeepEqual(got, want) {
		t.Errorf("transactions\n got %v\nwant %v", got, want)
	}
}

// TestDispatch checks that both the plain and the contract-qualified name
// reach the contract, and that the request string arrives unchanged.
func TestDispatch(t *testing.T) {
	l := newChaincodeLedger(t, mustChaincode(t), newIdentities(t), contracttest.NewClock())
	for _, name := range []string{contract.FnBootstrap, ContractName + ":" + contract.FnBootstrap} {
		resp := l.raw("RegulatorMSP", name, `{"name":"Regulator","region":"CN","extra":1}`)
		ce, ok := contract.DecodeError(resp.GetMessage())
		if resp.GetStatus() == shim.OK || !ok {
			t.Fatalf("%s: status %d, message %q: want an encoded contract error", name, resp.GetStatus(), resp.GetMessage())
		}
		if ce.Kind != contract.KindInvalid || ce.Field != "extra" {
			t.Errorf("%s: got %+v, want invalid field extra", name, ce)
		}
	}
	// contractapi refuses a call without the request argument itself; its
	// message is plain text, not a contract error.
	resp := l.raw("RegulatorMSP", contract.FnBootstrap)
	if resp.GetStatus() == shim.OK {
		t.Fatal("Bootstrap without an argument succeeded")
	}
	if _, ok := contract.DecodeError(resp.GetMessage()); ok {
		t.Errorf("missing argument decoded as a contract error: %q", resp.GetMessage())
	}
}

func TestErrorRoundTrip(t *testing.T) {
	l := newChaincodeLedger(t, mustChaincode(t), newIdentities(t), contracttest.NewClock())
	boot := []byte(`{"name":"Regulator","region":"CN"}`)
	if _, err := l.Submit("RegulatorMSP", contract.FnBootstrap, boot, nil); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}

	// The creator's MSP ID reaches the contract: an unregistered
	// organisation may not register participants (TT-R07).
	reg := []byte(`{"mspId":"ProviderMSP","name":"Provider","roles":["provider"],"region":"CN"}`)
	_, err := l.Submit("OutsiderMSP", contract.FnRegisterParticipant, reg, nil)
	var ce *contract.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *contract.Error, got %T %v", err, err)
	}
	if ce.Kind != contract.KindForbidden || ce.Rule != contract.RuleRole || ce.Detail == "" {
		t.Errorf("got %+v, want forbidden %s with a detail", ce, contract.RuleRole)
	}
	if !strings.Contains(ce.Detail, "OutsiderMSP") {
		t.Errorf("detail %q does not name the caller", ce.Detail)
	}

	// The same request by the regulator passes: it is the caller, not the
	// request, that failed.
	if _, err := l.Submit("RegulatorMSP", contract.FnRegisterParticipant, reg, nil); err != nil {
		t.Fatalf("RegisterParticipant by the regulator: %v", err)
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

func mustUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
