package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iamd/iamd/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

const staticPrefix = "/ui/static/"

// assetVersion is a hash of the static files: asset URLs carry it, so
// browsers may cache them and still get the new ones after an upgrade.
var assetVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(staticPrefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.URL.Query().Get("v") == assetVersion {
			w.Header().Set("Cache-Control", "public, max-age=86400, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

// pageTemplate is one page: the layout, the shared parts and its body.
type pageTemplate struct{ t *template.Template }

// pageNames are the templates under templates/ besides layout and parts.
var pageNames = []string{"overview", "principal", "unused", "audit", "rotation", "login", "error"}

func parsePages() (map[string]*pageTemplate, error) {
	out := map[string]*pageTemplate{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", name, err)
		}
		out[name] = &pageTemplate{t: t}
	}
	return out, nil
}

// page is what every page shows around its content.
type page struct {
	Title string
	// Nav is the navigation entry of this page ("" for none).
	Nav      string
	Filter   Filter
	Accounts []string // the filter's choice of accounts
	// FilterOn shows the filter form.
	FilterOn bool
	Now      time.Time
	// SignOut shows the sign-out button (a token is set).
	SignOut bool
	Links   navLinks
	// Bare leaves out the navigation (the login form).
	Bare bool
	// Path is the page's path, the filter form's target; Keep are query
	// parameters the form carries along.
	Path string
	Keep []field
}

// field is a query parameter.
type field struct{ Name, Value string }

// navLinks keep the filter from page to page.
type navLinks struct{ Overview, Unused, Audit, Rotation template.URL }

func (u *UI) newPage(r *http.Request, title, nav string) page {
	f := filterOf(r.URL.Query())
	return page{Title: title, Nav: nav, Filter: f, Now: u.o.Now().UTC(), SignOut: !u.auth.open, Path: r.URL.Path,
		Links: navLinks{Overview: f.link("/"), Unused: f.link("/unused"), Audit: f.link("/audit"), Rotation: f.link("/rotation")}}
}

// render executes a page into a buffer first, so that a template error
// answers 500 rather than half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	var buf bytes.Buffer
	if err := u.pages[name].t.ExecuteTemplate(&buf, "layout", data); err != nil {
		u.log.Error("render page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered; the daemon's log has why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// notFound is a page asked for something that does not exist.
type notFound struct{ what string }

func (e notFound) Error() string { return e.what }

type errorPage struct {
	page
	Code    int
	Message string
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the browser went away
	}
	code := http.StatusInternalServerError
	var nf notFound
	if errors.As(err, &nf) {
		code = http.StatusNotFound
	} else {
		u.log.Error("dashboard page failed", "path", r.URL.Path, "err", err)
	}
	u.render(w, r, code, "error", &errorPage{page: u.newPage(r, http.StatusText(code), ""), Code: code, Message: err.Error()})
}

var funcs = template.FuncMap{
	"asset": func(name string) string { return staticPrefix + name + "?v=" + assetVersion },
	"ago":   ago,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format(time.DateOnly)
	},
	"pct":       func(f float64) string { return fmt.Sprintf("%.0f %%", math.Round(f*100)) },
	"join":      strings.Join,
	"seen":      seenValues,
	"add":       func(a, b int) int { return a + b },
	"sub":       func(a, b int) int { return a - b },
	"thousands": thousands,
	// short cuts a long value (a user agent) for a table cell; the cell's
	// title holds it whole.
	"short": func(s string) string {
		if r := []rune(s); len(r) > 64 {
			return string(r[:63]) + "…"
		}
		return s
	},
}

// ago says how long before now t was, in the largest whole unit; a time
// after now reads "in …".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%d d", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// seenValues lists the values of ss (source IPs, user agents), most
// recent first as the store keeps them.
func seenValues(ss []store.Seen) string {
	vs := make([]string, 0, len(ss))
	for _, s := range ss {
		vs = append(vs, s.Value)
	}
	return strings.Join(vs, ", ")
}

// thousands groups the digits of n by three, for counts in the millions.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
