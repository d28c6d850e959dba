package service

import (
	"errors"
	"testing"
)

func TestCursorText(t *testing.T) {
	for _, c := range []Cursor{{}, {Block: 1, Tx: 0, Event: 1}, {Block: 18446744073709551615, Tx: maxOrdinal, Event: maxOrdinal}, {Block: 7, Tx: 3, Event: 0}} {
		got, err := ParseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, err, c)
		}
	}
	if s := (Cursor{}).String(); s != "0" {
		t.Errorf("the start cursor is %q, want 0", s)
	}
	for _, s := range []string{"", "0.0.0", "1", "1.2", "1.2.3.4", "01.0.1", "1.00.1", "-1.0.1", "1.0.-1", "+1.0.1", " 1.0.1", "1.0.1 ",
		"18446744073709551616.0.1", "1.2147483648.0", "1.0.2147483648", "a.b.c", "1.0.1\n", "1e3.0.1"} {
		if c, err := ParseCursor(s); !errors.Is(err, ErrBadCursor) {
			t.Errorf("ParseCursor(%q) = %+v, %v; want ErrBadCursor", s, c, err)
		}
	}
}
