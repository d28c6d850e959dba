package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// tradeRecord is what the ledger keeps per exchange and trade ID, so a
// replay can be recognised (TT-R12).
type tradeRecord struct {
	Trade Trade `json:"trade"`
	Seq   int64 `json:"seq"`
}

// encodeTradeRecord is json.Marshal(tradeRecord{Trade: trade, Seq: seq})
// where trade is the trade's own encoding.
func encodeTradeRecord(trade []byte, seq int64) []byte {
	out := make([]byte, 0, len(trade)+32)
	out = append(out, `{"trade":`...)
	out = append(out, trade...)
	out = append(out, `,"seq":`...)
	out = strconv.AppendInt(out, seq, 10)
	return append(out, '}')
}

// pricePoint is one trade's contribution to the price index. It lives in
// the private collection, never leaves the contract raw, and names no trade.
// Format 2 names the trade's parties, so the index can tell which prices a
// reader already knows; format 1 (no "format") did not.
type pricePoint struct {
	Format int `json:"format,omitempty"`
	// Salt makes the point's hash a commitment (see private.go); it is
	// derived from the trade's salt by priceSalt. Empty in points written
	// before salts (ledger format version 1).
	Salt      string  `json:"salt,omitempty"`
	Sector    string  `json:"sector"`
	Modality  string  `json:"modality"`
	Currency  string  `json:"currency"`
	UnitPrice float64 `json:"unitPrice"`
	Tokens    int64   `json:"tokens"`
	Quality   float64 `json:"quality"`
	Time      string  `json:"time"`
	Exchange  string  `json:"exchange,omitempty"`
	Seller    string  `json:"seller,omitempty"`
	Buyer     string  `json:"buyer,omitempty"`
}

// tradeDigest commits to a trade's public content, so a replay with other
// content is told apart from an exact one.
func tradeDigest(exchange string, r *TradeRequest) string {
	b, _ := json.Marshal(struct {
		Exchange string `json:"exchange"`
		*TradeRequest
	}{exchange, r})
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func transientTerms(t *txn) ([]byte, error) {
	tm, err := t.st.Transient()
	if err != nil {
		return nil, err
	}
	return tm[TransientTerms], nil
}

func recordTrade(t *txn, args []byte) (any, error) {
	var req TradeRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	raw, err := transientTerms(t)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, invalid("terms", "trade terms are required (they travel privately, in the transient map)")
	}
	var terms Terms
	if err := decode(raw, &terms); err != nil {
		return nil, prefixField("terms", err)
	}
	salts, err := transientSalts(t, 1)
	if err != nil {
		return nil, err
	}
	actor, err := t.actor()
	if err != nil {
		return nil, err
	}
	res, err := t.trade(actor, &req, &terms, salts[0], "")
	if err != nil {
		return nil, err
	}
	t.writeChunk()
	return res, nil
}

func prefixField(prefix string, err error) error {
	if e, ok := err.(*Error); ok && e.Field != "" && e.Field != "body" {
		cp := *e
		cp.Field = prefix + "." + e.Field
		return &cp
	}
	if e, ok := err.(*Error); ok {
		cp := *e
		cp.Field = prefix
		return &cp
	}
	return err
}

