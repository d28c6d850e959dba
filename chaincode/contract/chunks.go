package contract

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Trade chunks (ledger format version 3). A transaction that records trades
// writes their public records into one document on the time index and their
// price points into one private document, instead of one key each; the
// per-batch trade index (bt/) is not written at all, since a batch's history
// and the trade records (t/) hold the same. What stays one key per trade is
// what is looked up by its own ID: the trade record t/<exchange>/<tradeId>
// (idempotency), the event h/<batch>/<seq> and ev/<eventId>, and the terms
// terms/<exchange>/<tradeId>, which retirement purges one trade at a time.
// Format 3 keeps no circulation index (ci/) either: a batch's circulations
// are the CIRCULATED events of its history.
// See docs/design/0027-fewer-keys-per-event.md and docs/data-model.md.
//
// A ledger keeps the layout of the version it was bootstrapped with: one of
// format 1 or 2 goes on writing and reading a key per trade and per
// circulation, so no ledger mixes the two layouts where a reader would have
// to guess.

// formatChunks is the first ledger format version with trade chunks and
// without the per-batch trade and circulation indexes.
const formatChunks = 3

// chunkPart ends the key of a chunk document: tt/<time>/<eventId>/chunk and
// price/<time>/<eventId>/chunk, where eventId is the chunk's first trade's
// event. A key per trade has three parts, so the two never meet; an entry of
// a chunk is addressed (in page tokens, and as the price index's tie-break)
// as <chunk key>/<index>, which sorts after the chunk's key and before any
// key that follows it.
const chunkPart = "chunk"

// tradeChunk is the public document of a transaction's trades: each entry is
// a [Trade] as the time index held it one key each.
type tradeChunk struct {
	Format int               `json:"format"`
	Trades []json.RawMessage `json:"trades"`
}

// priceChunk is the private document of a transaction's price points: each
// entry is a [pricePoint] with its own salt, as one key each held it. Its
// one hash in the ledgers' hashed private write sets commits to all of them.
type priceChunk struct {
	Format int               `json:"format"`
	Points []json.RawMessage `json:"points"`
}

// chunked reports whether the ledger stores trades in chunks, refusing a
// ledger of a newer format than this contract reads.
func (t *txn) chunked() (bool, error) {
	if err := t.checkFormat(); err != nil {
		return false, err
	}
	return t.format >= formatChunks, nil
}

// isChunkKey reports whether key is a chunk document's.
func isChunkKey(key string) bool { return strings.HasSuffix(key, "/"+chunkPart) }

// entryKey addresses entry i of the chunk at key.
func entryKey(chunk string, i int) string { return join(chunk, seqKey(int64(i))) }

// chunkOfEntry returns the chunk key of an entry key, or "" when key is not
// one.
func chunkOfEntry(key string) string {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return ""
	}
	if _, err := strconv.ParseUint(key[i+1:], 10, 64); err != nil || len(key)-i-1 != 12 {
		return ""
	}
	if !isChunkKey(key[:i]) {
		return ""
	}
	return key[:i]
}

// addToChunk adds one recorded trade (its public record and its price
// point) to the transaction's chunk.
func (t *txn) addToChunk(eventID string, trade, point []byte) {
	if len(t.chunkTrades) == 0 {
		t.chunkFirst = eventID
	}
	t.chunkTrades = append(t.chunkTrades, trade)
	t.chunkPoints = append(t.chunkPoints, point)
}

// writeChunk writes the transaction's chunk documents, if it recorded any
// trade. Entries are in the order of the submission.
func (t *txn) writeChunk() {
	if len(t.chunkTrades) == 0 {
		return
	}
	tk := t.now.Format(timeKeyLayout)
	t.put(join(kTradeTime+tk, t.chunkFirst, chunkPart), encodeChunk("trades", t.chunkTrades))
	t.private[join(kPrice+tk, t.chunkFirst, chunkPart)] = encodeChunk("points", t.chunkPoints)
}

// encodeChunk is json.Marshal of a tradeChunk or priceChunk whose entries
// are already compact JSON.
func encodeChunk(field string, entries [][]byte) []byte {
	n := 32
	for _, e := range entries {
		n += len(e) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, `{"format":`...)
	out = strconv.AppendInt(out, formatChunks, 10)
	out = append(out, `,"`...)
	out = append(out, field...)
	out = append(out, `":[`...)
	for i, e := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, "]}"...)
}

// entry is one item of a ranged index: a key of its own, or an entry of a
// chunk document.
type entry struct {
	key   string
	value []byte
}

// tradeEntries expands a time-index value into its trades: the value itself
// for a key per trade, the chunk's trades for a chunk. A chunk of a format
// this contract does not know is refused, never read as another.
func tradeEntries(key string, v []byte) ([]entry, error) {
	if !isChunkKey(key) {
		return []entry{{key, v}}, nil
	}
	var c tradeChunk
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	if c.Format != formatChunks {
		return nil, fmt.Errorf("trade chunk %s has format %d; this contract reads format %d: upgrade the contract", key, c.Format, formatChunks)
	}
	out := make([]entry, len(c.Trades))
	for i, tr := range c.Trades {
		out[i] = entry{entryKey(key, i), tr}
	}
	return out, nil
}

