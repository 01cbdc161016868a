package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

// analysisSource is what report, unused and suggest share: the store, the
// IAM model (stored snapshots, or --iam/--live standing for the whole
// window), the window and the principal.
type analysisSource struct {
	store     string
	src       accountSource
	window    string
	at        string
	principal string
	now       func() time.Time
}

func (a *analysisSource) addFlags(f *pflag.FlagSet) {
	f.StringVar(&a.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	a.src.addFlags(f)
	f.StringVar(&a.window, "window", report.DefaultWindow, "tracking window: whole days (90d) or a Go duration (36h)")
	f.StringVar(&a.at, "at", "", "window end, RFC 3339 or YYYY-MM-DD (the whole day); default: the newest day with activity in the store")
	f.StringVar(&a.principal, "principal", "", "only this principal: an ARN, or a user or role name when that is unique")
}

// newAnalysisSource returns the flags' target with the clock set where
// a live model fetch and an empty store need it.
func newAnalysisSource(now func() time.Time) analysisSource {
	return analysisSource{now: now, src: accountSource{modelSource: modelSource{now: now}}}
}

// analysis is an open store with the scope of one run.
type analysis struct {
	db    *store.DB
	cat   *catalog.Catalog
	scope *report.Scope
	an    *report.Analyser
}

// report opens the store and analyses every principal of the scope
// (listing top resources per used action, 0: the default). The caller
// closes a.db.
func (a *analysisSource) report(ctx context.Context, top, workers int) (*analysis, *report.Report, error) {
	an, err := a.open(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	if an.an, err = report.NewAnalyser(an.cat, top); err != nil {
		an.db.Close()
		return nil, nil, err
	}
	r, err := an.an.Run(ctx, an.db, an.scope, workers)
	if err != nil {
		an.db.Close()
		return nil, nil, err
	}
	return an, r, nil
}

// parseAt reads --at: RFC 3339, or a date meaning the end of that day.
func parseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Add(24*time.Hour - time.Nanosecond), nil
	}
	return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 (2026-11-01T12:00:00Z) or a date (2026-11-01)", s)
}

// open opens the store and builds the scope. With requireModel, a store
// without snapshots and no --iam is an error that says how to add one.
func (a *analysisSource) open(ctx context.Context, requireModel bool) (*analysis, error) {
	o := report.ScopeOptions{Window: a.window, Now: a.now, RequireModel: requireModel}
	if _, _, err := parseWindowFlag(a.window); err != nil {
		return nil, err
	}
	if a.at != "" {
		t, err := parseAt(a.at)
		if err != nil {
			return nil, err
		}
		o.At = t
	}
	fromFile := a.src.iamFile != "" || a.src.live
	if !fromFile && a.src.credentialReport != "" {
		return nil, errors.New("--credential-report applies with --iam or --live; stored snapshots carry the credential data they were saved with")
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("load action catalog: %w", err)
	}
	o.Catalog = cat
	if fromFile {
		acct, org, err := a.src.load(ctx)
		if err != nil {
			return nil, err
		}
		source := a.src.iamFile
		if a.src.live {
			source = "live IAM API"
		}
		if o.Models, err = model.FromAccount(cat, acct, org, source); err != nil {
			return nil, err
		}
	} else if a.src.org != "" {
		if o.Org, err = iam.LoadOrgFile(a.src.org); err != nil {
			return nil, err
		}
	}
	db, err := openExistingStore(a.store)
	if err != nil {
		return nil, err
	}
	sc, err := report.NewScope(ctx, db, o)
	if err != nil {
		db.Close()
		return nil, err
	}
	if a.principal != "" {
		p, err := scopePrincipal(sc, a.principal)
		if err != nil {
			db.Close()
			return nil, err
		}
		sc.Principals = []string{p}
	}
	return &analysis{db: db, cat: cat, scope: sc}, nil
}

func parseWindowFlag(s string) (time.Duration, bool, error) {
	d, days, err := usage.ParseLength(s)
	if err != nil {
		return 0, false, fmt.Errorf("--window: %w", err)
	}
	return d, days, nil
}

// scopePrincipal finds --principal among the principals with activity
// or in a model: an exact ARN, or a unique user or role name.
func scopePrincipal(sc *report.Scope, s string) (string, error) {
	return pickPrincipal(sc.Principals, s, "no principal with activity in the store or in the IAM model has that ARN or name")
}
