package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
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
	// daemonConfig finds the daemon's store and API (--config).
	daemonConfig string
}

func (a *analysisSource) addFlags(f *pflag.FlagSet) {
	f.StringVar(&a.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	a.src.addFlags(f)
	f.StringVar(&a.window, "window", report.DefaultWindow, "tracking window: whole days (90d) or a Go duration (36h)")
	f.StringVar(&a.at, "at", "", "window end, RFC 3339 or YYYY-MM-DD (the whole day); default: the newest day with activity in the store")
	f.StringVar(&a.principal, "principal", "", "only this principal: an ARN, or a user or role name when that is unique")
	addDaemonFlag(f, &a.daemonConfig)
}

// resolveStore takes the daemon's store from --config unless --store is
// given.
func (a *analysisSource) resolveStore(f *pflag.FlagSet) error {
	dir, err := daemonStore(f, a.store, a.daemonConfig)
	a.store = dir
	return err
}

// fromDaemon answers from the daemon's API when it holds the store (err
// is store.ErrLocked); a model from a file cannot be asked for.
func (a *analysisSource) fromDaemon(ctx context.Context, cmd *cobra.Command, err error, path string, q url.Values, format string, table func([]byte) error) error {
	if a.src.iamFile != "" || a.src.live || a.src.org != "" {
		return errFromFile(a.store, err)
	}
	return fromDaemon(ctx, cmd, a.daemonConfig, a.store, err, path, q, format, table)
}

// newAnalysisSource returns the flags' target with the clock set where
// a live model fetch and an empty store need it.
func newAnalysisSource(now func() time.Time) analysisSource {
	return analysisSource{now: now, src: accountSource{modelSource: modelSource{now: now}}}
}

// analysisRun is an open store with the scope of one run.
type analysisRun struct {
	db    *store.DB
	cat   *catalog.Catalog
	scope *report.Scope
}

// report opens the store and analyses every principal of the scope
// (listing top resources per used action, 0: the default). The caller
// closes a.db.
func (a *analysisSource) report(ctx context.Context, top, workers int) (*analysisRun, *report.Report, error) {
	run, p, err := a.openStore(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	p.Top, p.Workers = top, workers
	var r *report.Report
	if run.scope, r, err = analysis.Report(ctx, run.db, run.cat, p); err != nil {
		run.db.Close()
		return nil, nil, err
	}
	return run, r, nil
}

// params reads the flags into the analysis parameters, loading --iam or
// --live when given. With requireModel, a store without snapshots and no
// --iam is an error that says how to add one.
func (a *analysisSource) params(ctx context.Context, cat *catalog.Catalog, requireModel bool) (analysis.Params, error) {
	p := analysis.Params{Window: a.window, At: a.at, Principal: a.principal, Now: a.now, RequireModel: requireModel}
	if err := analysis.CheckWindow(a.window); err != nil {
		return p, err
	}
	if a.at != "" {
		if _, err := analysis.ParseAt(a.at); err != nil {
			return p, err
		}
	}
	fromFile := a.src.iamFile != "" || a.src.live
	if !fromFile && a.src.credentialReport != "" {
		return p, errors.New("--credential-report applies with --iam or --live; stored snapshots carry the credential data they were saved with")
	}
	var err error
	if fromFile {
		acct, org, err := a.src.load(ctx)
		if err != nil {
			return p, err
		}
		source := a.src.iamFile
		if a.src.live {
			source = "live IAM API"
		}
		if p.Models, err = model.FromAccount(cat, acct, org, source); err != nil {
			return p, err
		}
	} else if a.src.org != "" {
		if p.Org, err = iam.LoadOrgFile(a.src.org); err != nil {
			return p, err
		}
	}
	return p, nil
}

// open opens the store and builds the scope.
func (a *analysisSource) open(ctx context.Context, requireModel bool) (*analysisRun, error) {
	run, p, err := a.openStore(ctx, requireModel)
	if err != nil {
		return nil, err
	}
	if run.scope, err = analysis.NewScope(ctx, run.db, run.cat, p); err != nil {
		run.db.Close()
		return nil, err
	}
	return run, nil
}

// openStore reads the flags and opens the store.
func (a *analysisSource) openStore(ctx context.Context, requireModel bool) (*analysisRun, analysis.Params, error) {
	cat, err := catalog.Load()
	if err != nil {
		return nil, analysis.Params{}, fmt.Errorf("load action catalog: %w", err)
	}
	p, err := a.params(ctx, cat, requireModel)
	if err != nil {
		return nil, p, err
	}
	db, err := openExistingStore(a.store)
	if err != nil {
		return nil, p, err
	}
	return &analysisRun{db: db, cat: cat}, p, nil
}
