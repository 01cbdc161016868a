package ui

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "iamd_session"

// auth checks the token and the session cookies. A session is
// "EXPIRY.MAC", MAC an HMAC-SHA256 of the expiry under a key derived
// from the token: the cookie never holds the token itself, it opens the
// dashboard only (the API wants the token), it survives a daemon restart,
// and changing the token ends every session.
type auth struct {
	want [32]byte // SHA-256 of the token
	key  []byte
	ttl  time.Duration
	now  func() time.Time
	open bool // no token: no sign-in
}

func newAuth(token string, ttl time.Duration, now func() time.Time) *auth {
	a := &auth{want: sha256.Sum256([]byte(token)), ttl: ttl, now: now, open: token == ""}
	k := sha256.Sum256([]byte("iamd dashboard session key\x00" + token))
	a.key = k[:]
	return a
}

// tokenOK compares in constant time: both sides are hashed first, so
// neither the content nor the length of the token leaks through timing.
func (a *auth) tokenOK(got string) bool {
	h := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(h[:], a.want[:]) == 1
}

func (a *auth) mac(expiry string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("iamd dashboard session\x00" + expiry))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session returns a new session value and its expiry.
func (a *auth) session() (string, time.Time) {
	exp := a.now().Add(a.ttl).Truncate(time.Second)
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + a.mac(e), exp
}

// sessionOK reports whether v is a session of this token, not expired.
func (a *auth) sessionOK(v string) bool {
	e, mac, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	if !hmac.Equal([]byte(mac), []byte(a.mac(e))) {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	return err == nil && a.now().Unix() < exp
}

// verdict of a request.
type verdict int

const (
	allowed     verdict = iota
	signIn              // no credentials: send to the login form
	wrongBearer         // an Authorization header that does not hold the token
)

func (a *auth) check(r *http.Request) verdict {
	if a.open {
		return allowed
	}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if ok && a.tokenOK(strings.TrimSpace(tok)) {
			return allowed
		}
		return wrongBearer
	}
	if c, err := r.Cookie(SessionCookie); err == nil && a.sessionOK(c.Value) {
		return allowed
	}
	return signIn
}

// secure reports whether the browser reached us over TLS (directly or
// through a proxy that says so), where the cookie gets the Secure flag.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (a *auth) setSession(w http.ResponseWriter, r *http.Request) {
	v, exp := a.session()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: v, Path: "/", Expires: exp,
		MaxAge: int(a.ttl / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
}

// localTarget keeps a redirect after sign-in on this server: a path of
// ours, never another host ("//evil", "/\evil", "https://…").
func localTarget(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.IsAbs() || u.Host != "" || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(u.Path, "/login") {
		return "/"
	}
	return next
}

// securityHeaders are sent with every page: no script, styles and images
// from here only, no framing, no referrer (URLs carry principal names).
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// page wraps a page handler: security headers, then the token or a
// session; a browser without one goes to the login form.
func (u *UI) page(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		switch u.auth.check(r) {
		case wrongBearer:
			w.Header().Set("WWW-Authenticate", `Bearer realm="iamd"`)
			http.Error(w, "wrong bearer token", http.StatusUnauthorized)
			return
		case signIn:
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err := h(w, r); err != nil {
			u.fail(w, r, err)
		}
	})
}

// public wraps the login form and the sign-out: headers only.
func (u *UI) public(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		h.ServeHTTP(w, r)
	})
}

type loginPage struct {
	page
	Next  string
	Error string
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	next := localTarget(r.URL.Query().Get("next"))
	if u.auth.check(r) == allowed {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	u.render(w, r, http.StatusOK, "login", &loginPage{page: u.loginPage(r), Next: next})
}

// login checks the token of the form; right, it sets the session and goes
// on to the page asked for; wrong, it answers 401 with the form again.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := localTarget(r.PostForm.Get("next"))
	if !u.auth.open {
		if !u.auth.tokenOK(r.PostForm.Get("token")) {
			u.log.Warn("dashboard sign-in refused: wrong token", "remote", r.RemoteAddr)
			lp := &loginPage{page: u.loginPage(r), Next: next, Error: "Wrong token."}
			u.render(w, r, http.StatusUnauthorized, "login", lp)
			return
		}
		u.auth.setSession(w, r)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) loginPage(r *http.Request) page {
	p := u.newPage(r, "Sign in", "")
	p.Bare = true
	return p
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	clearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
