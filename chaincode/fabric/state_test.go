package fabric

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/tokentrail/tokentrail/chaincode/contract"
	"github.com/tokentrail/tokentrail/chaincode/contract/contracttest"
)

// newTestState returns a stubState over a fresh transaction on w, with the
// given organisation as creator.
func newTestState(t *testing.T, w *world, org string) (stubState, *fakeStub) {
	t.Helper()
	l := newChaincodeLedger(t, nil, newIdentities(t), contracttest.NewClock())
	l.w = w
	stub := l.newStub(org, nil, map[string][]byte{"k": []byte("v")})
	return stubState{stub: stub}, stub
}

func TestStubStateTransaction(t *testing.T) {
	st, stub := newTestState(t, newWorld(), "ExchangeMSP")
	if got, err := st.Creator(); err != nil || got != "ExchangeMSP" {
		t.Errorf("Creator() = %q, %v; want ExchangeMSP", got, err)
	}
	got, err := st.TxTime()
	if want := stub.ts.AsTime(); err != nil || !got.Equal(want) {
		t.Errorf("TxTime() = %v, %v; want %v", got, err, want)
	}
	if st.TxID() != stub.txID || st.TxID() == "" {
		t.Errorf("TxID() = %q, want %q", st.TxID(), stub.txID)
	}
	if tm, err := st.Transient(); err != nil || string(tm["k"]) != "v" {
		t.Errorf("Transient() = %v, %v", tm, err)
	}
	stub.transient = nil
	if tm, err := st.Transient(); err != nil || tm == nil {
		t.Errorf("Transient() with none = %v, %v; want an empty map", tm, err)
	}
	stub.creator = []byte("not an identity")
	if _, err := st.Creator(); err == nil {
		t.Error("Creator() accepted a creator that is not a serialized identity")
	}
	stub.creator, _ = proto.Marshal(&msp.SerializedIdentity{IdBytes: []byte("cert")})
	if _, err := st.Creator(); err == nil || !strings.Contains(err.Error(), "names no MSP") {
		t.Errorf("Creator() of an identity without an MSP ID: %v", err)
	}
}

func TestStubStateTxTimeInvalid(t *testing.T) {
	st, stub := newTestState(t, newWorld(), "ExchangeMSP")
	stub.ts.Nanos = -1
	if _, err := st.TxTime(); err == nil {
		t.Error("TxTime() accepted an invalid timestamp")
	}
	stub.ts = nil
	if _, err := st.TxTime(); err == nil {
		t.Error("TxTime() accepted a missing timestamp")
	}
}

