package signed

import (
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	s := New("0123456789abcdef0123456789abcdef")
	s.now = func() time.Time { return now }
	tok := s.Sign("invite", "42", time.Hour)

	if got, err := s.Verify("invite", tok); err != nil || got != "42" {
		t.Fatalf("Verify = %q, %v", got, err)
	}
	if _, err := s.Verify("manager", tok); err != ErrInvalid {
		t.Errorf("other purpose: %v, want ErrInvalid", err)
	}
	if _, err := New("another key, just as long as the first").Verify("invite", tok); err != ErrInvalid {
		t.Errorf("other key: %v, want ErrInvalid", err)
	}
	if _, err := s.Verify("invite", tok[:len(tok)-2]+"xx"); err != ErrInvalid {
		t.Errorf("altered signature: %v, want ErrInvalid", err)
	}
	forged := New("0123456789abcdef0123456789abcdef").Sign("invite", "43", time.Hour)
	if _, err := s.Verify("invite", forged[:len(forged)/2]+tok[len(tok)/2:]); err != ErrInvalid {
		t.Errorf("spliced token: %v, want ErrInvalid", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.Verify("invite", tok); err != ErrExpired {
		t.Errorf("after expiry: %v, want ErrExpired", err)
	}
}

// The signature of a sign-up link, as every invitation carries one.
func BenchmarkSign(b *testing.B) {
	s := New("0123456789abcdef0123456789abcdef")
	for b.Loop() {
		s.Sign("signup", "123456", 14*24*time.Hour)
	}
}