func recordTrades(t *txn, args []byte) (any, error) {
	var req BulkTradeRequest
	if err := decode(args, &req); err != nil {
		return nil, err
	}
	if len(req.Trades) == 0 {
		return nil, invalid("trades", "needs at least one trade")
	}
	if len(req.Trades) > MaxBulkTrades {
		return nil, invalid("trades", "has more than %d trades; split the submission", MaxBulkTrades)
	}
	raw, err := transientTerms(t)
	if err != nil {
		return nil, err
	}
	var terms []Terms
	if raw == nil {
		return nil, invalid("terms", "trade terms are required (they travel privately, in the transient map)")
	}
	if err := decode(raw, &terms); err != nil {
		return nil, prefixField("terms", err)
	}
	if len(terms) != len(req.Trades) {
		return nil, invalid("terms", "has %d entries for %d trades", len(terms), len(req.Trades))
	}
	salts, err := transientSalts(t, len(req.Trades))
	if err != nil {
		return nil, err
	}
	actor, err := t.actor()
	if err != nil {
		return nil, err
	}
	if err := ruleRole(actor, EventTraded, false); err != nil {
		return nil, err
	}
	if err := t.prefetchTrades(req.Trades); err != nil {
		return nil, err
	}
	out := BulkTradeResult{Results: make([]BulkItemResult, len(req.Trades))}
	for i := range req.Trades {
		r := &req.Trades[i]
		item := BulkItemResult{TradeID: r.TradeID}
		res, err := t.trade(actor, r, &terms[i], salts[i], "")
		switch e := err.(type) {
		case nil:
			item.Status = BulkCommitted
			if res.Replayed {
				item.Status = BulkReplayed
			}
			item.EventID = res.Event.EventID
			item.TxID = res.Event.TxID
		case *Error:
			item.Status = BulkRejected
			item.Error = e
		default:
			return nil, err
		}
		out.Results[i] = item
	}
	t.writeChunk()
	return out, nil
}

// prefetchTrades reads, in one batched call, what every trade of a bulk
// submission looks up first: its idempotency record, its batch and its
// buyer. IDs that are not valid keys are left to the trade's own checks.
func (t *txn) prefetchTrades(trades []TradeRequest) error {
	keys := make([]string, 0, 3*len(trades))
	for i := range trades {
		r := &trades[i]
		if checkID("tradeId", r.TradeID) == nil {
			keys = append(keys, join(kTrade+t.caller, r.TradeID))
		}
		if checkID("batchId", r.BatchID) == nil {
			keys = append(keys, kBatch+r.BatchID)
		}
		if checkMSP("buyer", r.Buyer) == nil {
			keys = append(keys, kParticipant+r.Buyer)
		}
	}
	return t.prefetch(keys)
}

// trade checks one trade and, when every rule passes, records it. It writes
// nothing when it returns an error, so a bulk submission can go on past a
// rejected trade.
func (t *txn) trade(actor *Participant, req *TradeRequest, terms *Terms, salt []byte, prefix string) (*WriteResult, error) {
	if err := ruleRole(actor, EventTraded, false); err != nil {
		return nil, err
	}
	if err := req.validate(prefix); err != nil {
		return nil, err
	}
	if err := terms.validate(prefix); err != nil {
		return nil, err
	}
	if err := t.checkFormat(); err != nil {
		return nil, err
	}
	digest := tradeDigest(t.caller, req)
	var prev tradeRecord
	found, err := t.getJSON(join(kTrade+t.caller, req.TradeID), &prev)
	if err != nil {
		return nil, err
	}
	if found {
		return t.replay(&prev, digest, terms)
	}
	b, err := t.readable(actor, prefix+"batchId", req.BatchID)
	if err != nil {
		return nil, err
	}
	if _, err := t.activeParticipant(prefix+"buyer", req.Buyer); err != nil {
		return nil, err
	}
	if err := checkTrade(t, b, req); err != nil {
		return nil, err
	}

	old := *b
	e := t.newEvent(EventTraded, b.ID)
	e.Traded = &TradedPayload{TradeID: req.TradeID, Exchange: t.caller, Seller: req.Seller, Buyer: req.Buyer,
		Tokens: req.Tokens, Rights: req.Rights, Purposes: req.Purposes}
	extendCustody(b, req.Buyer, "", t.now)
	if req.Rights == "ownership" {
		b.Owner = req.Buyer
	}
	e, err = t.appendEvent(b, e)
	if err != nil {
		return nil, err
	}
	tr := Trade{TradeID: req.TradeID, Exchange: t.caller, BatchID: b.ID, Seller: req.Seller, Buyer: req.Buyer,
		Tokens: req.Tokens, Rights: req.Rights, Purposes: req.Purposes, EventID: e.EventID, TxID: t.txID,
		Timestamp: t.nowStr, Digest: digest}
	// The trade is encoded once: the batch and time indexes hold the same
	// bytes, and the trade record wraps them as json.Marshal of a
	// tradeRecord would.
	trb, err := json.Marshal(tr)
	if err != nil {
		return nil, fmt.Errorf("encode trade %s: %w", req.TradeID, err)
	}
	t.put(join(kTrade+t.caller, req.TradeID), encodeTradeRecord(trb, e.Seq))
	tb, err := encodeTermsRecord(terms, salt)
	if err != nil {
		return nil, err
	}
	t.private[join(kTerms+t.caller, req.TradeID)] = tb
	pp := pricePoint{Sector: b.Sector, Modality: b.Modality, Currency: terms.Currency, UnitPrice: terms.UnitPrice,
		Tokens: req.Tokens, Quality: b.Quality.Score, Time: t.nowStr,
		Format: pricePointFormat, Exchange: t.caller, Seller: req.Seller, Buyer: req.Buyer}
	pp.Salt = priceSalt(salt)
	pb, _ := json.Marshal(pp)
	chunked := t.format >= formatChunks
	if !chunked {
		tk := t.now.Format(timeKeyLayout)
		t.put(join(kBatchTrade+b.ID, seqKey(e.Seq)), trb)
		t.put(join(kTradeTime+tk, e.EventID), trb)
		t.private[join(kPrice+tk, e.EventID)] = pb
	}
	if err := t.saveBatch(&old, b); err != nil {
		return nil, err
	}
	if chunked {
		// The time index and the price point go into the transaction's
		// chunk documents; the batch's history is its trade index.
		t.addToChunk(e.EventID, trb, pb)
	}
	return &WriteResult{Batch: t.viewBatch(actor, b), Event: &e}, nil
}

