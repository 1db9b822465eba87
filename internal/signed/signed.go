// Package signed makes and checks tamper-proof, expiring tokens for links
// in emails (a contractor's sign-up link, a manager's acceptance link).
// A token is base64url(purpose-free payload) + "." + base64url(HMAC-SHA256);
// the purpose is mixed into the MAC, so a token made for one use is
// worthless for another.
package signed

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"strings"
	"sync"
	"time"
)

// Errors of Verify.
var (
	ErrInvalid = errors.New("the link is invalid or was altered")
	ErrExpired = errors.New("the link has expired")
)

// Signer signs with one key.
type Signer struct {
	now  func() time.Time
	macs sync.Pool // HMACs keyed once: Reset is cheaper than keying again
}

// New returns a Signer for key.
func New(key string) *Signer {
	k := []byte(key)
	s := &Signer{now: time.Now}
	s.macs.New = func() any { return hmac.New(sha256.New, k) }
	return s
}

type payload struct {
	Subject string `json:"s"`
	Expires int64  `json:"e"`
}

// Sign returns a token for subject (an id, an email) valid for ttl.
func (s *Signer) Sign(purpose, subject string, ttl time.Duration) string {
	body, _ := json.Marshal(payload{Subject: subject, Expires: s.now().Add(ttl).Unix()}) // cannot fail
	b := base64.RawURLEncoding.EncodeToString(body)
	return b + "." + base64.RawURLEncoding.EncodeToString(s.mac(purpose, b))
}

// Verify checks a token made for purpose and returns its subject.
func (s *Signer) Verify(purpose, token string) (string, error) {
	b, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", ErrInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(purpose, b)) {
		return "", ErrInvalid
	}
	body, err := base64.RawURLEncoding.DecodeString(b)
	if err != nil {
		return "", ErrInvalid
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return "", ErrInvalid
	}
	if s.now().Unix() > p.Expires {
		return "", ErrExpired
	}
	return p.Subject, nil
}

func (s *Signer) mac(purpose, body string) []byte {
	h := s.macs.Get().(hash.Hash)
	defer s.macs.Put(h)
	h.Reset()
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(body))
	return h.Sum(nil)
}