func TestStubStateRange(t *testing.T) {
	w := newWorld()
	for _, k := range []string{"a", "b1", "b2", "b3", "c"} {
		w.state[k] = []byte("v" + k)
	}
	errStop := errors.New("stop")
	tests := []struct {
		name     string
		start    string
		end      string
		stopAt   string // fn returns false at this key
		failAt   string // fn returns errStop at this key
		wantKeys []string
		wantErr  error
	}{
		{name: "bounded", start: "b", end: "c", wantKeys: []string{"b1", "b2", "b3"}},
		{name: "open end", start: "b2", wantKeys: []string{"b2", "b3", "c"}},
		{name: "open start", end: "b2", wantKeys: []string{"a", "b1"}},
		{name: "empty", start: "d", end: "e"},
		{name: "stops when fn says so", start: "a", stopAt: "b1", wantKeys: []string{"a", "b1"}},
		{name: "stops on error", start: "a", failAt: "b2", wantKeys: []string{"a", "b1", "b2"}, wantErr: errStop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, stub := newTestState(t, w, "RegulatorMSP")
			var keys []string
			err := st.Range(tc.start, tc.end, func(k string, v []byte) (bool, error) {
				keys = append(keys, k)
				if string(v) != "v"+k {
					t.Errorf("value of %s = %q", k, v)
				}
				if k == tc.failAt {
					return true, errStop
				}
				return k != tc.stopAt, nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(keys, tc.wantKeys) {
				t.Errorf("keys = %v, want %v", keys, tc.wantKeys)
			}
			if stub.openIters != 0 {
				t.Errorf("%d iterators left open", stub.openIters)
			}
		})
	}
}

// TestStubStateReadsCommittedState checks that the adapter adds no cache
// that would let a transaction read its own writes.
func TestStubStateReadsCommittedState(t *testing.T) {
	w := newWorld()
	w.state["k"] = []byte("old")
	st, stub := newTestState(t, w, "RegulatorMSP")
	if err := st.Put("k", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put("n", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Get("k"); err != nil || string(v) != "old" {
		t.Errorf("Get(k) after Put = %q, %v; want the committed %q", v, err, "old")
	}
	if v, err := st.Get("n"); err != nil || v != nil {
		t.Errorf("Get(n) after Put = %q, %v; want nil", v, err)
	}
	if err := st.Delete("k"); err != nil {
		t.Fatal(err)
	}
	stub.commit()
	if _, ok := w.state["k"]; ok || string(w.state["n"]) != "new" {
		t.Errorf("committed state = %q", w.state)
	}
}

func TestStubStatePrivate(t *testing.T) {
	const coll = contract.TermsCollection
	w := newWorld()
	w.private[coll] = map[string][]byte{"t1": []byte("terms1"), "t2": []byte("terms2")}

	st, stub := newTestState(t, w, "ExchangeMSP")
	if v, err := st.GetPrivate(coll, "t1"); err != nil || string(v) != "terms1" {
		t.Errorf("GetPrivate(t1) = %q, %v", v, err)
	}
	if v, err := st.GetPrivate(coll, "absent"); err != nil || v != nil {
		t.Errorf("GetPrivate(absent) = %q, %v; want nil, nil", v, err)
	}
	var keys []string
	if err := st.RangePrivate(coll, "", "", func(k string, _ []byte) (bool, error) {
		keys = append(keys, k)
		return true, nil
	}); err != nil || !reflect.DeepEqual(keys, []string{"t1", "t2"}) {
		t.Errorf("RangePrivate = %v, %v", keys, err)
	}
	if err := st.PutPrivate(coll, "t3", []byte("terms3")); err != nil {
		t.Fatal(err)
	}
	if err := st.PurgePrivate(coll, "t1"); err != nil {
		t.Fatal(err)
	}
	stub.commit()
	if _, ok := w.private[coll]["t1"]; ok || string(w.private[coll]["t3"]) != "terms3" {
		t.Errorf("committed private state = %q", w.private[coll])
	}
	if stub.openIters != 0 {
		t.Errorf("%d iterators left open", stub.openIters)
	}
}

// TestStubStateCollectionNotHeld covers a peer outside the terms collection:
// the values it lacks read as absent, but other private-data errors stay
// errors.
func TestStubStateCollectionNotHeld(t *testing.T) {
	const coll = contract.TermsCollection
	w := newWorld()
	w.private[coll] = map[string][]byte{"t1": []byte("terms1")}
	w.notHeld[coll] = true

	st, stub := newTestState(t, w, "ConsumerMSP")
	if _, err := stub.GetPrivateData(coll, "t1"); !isCollectionNotHeld(err) {
		t.Fatalf("the fake peer should refuse the read, got %v", err)
	}
	if v, err := st.GetPrivate(coll, "t1"); err != nil || v != nil {
		t.Errorf("GetPrivate on a non-member = %q, %v; want nil, nil", v, err)
	}
	n := 0
	if err := st.RangePrivate(coll, "", "", func(string, []byte) (bool, error) { n++; return true, nil }); err != nil || n != 0 {
		t.Errorf("RangePrivate on a non-member: %d keys, %v; want none", n, err)
	}

	denied := fmt.Errorf("GET_STATE failed: transaction ID: %s: tx creator does not have read access permission on privatedata in chaincodeName:tokentrail collectionName: %s", stub.txID, coll)
	stub.privErr = denied
	if _, err := st.GetPrivate(coll, "t1"); !errors.Is(err, denied) {
		t.Errorf("GetPrivate with read access denied = %v, want the peer's error", err)
	}
}

// TestChaincodeCollectionNotHeld runs a trade on a ledger and lists it as
// the regulator, once on a peer holding the terms and once on one that does
// not: the query succeeds on both, with the terms only where they are held.
func TestChaincodeCollectionNotHeld(t *testing.T) {
	l := newChaincodeLedger(t, mustChaincode(t), newIdentities(t), contracttest.NewClock())
	submit := func(org, fn string, req any, transient map[string][]byte) {
		t.Helper()
		if _, err := l.Submit(org, fn, mustJSON(t, req), transient); err != nil {
			t.Fatalf("%s by %s: %v", fn, org, err)
		}
	}
	submit("RegulatorMSP", contract.FnBootstrap, contract.BootstrapRequest{Name: "Regulator", Region: "CN"}, nil)
	for _, p := range []contract.RegisterParticipantRequest{
		{MSPID: "ProviderMSP", Name: "Provider", Roles: []string{"provider"}, Region: "CN"},
		{MSPID: "ExchangeMSP", Name: "Exchange", Roles: []string{"exchange"}, Region: "CN"},
		{MSPID: "ConsumerMSP", Name: "Consumer", Roles: []string{"consumer"}, Region: "CN"},
		{MSPID: "AuditorMSP", Name: "Auditor", Roles: []string{"auditor"}, Region: "CN"},
	} {
		submit("RegulatorMSP", contract.FnRegisterParticipant, p, nil)
	}
	submit("ProviderMSP", contract.FnCollect, contract.CollectRequest{
		ID: "b1", Name: "batch one", Sector: "finance", Modality: "text", Languages: []string{"zh-CN"},
		Tokens: contract.Tokens{Count: 1_000_000, Tokenizer: "o200k_base"}, ContentDigest: fmt.Sprintf("sha256:%064x", 1),
		SizeBytes: 1000, Records: 10, Classification: "general", PersonalInfo: "none", Deidentification: "none",
		LegalBasis: "contract", Purposes: []string{"model-training"}, Region: "CN", Licence: "CC-BY-4.0",
		Source: contract.Source{Type: "enterprise", Description: "reports", Region: "CN"},
	}, nil)
	score := 90.0
	submit("AuditorMSP", contract.FnAssess, contract.AssessRequest{BatchID: "b1", Score: &score, Method: "review"}, nil)
	terms := contract.Terms{UnitPrice: 12.5, Currency: "CNY", PriceUnit: "1M tokens", SettlementRef: "s-1"}
	submit("ExchangeMSP", contract.FnTrade, contract.TradeRequest{TradeID: "t-1", BatchID: "b1", Seller: "ProviderMSP",
		Buyer: "ConsumerMSP", Tokens: 10_000, Rights: "licence", Purposes: []string{"model-training"}},
		map[string][]byte{contract.TransientTerms: mustJSON(t, terms), contract.TransientSalts: bytes.Repeat([]byte{0x5a}, contract.SaltSize)})

	list := func() contract.Page[contract.Trade] {
		t.Helper()
		out, err := l.Evaluate("RegulatorMSP", contract.FnListTrades, mustJSON(t, contract.ListTradesRequest{BatchID: "b1"}))
		if err != nil {
			t.Fatalf("ListTrades: %v", err)
		}
		var page contract.Page[contract.Trade]
		mustUnmarshal(t, out, &page)
		if len(page.Items) != 1 {
			t.Fatalf("ListTrades: %d trades, want 1", len(page.Items))
		}
		return page
	}
	if got := list().Items[0].Terms; got == nil || *got != terms {
		t.Fatalf("terms on a member peer = %+v, want %+v", got, terms)
	}
	l.w.notHeld[contract.TermsCollection] = true
	if got := list().Items[0].Terms; got != nil {
		t.Errorf("terms on a non-member peer = %+v, want none", got)
	}
}
