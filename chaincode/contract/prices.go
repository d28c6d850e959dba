package contract

import (
	"encoding/json"
	"math"
	"sort"
	"time"
)

// The price index publishes per-cell statistics under statistical disclosure
// control (docs/design/0017-price-index-threat-model.md). A cell is one sector,
// modality and currency over one calendar period (UTC day, ISO week starting
// Monday, or calendar month). Everyone but the regulator sees only closed
// periods, and a cell only when it cannot disclose a price the reader does
// not already know.
const (
	// MaxUnitPrice bounds a trade's unit price (per million tokens), so that
	// every sum the index forms stays finite.
	MaxUnitPrice = 1e9
	// MinCellTrades is the number of trades, unknown to the reader, that a
	// cell needs to be shown (a cell whose trades the reader all took part
	// in is shown too).
	MinCellTrades = MinBucketTrades
	// MinCellSellers is the number of distinct sellers those trades need.
	MinCellSellers = 2
	// DominanceP is p of the dominance rule (the p% rule for an intruder
	// outside the cell: the reader's own trades are removed first): the
	// contributions (price×tokens, per seller) of all sellers but the
	// largest must add up to at least p% of the largest one, so that the
	// cell's total overstates the largest seller's by at least p%.
	DominanceP = 10
	// MinQuantileTrades is the number of trades a cell needs before its
	// median and interquartile range are computed at all.
	MinQuantileTrades = 20
)

// pricePointFormat is the format of the price points trade() writes. Format
// 1 (no "format" field) had no parties: such a point counts as contributed
// by unknown parties, so it is never known to a reader.
const pricePointFormat = 2

// Index intervals.
const (
	IntervalDay    = "day"
	IntervalWeek   = "week"
	IntervalMonth  = "month"
	IntervalWindow = "window" // the regulator's only
)

var intervals = []string{IntervalDay, IntervalWeek, IntervalMonth, IntervalWindow}

// periodStart returns the start of the period of the given interval that
// holds ts (UTC).
func periodStart(interval string, ts time.Time) time.Time {
	ts = ts.UTC()
	day := time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC)
	switch interval {
	case IntervalWeek:
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case IntervalMonth:
		return time.Date(ts.Year(), ts.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return day
}

// periodEnd returns the end (exclusive) of the period that starts at start.
func periodEnd(interval string, start time.Time) time.Time {
	switch interval {
	case IntervalWeek:
		return start.AddDate(0, 0, 7)
	case IntervalMonth:
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}

// point is a stored price point that passed the index's checks.
type point struct {
	key   string
	pp    pricePoint
	ts    time.Time
	value float64 // unit price × tokens
}

// partyTo reports whether msp took part in the point's trade, as recording
// exchange, seller or buyer. A point without parties (format 1) is nobody's.
func (x *point) partyTo(msp string) bool {
	return msp != "" && (x.pp.Exchange == msp || x.pp.Seller == msp || x.pp.Buyer == msp)
}

// readPoint decodes a stored price point and checks it. A point the index
// cannot use (undecodable, of an unknown format, or with a price, volume or
// quality out of range — as an earlier version could write) is reported as
// not ok, so the index skips it instead of failing or going infinite.
func readPoint(key string, v []byte) (*point, bool) {
	var pp pricePoint
	if err := json.Unmarshal(v, &pp); err != nil {
		return nil, false
	}
	if pp.Format > pricePointFormat {
		return nil, false
	}
	ts, err := parseTime(pp.Time)
	if err != nil {
		return nil, false
	}
	if math.IsNaN(pp.UnitPrice) || math.IsInf(pp.UnitPrice, 0) || pp.UnitPrice < 0 || pp.UnitPrice > MaxUnitPrice ||
		pp.Tokens < 1 || pp.Tokens > MaxTokens || math.IsNaN(pp.Quality) || pp.Quality < 0 || pp.Quality > 100 ||
		!reCurrency.MatchString(pp.Currency) {
		return nil, false
	}
	return &point{key: key, pp: pp, ts: ts.UTC(), value: pp.UnitPrice * float64(pp.Tokens)}, true
}

// disclosive reports whether publishing an aggregate of the given points —
// all of them unknown to the reader — could disclose a price: fewer than
// MinCellTrades points, fewer than MinCellSellers sellers, or one seller
// dominating under the p% rule (for an outside intruder, see [DominanceP])
// on val aggregated per seller. Points without
// parties are taken as one seller. No points disclose nothing.
func disclosive(pts []*point, val func(*point) float64) bool {
	if len(pts) == 0 {
		return false
	}
	if len(pts) < MinCellTrades {
		return true
	}
	bySeller := map[string]float64{}
	total := 0.0
	for _, x := range pts {
		v := val(x)
		bySeller[x.pp.Seller] += v
		total += v
	}
	if len(bySeller) < MinCellSellers {
		return true
	}
	shares := make([]float64, 0, len(bySeller))
	for _, k := range sortedKeys(bySeller) {
		shares = append(shares, bySeller[k])
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(shares)))
	rest := total - shares[0]
	return rest*100 < DominanceP*shares[0]
}

func valueOf(x *point) float64 { return x.value }
func priceOf(x *point) float64 { return x.pp.UnitPrice }

// unknownTo returns the points reader took no part in (all of them for the
// regulator's unrestricted view, where reader is "").
func unknownTo(pts []*point, reader string) []*point {
	out := make([]*point, 0, len(pts))
	for _, x := range pts {
		if !x.partyTo(reader) {
			out = append(out, x)
		}
	}
	return out
}

// quantiles returns a cell's median and interquartile range, or ok false
// when they may not be published to reader ("" for the regulator).
//
// A quantile is not one trade's price: it is the mean of the w = 2⌊n/10⌋
// prices (n ≥ MinQuantileTrades, so w ≥ 4, and even, so that for evenly
// spaced prices it falls between two trades, not on one) of consecutive
// rank centred on the quantile's position. The median is the mean of the central band; the
// IQR the mean of the upper-quartile band minus that of the lower-quartile
// band. For a reader, each band's trades unknown to it, and the unknown
// trades outside all three bands, must each not be disclosive, so that
// subtracting the reader's own prices leaves sums of at least three
// undominated unknown prices.
func quantiles(pts []*point, reader string) (median, iqr float64, ok bool) {
	n := len(pts)
	if n < MinQuantileTrades {
		return 0, 0, false
	}
	sorted := append([]*point(nil), pts...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].pp.UnitPrice != sorted[j].pp.UnitPrice {
			return sorted[i].pp.UnitPrice < sorted[j].pp.UnitPrice
		}
		return sorted[i].key < sorted[j].key
	})
	w := 2 * (n / 10)
	var means [3]float64
	inBand := make([]bool, n)
	prevEnd := 0
	for b, q := range []float64{0.25, 0.5, 0.75} {
		lo := int(math.Floor(q*float64(n-1) - float64(w-1)/2 + 0.5))
		hi := lo + w
		if lo < prevEnd || hi > n {
			return 0, 0, false
		}
		prevEnd = hi
		band := sorted[lo:hi]
		if reader != "" && disclosive(unknownTo(band, reader), priceOf) {
			return 0, 0, false
		}
		sum := 0.0
		for i, x := range band {
			sum += x.pp.UnitPrice
			inBand[lo+i] = true
		}
		means[b] = sum / float64(w)
	}
	if reader != "" {
		var outside []*point
		for i, x := range sorted {
			if !inBand[i] && !x.partyTo(reader) {
				outside = append(outside, x)
			}
		}
		if disclosive(outside, valueOf) {
			return 0, 0, false
		}
	}
	return round6(means[1]), round6(means[2] - means[0]), true
}

