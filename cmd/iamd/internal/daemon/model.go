package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/iam/live"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/store"
)

// RefreshJob is the scheduler name of the IAM model refresh.
const RefreshJob = "iam-refresh"

// modelState is the store record (kind "iam", id "model") naming the
// account whose latest snapshot is the model, so a restarted daemon
// serves it before the first refresh.
const (
	modelStateKind = "iam"
	modelStateID   = "model"
)

type modelRecord struct {
	Account string    `json:"account"`
	Taken   time.Time `json:"taken"`
	Source  string    `json:"source"` // file path or "live"
}

// Model holds the IAM model the daemon serves: read from iam.file or the
// live account at start and on every refresh, which stores a snapshot
// when the model changed. Safe for concurrent use.
type Model struct {
	cfg configs.IAM
	db  *store.DB
	log *slog.Logger
	now func() time.Time

	cur     atomic.Pointer[iam.Account]
	mu      sync.Mutex // serializes refreshes
	lastErr atomic.Pointer[string]
	// saved counts snapshots stored because the model changed.
	saved atomic.Int64
}

func newModel(cfg configs.IAM, db *store.DB, log *slog.Logger, now func() time.Time) *Model {
	return &Model{cfg: cfg, db: db, log: log.With("component", "iam.model"), now: now}
}

// Configured reports whether an IAM model source is configured.
func (m *Model) Configured() bool { return m.cfg.File != "" || m.cfg.Live.Enabled }

// Current returns the loaded model, nil before the first load.
func (m *Model) Current() *iam.Account { return m.cur.Load() }

// Account returns the loaded model's account ID, "" before the first load.
func (m *Model) Account() string {
	if a := m.Current(); a != nil {
		return a.ID
	}
	return ""
}

// Err returns the last refresh's error text, "" after a success.
func (m *Model) Err() string {
	if p := m.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Name and Run make the refresh a scheduler.Job.
func (m *Model) Name() string                  { return RefreshJob }
func (m *Model) Run(ctx context.Context) error { return m.Refresh(ctx) }

// start serves the stored model of a live account at once, then
// refreshes from the source.
func (m *Model) start(ctx context.Context) {
	if m.cfg.Live.Enabled {
		if err := m.loadStored(ctx); err != nil {
			m.log.Warn("stored model unreadable", "err", err)
		}
	}
	if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
		m.log.Error("IAM model not loaded; the next refresh tries again", "err", err)
	}
}

func (m *Model) loadStored(ctx context.Context) error {
	st, ok, err := m.db.GetState(ctx, modelStateKind, modelStateID)
	if err != nil || !ok {
		return err
	}
	var rec modelRecord
	if err := json.Unmarshal(st.Data, &rec); err != nil {
		return err
	}
	snap, ok, err := m.db.LatestSnapshot(ctx, rec.Account)
	if err != nil || !ok {
		return err
	}
	a, err := iam.Parse(snap.Data, iam.LoadOptions{})
	if err != nil {
		return fmt.Errorf("stored snapshot of %s: %w", rec.Account, err)
	}
	m.cur.Store(a)
	m.log.Info("serving the stored IAM model until the refresh", "account", a.ID, "taken", snap.Taken)
	return nil
}

// Refresh reads the model from its source, stores a snapshot when it
// differs from the latest stored one (iam.Diff), and serves it.
func (m *Model) Refresh(ctx context.Context) error {
	if !m.Configured() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.refresh(ctx)
	if err != nil {
		s := err.Error()
		m.lastErr.Store(&s)
	} else {
		m.lastErr.Store(nil)
	}
	return err
}

func (m *Model) refresh(ctx context.Context) error {
	d, source, err := m.details(ctx)
	if err != nil {
		return err
	}
	if d.Taken == nil || d.Taken.IsZero() {
		d.Taken = iam.NewTime(m.now())
	}
	// Snapshot keys keep whole seconds, as `iamd snapshot save` does.
	d.Taken = iam.NewTime(d.Taken.Truncate(time.Second))
	a, err := iam.FromDetails(d, iam.LoadOptions{})
	if err != nil {
		return fmt.Errorf("IAM model from %s: %w", source, err)
	}
	account, taken, data, err := d.Encode()
	if err != nil {
		return err
	}
	if account == "" {
		return fmt.Errorf("IAM model from %s: no account ID (no AccountID and no ARN names one)", source)
	}
	changes := -1 // no earlier snapshot
	latest, found, err := m.db.LatestSnapshot(ctx, account)
	if err != nil {
		return err
	}
	if found {
		prev, err := iam.Parse(latest.Data, iam.LoadOptions{})
		if err != nil {
			m.log.Warn("latest stored snapshot unreadable; storing a new one", "account", account, "err", err)
		} else {
			changes = len(iam.Diff(prev, a))
		}
	}
	if changes != 0 {
		if err := m.db.PutSnapshot(ctx, store.Snapshot{AccountID: account, Taken: taken, Data: data}); err != nil {
			return err
		}
		m.saved.Add(1)
		m.log.Info("IAM model changed; snapshot stored", "account", account, "taken", taken, "changes", changes)
	}
	rec, _ := json.Marshal(modelRecord{Account: account, Taken: taken, Source: source})
	if err := m.db.PutState(ctx, store.State{Kind: modelStateKind, ID: modelStateID, Data: rec}, nil); err != nil {
		return err
	}
	m.cur.Store(a)
	return nil
}

func (m *Model) details(ctx context.Context) (*iam.Details, string, error) {
	if m.cfg.File != "" {
		data, err := os.ReadFile(m.cfg.File)
		if err != nil {
			return nil, m.cfg.File, fmt.Errorf("iam.file: %w", err)
		}
		d, err := iam.DecodeDetails(data)
		if err != nil {
			return nil, m.cfg.File, fmt.Errorf("iam.file %s: %w", m.cfg.File, err)
		}
		return d, m.cfg.File, nil
	}
	lc := m.cfg.Live
	c, err := live.NewClient(ctx, live.ClientOptions{Profile: lc.Profile, Region: lc.Region, BaseEndpoint: lc.Endpoint})
	if err != nil {
		return nil, "live", fmt.Errorf("live IAM: %w", err)
	}
	d, err := live.Fetch(ctx, live.Options{Client: c, Now: m.now, Logger: m.log})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, "live", err
		}
		return nil, "live", fmt.Errorf("live IAM: %w", err)
	}
	return d, "live", nil
}
