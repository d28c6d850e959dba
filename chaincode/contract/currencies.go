package contract

import (
	"sort"
	"strings"
)

// currencies are the ISO 4217 codes a trade may be priced in: the active
// currencies of the standard's list (amendments up to 2025, among them XCG
// for ANG, ZWG for ZWL, SLE for SLL and VED beside VES), the regional
// X-codes that are currencies (XAF, XCD, XCG, XOF, XPF) included. Left out:
// fund and accounting units (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW),
// precious metals (XAU, XAG, XPD, XPT), bond-market and special drawing units
// (XBA–XBD, XDR, XSU, XUA) and the testing and no-currency codes (XTS, XXX).
// Sorted, for a binary search.
var currencies = strings.Fields(`
AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN
BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR
ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR
PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU
UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG`)

// checkCurrency checks an ISO 4217 code against [currencies].
func checkCurrency(field, v string) error {
	if err := checkPattern(field, v, reCurrency, "an ISO 4217 code of three capital letters such as CNY"); err != nil {
		return err
	}
	if i := sort.SearchStrings(currencies, v); i == len(currencies) || currencies[i] != v {
		return invalid(field, "must be an active ISO 4217 currency code such as CNY, USD or EUR; %q is not one", v)
	}
	return nil
}
