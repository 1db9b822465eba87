package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// SignatureHeader carries the sign-up app's signature of an event:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with SIGNUP_SECRET>".
const SignatureHeader = "X-Muster-Signature"

// signatureTolerance bounds how old a signed event may be, so a captured
// request cannot be replayed later.
const signatureTolerance = 5 * time.Minute

// contractorEvent: POST /v1/contractor-events, from the platform's sign-up
// app. It is authenticated by a staff token or by a signature.
func (s *Server) contractorEvent(w http.ResponseWriter, r *http.Request) error {
	if err := s.signedOrStaff(w, r, s.opts.SignupSecret, "SIGNUP_SECRET"); err != nil {
		return err
	}
	var req struct {
		Email     string `json:"email"`
		Type      string `json:"type"`
		At        string `json:"at"`
		FullName  string `json:"full_name"`
		Phone     string `json:"phone"`
		TaxStatus string `json:"tax_status"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ev, err := muster.NewEvent(req.Email, req.Type, req.At, req.FullName, req.Phone, req.TaxStatus, s.opts.Now())
	if err != nil {
		return err
	}
	c, dup, err := s.app.Event(r.Context(), ev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"contractor": c, "duplicate": dup, "incomplete": muster.Incomplete(c)})
	return nil
}

// signedOrStaff authenticates a request from another system: signed with
// secret (named by variable in errors) in the SignatureHeader, or sent
// with a staff token. It reads the body (at most 64 KiB) to check the
// signature and puts it back for decode.
func (s *Server) signedOrStaff(w http.ResponseWriter, r *http.Request, secret, variable string) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if err != nil {
		return muster.Errorf(muster.KindTooLarge, "body_too_large", "an event is at most 64 KiB")
	}
	if sig := r.Header.Get(SignatureHeader); sig != "" {
		if err := s.verifySignature(sig, body, secret, variable); err != nil {
			return err
		}
	} else if err := s.authStaff(r); err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

// authStaff authenticates the bearer token of a request that did not come
// through s.authed, and requires staff.
func (s *Server) authStaff(r *http.Request) error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return muster.Errorf(muster.KindUnauthenticated, "missing_token",
			"send a staff token as Authorization: Bearer <token>, or sign the event in the %s header", SignatureHeader)
	}
	a, err := s.auth.Authenticate(r.Context(), strings.TrimSpace(token))
	if err != nil {
		return err
	}
	return a.StaffOnly("post events without a signature")
}

func (s *Server) verifySignature(header string, body []byte, secret, variable string) error {
	bad := muster.Errorf(muster.KindUnauthenticated, "invalid_signature",
		"the %s header is missing parts, expired or does not match the body", SignatureHeader)
	if secret == "" {
		return muster.Errorf(muster.KindUnauthenticated, "signatures_disabled", "signed events are off: %s is not set; use a staff token", variable)
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	got, herr := hex.DecodeString(sig)
	if err != nil || herr != nil {
		return bad
	}
	if age := s.opts.Now().Sub(time.Unix(sec, 0)); age > signatureTolerance || age < -signatureTolerance {
		return bad
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return bad
	}
	return nil
}