// stats computes a cell's published numbers.
func stats(pts []*point, reader string) *PriceStats {
	s := &PriceStats{}
	value, qTokens, qSum := 0.0, 0.0, 0.0
	for _, x := range pts {
		s.Trades++
		s.Tokens += x.pp.Tokens
		value += x.value
		qTokens += float64(x.pp.Tokens) * x.pp.Quality / 100
		qSum += x.pp.Quality
	}
	s.VWAP = round6(value / float64(s.Tokens))
	if qTokens > 0 {
		s.QualityAdjusted = round6(value / qTokens)
	}
	s.AvgQuality = round6(qSum / float64(s.Trades))
	if m, r, ok := quantiles(pts, reader); ok {
		s.Median, s.IQR = &m, &r
	}
	return s
}

// cell is one sector, modality and currency over one period.
type cell struct {
	b   PriceBucket
	pts []*point
}

func prices(t *txn, args []byte) (any, error) {
	req, p, err := readRequest[PricesRequest](t, args)
	if err != nil {
		return nil, err
	}
	if err := checkOptionalEnum("sector", req.Sector, sectors); err != nil {
		return nil, err
	}
	if err := checkOptionalEnum("modality", req.Modality, modalities); err != nil {
		return nil, err
	}
	if req.Currency != "" {
		if err := checkCurrency("currency", req.Currency); err != nil {
			return nil, err
		}
	}
	if req.Interval == "" {
		req.Interval = IntervalDay
	}
	if err := checkEnum("interval", req.Interval, intervals); err != nil {
		return nil, err
	}
	regulator := contains(p.Roles, RoleRegulator)
	if req.Interval == IntervalWindow && !regulator {
		return nil, forbidden("interval=window is for the regulator only; ask for day, week or month cells")
	}
	var from, to time.Time
	if req.From != "" {
		if from, err = checkTime("from", req.From); err != nil {
			return nil, err
		}
	}
	if req.To != "" {
		if to, err = checkTime("to", req.To); err != nil {
			return nil, err
		}
	}
	if !regulator {
		for _, b := range []struct {
			field string
			v     time.Time
		}{{"from", from}, {"to", to}} {
			if !b.v.IsZero() && !periodStart(req.Interval, b.v).Equal(b.v) {
				return nil, invalid(b.field, "must be the start of a UTC %s (%s), such as %s; the index has whole periods only",
					req.Interval, periodRule(req.Interval), periodStart(req.Interval, b.v).Format(time.RFC3339))
			}
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, invalid("to", "must be after from")
	}
	start, end := kPrice, prefixEnd(kPrice)
	if !from.IsZero() {
		start = kPrice + from.UTC().Format(timeKeyLayout)
	}
	if !to.IsZero() {
		end = kPrice + to.UTC().Format(timeKeyLayout)
	}

	out := Prices{From: req.From, To: req.To, Interval: req.Interval, Buckets: []PriceBucket{}}
	cells := map[string]*cell{}
	// days holds the same points per day cell, for the checks of week and
	// month cells against their suppressed days.
	days := map[string][]*point{}
	skipped := 0
	if err := t.checkFormat(); err != nil {
		return nil, err
	}
	add := func(k string, v []byte) {
		x, ok := readPoint(k, v)
		if !ok {
			skipped++
			return
		}
		if (req.Sector != "" && x.pp.Sector != req.Sector) || (req.Modality != "" && x.pp.Modality != req.Modality) ||
			(req.Currency != "" && x.pp.Currency != req.Currency) {
			return
		}
		var cs, ce string
		if req.Interval == IntervalWindow {
			cs, ce = req.From, req.To
		} else {
			s := periodStart(req.Interval, x.ts)
			cs, ce = s.Format(time.RFC3339), periodEnd(req.Interval, s).Format(time.RFC3339)
		}
		key := join(cs, x.pp.Sector, x.pp.Modality, x.pp.Currency)
		c := cells[key]
		if c == nil {
			c = &cell{b: PriceBucket{Sector: x.pp.Sector, Modality: x.pp.Modality, Currency: x.pp.Currency, Start: cs, End: ce}}
			cells[key] = c
		}
		c.pts = append(c.pts, x)
		dk := join(periodStart(IntervalDay, x.ts).Format(time.RFC3339), x.pp.Sector, x.pp.Modality, x.pp.Currency)
		days[dk] = append(days[dk], x)
	}
	err = t.st.RangePrivate(TermsCollection, start, end, func(k string, v []byte) (bool, error) {
		if !isChunkKey(k) {
			add(k, v)
			return true, nil
		}
		// A chunk holds a transaction's points, each read and checked on
		// its own as a point of its own key would be. A chunk the contract
		// cannot read (undecodable, or of a newer format) is skipped as one.
		var c priceChunk
		if err := json.Unmarshal(v, &c); err != nil || c.Format != formatChunks {
			skipped++
			return true, nil
		}
		for i, pv := range c.Points {
			add(entryKey(k, i), pv)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if regulator {
		out.Skipped = skipped
	}
	for _, k := range sortedKeys(cells) {
		c := cells[k]
		if regulator {
			c.b.PriceStats = stats(c.pts, "")
			out.Buckets = append(out.Buckets, c.b)
			continue
		}
		cEnd, _ := time.Parse(time.RFC3339, c.b.End)
		if cEnd.After(t.now) {
			continue // the period is still open
		}
		if publishable(c, req.Interval, days, p.MSPID) {
			c.b.PriceStats = stats(c.pts, p.MSPID)
		} else {
			c.b.Suppressed = true
			out.Withheld++
		}
		out.Buckets = append(out.Buckets, c.b)
	}
	sort.SliceStable(out.Buckets, func(i, j int) bool { return out.Buckets[i].Start < out.Buckets[j].Start })
	return out, nil
}

// publishable reports whether a closed cell may be shown to reader: its
// trades unknown to the reader are not disclosive, and, for a week or month,
// neither are the unknown trades of its suppressed days within each of its
// segments (the days it shares with one month, or with one ISO week), which
// is all that subtracting published days and cells can isolate.
func publishable(c *cell, interval string, days map[string][]*point, reader string) bool {
	if disclosive(unknownTo(c.pts, reader), valueOf) {
		return false
	}
	if interval == IntervalDay {
		return true
	}
	segments := map[string][]*point{}
	seen := map[string]bool{}
	for _, x := range c.pts {
		day := periodStart(IntervalDay, x.ts)
		dk := join(day.Format(time.RFC3339), x.pp.Sector, x.pp.Modality, x.pp.Currency)
		if seen[dk] {
			continue
		}
		seen[dk] = true
		unknown := unknownTo(days[dk], reader)
		if !disclosive(unknown, valueOf) {
			continue // the day cell is shown: nothing of it is hidden
		}
		sk := periodStart(IntervalWeek, day).Format(time.RFC3339) + "|" + periodStart(IntervalMonth, day).Format(time.RFC3339)
		segments[sk] = append(segments[sk], unknown...)
	}
	for _, sk := range sortedKeys(segments) {
		if disclosive(segments[sk], valueOf) {
			return false
		}
	}
	return true
}

func periodRule(interval string) string {
	switch interval {
	case IntervalWeek:
		return "a Monday at 00:00Z"
	case IntervalMonth:
		return "the 1st at 00:00Z"
	}
	return "00:00Z"
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