// pageOverEntries is pageOver over an index whose values may be chunks:
// expand gives a stored value's entries, and page tokens name entries, so a
// page may end inside a chunk and the next one resumes there.
func (t *txn) pageOverEntries(prefix, start, end, token string, size int, expand func(string, []byte) ([]entry, error),
	keep func(key string, v []byte) (bool, error)) (string, error) {
	last, err := decodeToken(token, prefix)
	if err != nil {
		return "", err
	}
	if last != "" {
		if last < start || last >= end {
			return "", invalid("pageToken", "is outside this list; start again without it")
		}
		if c := chunkOfEntry(last); c != "" && c >= start {
			start = c
		} else {
			start = after(last)
		}
	}
	resume := last
	taken, scanned, next := 0, 0, ""
	err = t.st.Range(start, end, func(k string, v []byte) (bool, error) {
		entries, err := expand(k, v)
		if err != nil {
			return false, err
		}
		if len(entries) == 0 {
			// A stored value with nothing to list (a batch's event that
			// is not a trade) still counts as scanned and moves the page
			// on, as in pageOver.
			if taken == size || scanned == maxScan {
				next = encodeToken(last)
				return false, nil
			}
			scanned++
			last = k
			return true, nil
		}
		for _, e := range entries {
			if resume != "" && e.key <= resume {
				continue
			}
			if taken == size || scanned == maxScan {
				next = encodeToken(last)
				return false, nil
			}
			scanned++
			last = e.key
			ok, err := keep(e.key, e.value)
			if err != nil {
				return false, err
			}
			if ok {
				taken++
			}
		}
		return true, nil
	})
	return next, err
}

// batchTrades returns a batch's trades in the order they were recorded, from
// whichever layout the ledger keeps.
func (t *txn) batchTrades(batchID string) ([]Trade, error) {
	chunked, err := t.chunked()
	if err != nil {
		return nil, err
	}
	out := []Trade{}
	if !chunked {
		prefix := join(kBatchTrade+batchID, "")
		err := t.st.Range(prefix, prefixEnd(prefix), func(_ string, v []byte) (bool, error) {
			var tr Trade
			err := json.Unmarshal(v, &tr)
			out = append(out, tr)
			return err == nil, err
		})
		return out, err
	}
	var keys []string
	var events []Event
	prefix := join(kHistory+batchID, "")
	err = t.st.Range(prefix, prefixEnd(prefix), func(k string, v []byte) (bool, error) {
		e, ok, err := tradedEvent(k, v)
		if ok {
			keys = append(keys, join(kTrade+e.Traded.Exchange, e.Traded.TradeID))
			events = append(events, e)
		}
		return err == nil, err
	})
	if err != nil || len(keys) == 0 {
		return out, err
	}
	vals, err := t.st.GetMultiple(keys)
	if err != nil {
		return nil, err
	}
	if len(vals) != len(keys) {
		return nil, fmt.Errorf("batched read of %d keys returned %d values", len(keys), len(vals))
	}
	for i, v := range vals {
		tr, err := tradeOfRecord(keys[i], v, &events[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *tr)
	}
	return out, nil
}

// batchCirculations returns a batch's CIRCULATED events in the order they
// were recorded: from its circulation index (formats 1 and 2) or its
// history (format 3, which keeps no such index).
func (t *txn) batchCirculations(batchID string) ([]Event, error) {
	chunked, err := t.chunked()
	if err != nil {
		return nil, err
	}
	out := []Event{}
	prefix := join(kCirculation+batchID, "")
	if chunked {
		prefix = join(kHistory+batchID, "")
	}
	err = t.st.Range(prefix, prefixEnd(prefix), func(k string, v []byte) (bool, error) {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return false, fmt.Errorf("decode %s: %w", k, err)
		}
		if e.Type == EventCirculated {
			out = append(out, e)
		}
		return true, nil
	})
	return out, err
}

// tradedEvent decodes a history entry and reports whether it is a trade.
func tradedEvent(key string, v []byte) (Event, bool, error) {
	var e Event
	if err := json.Unmarshal(v, &e); err != nil {
		return e, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return e, e.Type == EventTraded && e.Traded != nil, nil
}

// tradeOfRecord returns the trade of the record stored at key for the
// TRADED event e.
func tradeOfRecord(key string, v []byte, e *Event) (*Trade, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("trade record %s of event %s is missing", key, e.EventID)
	}
	var rec tradeRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	if rec.Trade.EventID != e.EventID {
		return nil, fmt.Errorf("trade record %s belongs to event %s, not %s", key, rec.Trade.EventID, e.EventID)
	}
	return &rec.Trade, nil
}
