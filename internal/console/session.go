package console

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/signed"
	mailer "github.com/muster-dev/muster/mail"
)

// SessionStore keeps the console's sessions and one-time sign-in links.
type SessionStore interface {
	StartSession(ctx context.Context, token string, ttl time.Duration) (string, *muster.Actor, error)
	SessionActor(ctx context.Context, secret string) (*muster.Actor, error)
	EndSession(ctx context.Context, secret string) error
	CreateSigninLink(ctx context.Context, email string, ttl, every time.Duration) (*muster.SigninLink, bool, error)
	UseSigninLink(ctx context.Context, linkID int64, ttl time.Duration) (string, *muster.Actor, error)
}

// SigninPurpose is mixed into the signature of sign-in links, so that a
// token signed for another link (a manager's acceptance) is worthless here.
const SigninPurpose = "console-signin"

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request, req *request) error {
	v := s.view(r, req, "signin")
	v.Data = map[string]any{"Next": safeNext(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("sent") == "1" {
		v.Notice = v.T("signin_sent")
	}
	s.render(w, http.StatusOK, "signin", v)
	return nil
}

// signinToken: POST /signin/token — an API token pasted into the form.
func (s *Server) signinToken(w http.ResponseWriter, r *http.Request, req *request) error {
	token := strings.TrimSpace(r.PostFormValue("token"))
	secret, _, err := s.store.sessions.StartSession(r.Context(), token, s.opts.SessionTTL)
	if muster.ErrorKind(err) == muster.KindUnauthenticated {
		v := s.view(r, req, "signin")
		v.Data = map[string]any{"Next": safeNext(r.PostFormValue("next")), "TokenError": v.T("signin_bad_token")}
		s.render(w, http.StatusUnauthorized, "signin", v)
		return nil
	}
	if err != nil {
		return err
	}
	s.startSession(w, r, secret)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

// signinEmail: POST /signin/email — mail a one-time link to a manager (an
// owner is a manager too). The answer is the same whether the address is
// known or not, and a second request within LinkEvery sends nothing. One
// client IP asks for LIMIT_SIGNIN links at most, known addresses or not
// (429 with Retry-After), so nobody mails thousands of addresses from here.
func (s *Server) signinEmail(w http.ResponseWriter, r *http.Request, req *request) error {
	addr, err := mail.ParseAddress(strings.TrimSpace(r.PostFormValue("email")))
	if err != nil || strings.ContainsAny(addr.Address, "\r\n") {
		v := s.view(r, req, "signin")
		v.Data = map[string]any{"Next": "/", "EmailError": v.T("signin_bad_email"), "Email": r.PostFormValue("email")}
		s.render(w, http.StatusBadRequest, "signin", v)
		return nil
	}
	if s.opts.Limiter != nil {
		err := s.opts.Limiter.Take(r.Context(), muster.LimitSignin, clientIP(r))
		if e := muster.AsError(err); e != nil && e.Kind == muster.KindRateLimited {
			httpapi.RetryAfter(w, e)
			v := s.view(r, req, "signin")
			v.Data = map[string]any{"Next": "/", "Email": r.PostFormValue("email"),
				"Limited": v.T("signin_limited", "At", v.Time(s.opts.Now().Add(e.RetryAfter)))}
			s.render(w, http.StatusTooManyRequests, "signin", v)
			return nil
		}
		if err != nil {
			return err
		}
	}
	link, ok, err := s.store.sessions.CreateSigninLink(r.Context(), strings.ToLower(addr.Address), s.opts.LinkTTL, s.opts.LinkEvery)
	if err != nil {
		return err
	}
	if ok {
		if err := s.mailLink(r, link); err != nil {
			return err
		}
	}
	http.Redirect(w, r, "/signin?sent=1", http.StatusSeeOther)
	return nil
}

// clientIP is who asks, for the sign-in limit: the connection's peer
// (RemoteAddr). No forwarded header is trusted, since any client can send
// one; behind a proxy every request is the proxy's, and shares its budget.
// An IPv6 client counts by its /64, which one host usually holds whole.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// mailLink sends a sign-in link at once: the person is waiting for it, and
// a failure is theirs to retry from the form.
func (s *Server) mailLink(r *http.Request, l *muster.SigninLink) error {
	token := s.opts.Signer.Sign(SigninPurpose, strconv.FormatInt(l.ID, 10), s.opts.LinkTTL)
	link := strings.TrimRight(s.opts.URL, "/") + "/signin/link?" + url.Values{"token": {token}}.Encode()
	content, err := s.opts.Render.Render(l.Locale, mailer.Signin{
		To: mailer.To{Name: l.FullName, Email: l.Email}, URL: link, Minutes: int(s.opts.LinkTTL / time.Minute),
	})
	if err != nil {
		return err
	}
	err = s.opts.Mail.Send(r.Context(), &mailer.Message{
		To: l.Email, ToName: l.FullName, MessageID: "signin-" + strconv.FormatInt(l.ID, 10) + "@" + s.opts.Domain, Content: *content,
	})
	if err != nil {
		s.log.Warn("sign-in email failed", "link", l.ID, "error", err)
		return muster.Errorf(muster.KindInternal, "signin_mail_failed", "the sign-in email could not be sent; try again in a minute")
	}
	return nil
}

// signinLinkForm: GET /signin/link?token=… — a button that spends the
// link. A GET changes nothing, so mail scanners that open links do not
// use it up.
func (s *Server) signinLinkForm(w http.ResponseWriter, r *http.Request, req *request) error {
	token := r.URL.Query().Get("token")
	if _, err := s.linkID(token); err != nil {
		return err
	}
	v := s.view(r, req, "signin_link")
	v.Data = map[string]any{"Token": token}
	s.render(w, http.StatusOK, "signin_link", v)
	return nil
}

// signinLink: POST /signin/link — spend the link and open a session.
func (s *Server) signinLink(w http.ResponseWriter, r *http.Request, req *request) error {
	id, err := s.linkID(r.PostFormValue("token"))
	if err != nil {
		return err
	}
	secret, _, err := s.store.sessions.UseSigninLink(r.Context(), id, s.opts.SessionTTL)
	if err != nil {
		return err
	}
	s.startSession(w, r, secret)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

func (s *Server) linkID(token string) (int64, error) {
	sub, err := s.opts.Signer.Verify(SigninPurpose, token)
	if errors.Is(err, signed.ErrExpired) {
		return 0, muster.Invalid("signin_link_expired", "this sign-in link has expired; ask for a new one")
	}
	if err != nil {
		return 0, muster.Invalid("signin_link_invalid", "this sign-in link is not valid")
	}
	id, err := strconv.ParseInt(sub, 10, 64)
	if err != nil {
		return 0, muster.Invalid("signin_link_invalid", "this sign-in link is not valid")
	}
	return id, nil
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.opts.SessionTTL.Seconds()),
	})
}

// secure reports whether cookies must be Secure: the request came over
// TLS, or people reach the console over https (TLS ends at a proxy).
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.opts.URL, "https://")
}

// signout: POST /signout — the session ends in the database, not only in
// the browser.
func (s *Server) signout(w http.ResponseWriter, r *http.Request, req *request) error {
	if req.secret != "" {
		if err := s.store.sessions.EndSession(r.Context(), req.secret); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

// setLang: POST /lang — Russian by default, English by choice, kept in a
// cookie.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request, req *request) error {
	l, err := muster.ParseLocale("lang", r.PostFormValue("lang"))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}
