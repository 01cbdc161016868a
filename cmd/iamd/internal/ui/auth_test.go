package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func postLogin(t *testing.T, h http.Handler, token, next string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	form := url.Values{"token": {token}, "next": {next}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func sessionCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	return nil
}

// TestSignIn: a browser without a session goes to the form; a wrong
// token is refused and sets nothing; the right one sets an HttpOnly,
// SameSite=Strict cookie that opens the pages until it expires.
func TestSignIn(t *testing.T) {
	now := fixtureNow
	u := newTestUI(t, fixtureData(), testToken, func() time.Time { return now })

	rec := get(t, u, "/audit?severity=high")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?next=%2Faudit%3Fseverity%3Dhigh" {
		t.Fatalf("GET /audit without a session: %d to %q, want 303 to the login form", rec.Code, rec.Header().Get("Location"))
	}

	rec = postLogin(t, u, "wrong", "/audit?severity=high")
	if rec.Code != http.StatusUnauthorized || sessionCookie(t, rec) != nil || !strings.Contains(rec.Body.String(), "Wrong token.") {
		t.Fatalf("wrong token: %d, cookie %v, want 401 with the form and no cookie", rec.Code, sessionCookie(t, rec))
	}
	rec = postLogin(t, u, testToken[:len(testToken)-1], "/")
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("a prefix of the token: %d, want 401", rec.Code)
	}

	rec = postLogin(t, u, testToken, "/audit?severity=high")
	c := sessionCookie(t, rec)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/audit?severity=high" || c == nil {
		t.Fatalf("right token: %d to %q, cookie %v", rec.Code, rec.Header().Get("Location"), c)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
	if strings.Contains(c.Value, testToken) {
		t.Errorf("the session cookie holds the token")
	}
	if rec := get(t, u, "/audit", "Cookie", c.String()); rec.Code != http.StatusOK {
		t.Fatalf("GET /audit with the session: %d", rec.Code)
	}
	if rec := get(t, u, "/login", "Cookie", c.String()); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Errorf("the form with a session: %d to %q, want on to /", rec.Code, rec.Header().Get("Location"))
	}

	// Over TLS (a proxy in front says so) the cookie is Secure.
	if c := sessionCookie(t, postLogin(t, u, testToken, "/", "X-Forwarded-Proto", "https")); c == nil || !c.Secure {
		t.Errorf("behind TLS the cookie is %+v, want Secure", c)
	}

	for _, tc := range []struct {
		name   string
		cookie string
	}{
		{"tampered", strings.Replace(c.Value, ".", "0.", 1)},
		{"expiry moved", "99999999999." + strings.SplitN(c.Value, ".", 2)[1]},
		{"another token's", func() string {
			v, _ := newAuth("other", time.Hour, func() time.Time { return now }).session()
			return v
		}()},
		{"garbage", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := get(t, u, "/", "Cookie", SessionCookie+"="+tc.cookie); rec.Code != http.StatusSeeOther {
				t.Errorf("GET / with a %s cookie: %d, want 303 to the form", tc.name, rec.Code)
			}
		})
	}

	now = now.Add(DefaultSessionTTL + time.Second)
	if rec := get(t, u, "/audit", "Cookie", c.String()); rec.Code != http.StatusSeeOther {
		t.Errorf("GET /audit with an expired session: %d, want 303 to the form", rec.Code)
	}
}

// TestBearer: the API's token in a header opens a page; a wrong one is
// refused outright (401, no redirect).
func TestBearer(t *testing.T) {
	u := newTestUI(t, fixtureData(), testToken, nil)
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"Bearer " + testToken, http.StatusOK},
		{"Bearer " + testToken + "x", http.StatusUnauthorized},
		{"Bearer ", http.StatusUnauthorized},
		{"Basic " + testToken, http.StatusUnauthorized},
	} {
		rec := get(t, u, "/unused", "Authorization", tc.header)
		if rec.Code != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.header, rec.Code, tc.want)
		}
		if tc.want == http.StatusUnauthorized && strings.Contains(rec.Body.String(), "AKIA") {
			t.Errorf("Authorization %q: the refusal shows data", tc.header)
		}
	}
}

// TestCrossOriginPost: the form's POSTs come from our own pages only.
func TestCrossOriginPost(t *testing.T) {
	u := newTestUI(t, fixtureData(), testToken, nil)
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"cross-site", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"other origin", []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"same origin", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusSeeOther},
		{"no browser headers", nil, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := postLogin(t, u, testToken, "/", tc.header...); rec.Code != tc.want {
				t.Errorf("POST /login %v: %d, want %d", tc.header, rec.Code, tc.want)
			}
		})
	}
	req := httptest.NewRequest(http.MethodPost, "/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("cross-site POST /logout: %d, want 403", rec.Code)
	}
	// Pages are GET only.
	req = httptest.NewRequest(http.MethodPost, "/audit", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec = httptest.NewRecorder()
	u.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /audit: %d, want 405", rec.Code)
	}
}

func TestLogout(t *testing.T) {
	u := newTestUI(t, fixtureData(), testToken, nil)
	req := httptest.NewRequest(http.MethodPost, "/logout", nil)
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, req)
	c := sessionCookie(t, rec)
	if rec.Code != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
		t.Fatalf("POST /logout: %d, cookie %+v, want 303 clearing the cookie", rec.Code, c)
	}
}

func TestLocalTarget(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "/",
		"/audit?severity=high":  "/audit?severity=high",
		"/principal?arn=a%2Fb":  "/principal?arn=a%2Fb",
		"//evil.example/x":      "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"audit":                 "/",
		"/login?next=/x":        "/",
	} {
		if got := localTarget(in); got != want {
			t.Errorf("localTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNoToken: without a token (loopback only) the pages open directly
// and the form has nothing to check.
func TestNoToken(t *testing.T) {
	u := newTestUI(t, fixtureData(), "", nil)
	if rec := get(t, u, "/"); rec.Code != http.StatusOK {
		t.Fatalf("GET / without a token configured: %d", rec.Code)
	}
	if !strings.Contains(get(t, u, "/").Body.String(), "Overview") {
		t.Errorf("the overview is missing")
	}
	if strings.Contains(get(t, u, "/").Body.String(), "Sign out") {
		t.Errorf("a sign-out button without sign-in")
	}
}

func TestHeadersAndAssets(t *testing.T) {
	u := newTestUI(t, fixtureData(), testToken, nil)
	rec := get(t, u, "/", "Authorization", "Bearer "+testToken)
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// Assets need no session (the form uses them) and are versioned.
	for _, name := range []string{"style.css", "icon.svg"} {
		rec := get(t, u, staticPrefix+name+"?v="+assetVersion)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: %d, %d bytes, Cache-Control %q", name, rec.Code, rec.Body.Len(), rec.Header().Get("Cache-Control"))
		}
	}
	if rec := get(t, u, staticPrefix+"nope.js"); rec.Code != http.StatusNotFound {
		t.Errorf("GET a missing asset: %d, want 404", rec.Code)
	}
	if !strings.Contains(get(t, u, "/", "Authorization", "Bearer "+testToken).Body.String(), staticPrefix+"style.css?v="+assetVersion) {
		t.Errorf("pages do not link the versioned stylesheet")
	}
}