// checkTrade runs the rules a trade must pass.
func checkTrade(t *txn, b *Batch, req *TradeRequest) error {
	if err := ruleSeller(b, req.Seller); err != nil {
		return err
	}
	if err := ruleStatus(b, "traded"); err != nil {
		return err
	}
	if err := ruleRetention(b, t.now, EventTraded); err != nil {
		return err
	}
	tainted, err := t.taintOf(b)
	if err != nil {
		return err
	}
	if err := ruleTaint(b, tainted, "traded"); err != nil {
		return err
	}
	if err := ruleQuantity(b, req.Tokens); err != nil {
		return err
	}
	if err := ruleQualityGate(b); err != nil {
		return err
	}
	if err := rulePurpose(b, req.Purposes...); err != nil {
		return err
	}
	if err := ruleDeidTrade(b); err != nil {
		return err
	}
	return nil
}

// replay answers a trade whose exchange and trade ID are already recorded:
// the first result when the content is the same, a TT-R12 conflict when not.
func (t *txn) replay(prev *tradeRecord, digest string, terms *Terms) (*WriteResult, error) {
	if prev.Trade.Digest != digest {
		return nil, conflict(RuleIdempotency, "trade %s was already recorded by %s with different content", prev.Trade.TradeID, prev.Trade.Exchange)
	}
	// The replay carries a salt of its own: terms are compared without it.
	stored, err := t.readTerms(join(kTerms+prev.Trade.Exchange, prev.Trade.TradeID))
	if err != nil {
		return nil, err
	}
	if stored != nil {
		if stored.Terms != *terms {
			return nil, conflict(RuleIdempotency, "trade %s was already recorded by %s with different terms", prev.Trade.TradeID, prev.Trade.Exchange)
		}
	}
	var e Event
	ok, err := t.getJSON(join(kHistory+prev.Trade.BatchID, seqKey(prev.Seq)), &e)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("the first recording of trade %s is missing", prev.Trade.TradeID)
	}
	return &WriteResult{Event: &e, Replayed: true}, nil
}
