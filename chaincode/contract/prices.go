package contract

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"time"
)

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
	if req.Interval == "" {
		req.Interval = "day"
	}
	if err := checkEnum("interval", req.Interval, []string{"day", "window"}); err != nil {
		return nil, err
	}
	from, err := timeBound("from", req.From)
	if err != nil {
		return nil, err
	}
	to, err := timeBound("to", req.To)
	if err != nil {
		return nil, err
	}
	start, end := kPrice, prefixEnd(kPrice)
	if from != "" {
		start = kPrice + from
	}
	if to != "" {
		end = kPrice + to
	}
	type agg struct {
		b                    PriceBucket
		value, qTokens, qSum float64
	}
	buckets := map[string]*agg{}
	err = t.st.RangePrivate(TermsCollection, start, end, func(_ string, v []byte) (bool, error) {
		var pp pricePoint
		if err := json.Unmarshal(v, &pp); err != nil {
			return false, err
		}
		if (req.Sector != "" && pp.Sector != req.Sector) || (req.Modality != "" && pp.Modality != req.Modality) {
			return true, nil
		}
		ts, err := parseTime(pp.Time)
		if err != nil {
			return false, err
		}
		bStart, bEnd := req.From, req.To
		if req.Interval == "day" {
			day := time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC)
			bStart, bEnd = day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339)
		}
		key := strings.Join([]string{bStart, pp.Sector, pp.Modality, pp.Currency}, "|")
		a := buckets[key]
		if a == nil {
			a = &agg{b: PriceBucket{Sector: pp.Sector, Modality: pp.Modality, Currency: pp.Currency, Start: bStart, End: bEnd}}
			buckets[key] = a
		}
		a.b.Trades++
		a.b.Tokens += pp.Tokens
		a.value += pp.UnitPrice * float64(pp.Tokens)
		a.qTokens += float64(pp.Tokens) * pp.Quality / 100
		a.qSum += pp.Quality
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := Prices{From: req.From, To: req.To, Interval: req.Interval, Buckets: []PriceBucket{}}
	regulator := contains(p.Roles, RoleRegulator)
	for _, k := range sortedKeys(buckets) {
		a := buckets[k]
		if a.b.Trades < MinBucketTrades && !regulator {
			out.Withheld++
			continue
		}
		a.b.VWAP = round6(a.value / float64(a.b.Tokens))
		if a.qTokens > 0 {
			a.b.QualityAdjusted = round6(a.value / a.qTokens)
		}
		a.b.AvgQuality = round6(a.qSum / float64(a.b.Trades))
		out.Buckets = append(out.Buckets, a.b)
	}
	sort.SliceStable(out.Buckets, func(i, j int) bool { return out.Buckets[i].Start < out.Buckets[j].Start })
	return out, nil
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
