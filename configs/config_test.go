package configs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, doc string) Config {
	t.Helper()
	c, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := Default()
	day := 24 * time.Hour
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"store.dir", c.Store.Dir, ""},
		{"store.keep_raw", c.Store.KeepRaw.D(), time.Duration(0)},
		{"store.dedup_ttl", c.Store.DedupTTL.D(), 45 * day},
		{"store.sync_writes", c.Store.SyncWrites, false},
		{"store.gc_interval", c.Store.GCInterval.D(), time.Hour},
		{"sources.directory", len(c.Sources.Directory), 0},
		{"sources.kafka", len(c.Sources.Kafka), 0},
		{"sources.s3", len(c.Sources.S3), 0},
		{"iam.file", c.IAM.File, ""},
		{"iam.live.enabled", c.IAM.Live.Enabled, false},
		{"iam.live.profile", c.IAM.Live.Profile, ""},
		{"iam.live.region", c.IAM.Live.Region, ""},
		{"iam.live.endpoint", c.IAM.Live.Endpoint, ""},
		{"iam.refresh", c.IAM.Refresh, "@daily"},
		{"analysis.window", c.Analysis.Window.D(), 90 * day},
		{"analysis.exclude_principals", len(c.Analysis.ExcludePrincipals), 0},
		{"analysis.exclude_actions", len(c.Analysis.ExcludeActions), 0},
		{"suggestions.schedule", c.Suggestions.Schedule, "@weekly"},
		{"suggestions.out_dir", c.Suggestions.OutDir, ""},
		{"suggestions.grace", c.Suggestions.Grace.D(), 14 * day},
		{"rotation.enabled", c.Rotation.Enabled, false},
		{"rotation.schedule", c.Rotation.Schedule, "0 3 * * *"},
		{"rotation.dry_run", c.Rotation.DryRun, true},
		{"rotation.max_age", c.Rotation.MaxAge.D(), 90 * day},
		{"rotation.drain", c.Rotation.Drain.D(), 7 * day},
		{"rotation.recovery", c.Rotation.Recovery.D(), 10 * day},
		{"rotation.max_users_per_run", c.Rotation.MaxUsersPerRun, 5},
		{"rotation.opt_in", c.Rotation.OptIn, false},
		{"rotation.webhook", c.Rotation.Webhook, ""},
		{"rotation.notify_ahead", c.Rotation.NotifyAhead.D(), 7 * day},
		{"rotation.min_overlap", c.Rotation.MinOverlap.D(), 24 * time.Hour},
		{"rotation.max_index_lag", c.Rotation.MaxIndexLag.D(), 48 * time.Hour},
		{"rotation.verify_timeout", c.Rotation.VerifyTimeout.D(), 2 * time.Minute},
		{"rotation.retry_aborted", c.Rotation.RetryAborted.D(), 24 * time.Hour},
		{"rotation.step_attempts", c.Rotation.StepAttempts, 3},
		{"rotation.opt_in_tag", c.Rotation.OptInTag, "iamd-rotate"},
		{"rotation.users.path_prefixes", len(c.Rotation.Users.PathPrefixes), 0},
		{"rotation.users.groups", len(c.Rotation.Users.Groups), 0},
		{"rotation.users.tags", len(c.Rotation.Users.Tags), 0},
		{"rotation.users.exempt_tags", len(c.Rotation.Users.ExemptTags), 0},
		{"rotation.users.exempt_groups", len(c.Rotation.Users.ExemptGroups), 0},
		{"rotation.users.exempt_arns", len(c.Rotation.Users.ExemptARNs), 0},
		{"rotation.delivery.tag", c.Rotation.Delivery.Tag, "iamd-delivery"},
		{"rotation.delivery.default", c.Rotation.Delivery.Default, "secretsmanager"},
		{"rotation.delivery.secret_name", c.Rotation.Delivery.SecretName, "iamd/access-keys/{user}"},
		{"rotation.delivery.files", len(c.Rotation.Delivery.Files), 0},
		{"rotation.delivery.commands", len(c.Rotation.Delivery.Commands), 0},
		{"rotation.sts_endpoint", c.Rotation.STSEndpoint, ""},
		{"rotation.secretsmanager_endpoint", c.Rotation.SecretsManagerEndpoint, ""},
		{"http.listen", c.HTTP.Listen, "127.0.0.1:8080"},
		{"http.token", c.HTTP.Token, ""},
		{"http.token_file", c.HTTP.TokenFile, ""},
		{"http.metrics_without_token", c.HTTP.MetricsWithoutToken, false},
		{"http.ui", c.HTTP.UI, true},
		{"logging.level", c.Logging.Level, "info"},
		{"logging.format", c.Logging.Format, "text"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.key, tc.got, tc.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

// TestSourceDefaults checks each key of a list entry left out takes its
// default.
func TestSourceDefaults(t *testing.T) {
	c := parse(t, `
sources:
  directory: [{path: /in}]
  kafka: [{brokers: [k1], topics: [ct]}]
  s3: [{bucket: b}, {bucket: b2, until: "2026-11-30"}, {bucket: b3, until: "2026-11-30", tail: true}]
`)
	d := c.Sources.Directory[0]
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"directory.poll", d.Poll.D(), 30 * time.Second},
		{"directory.settle", d.Settle.D(), 5 * time.Second},
		{"directory.workers", d.Workers, 0},
		{"directory.batch", d.Batch, 0},
		{"directory.name", d.Name, ""},
		{"kafka.group", c.Sources.Kafka[0].Group, "iamd"},
		{"kafka.start", c.Sources.Kafka[0].Start, "first"},
		{"kafka.tls", c.Sources.Kafka[0].TLS, false},
		{"kafka.dead_letter_topic", c.Sources.Kafka[0].DeadLetterTopic, ""},
		{"kafka.sasl.mechanism", c.Sources.Kafka[0].SASL.Mechanism, ""},
		{"kafka.sasl.password_env", c.Sources.Kafka[0].SASL.PasswordEnv, "IAMD_KAFKA_PASSWORD"},
		{"kafka.batch_records", c.Sources.Kafka[0].BatchRecords, 2000},
		{"kafka.batch_wait", c.Sources.Kafka[0].BatchWait.D(), time.Second},
		{"s3.tail", c.Sources.S3[0].Tail, true},
		{"s3.poll", c.Sources.S3[0].Poll.D(), time.Minute},
		{"s3.workers", c.Sources.S3[0].Workers, 4},
		{"s3.lookback", c.Sources.S3[0].LookBack.D(), time.Hour},
		{"s3[1].tail (until given)", c.Sources.S3[1].Tail, false},
		{"s3[2].tail (until and tail given)", c.Sources.S3[2].Tail, true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.key, tc.got, tc.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestExample checks the shipped example is the default configuration and
// mentions every key, list entries' keys included.
func TestExample(t *testing.T) {
	c, err := Parse(bytes.NewReader(Example))
	if err != nil {
		t.Fatalf("Parse(example): %v", err)
	}
	// "[]" in the example reads as an empty list, the default is nil.
	if n := len(c.Sources.Directory) + len(c.Sources.Kafka) + len(c.Sources.S3); n != 0 {
		t.Errorf("example has %d sources, want none", n)
	}
	c.Sources = Sources{}
	c.Analysis.ExcludePrincipals, c.Analysis.ExcludeActions = nil, nil
	c.Rotation.Users = RotationUsers{}
	c.Rotation.Delivery.Files, c.Rotation.Delivery.Commands = nil, nil
	if want := Default(); !reflect.DeepEqual(c, want) {
		t.Errorf("example parses to\n%+v\nwant Default()\n%+v", c, want)
	}
	var missing []string
	for _, key := range yamlKeys(reflect.TypeOf(Config{}), "") {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !regexp.MustCompile(`(?m)^[ #-]*` + regexp.QuoteMeta(leaf) + `:`).Match(Example) {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		t.Errorf("example lacks keys: %v", missing)
	}
}

// yamlKeys lists every key path of t ("sources.kafka[].brokers").
func yamlKeys(t reflect.Type, path string) []string {
	var out []string
	for name, f := range yamlFields(t) {
		p := join(path, name)
		out = append(out, p)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			out = append(out, yamlKeys(ft.Elem(), p+"[]")...)
		} else if ft.Kind() == reflect.Struct {
			out = append(out, yamlKeys(ft, p)...)
		}
	}
	return out
}

func TestUnknownKeys(t *testing.T) {
	_, err := Parse(strings.NewReader(`
store:
  dirr: /x
sources:
  kafka:
    - brokers: [k]
      topics: [t]
      batchsize: 5
http:
  listen: 127.0.0.1:1
extra: 1
`))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error %v (%T), want Errors", err, err)
	}
	var keys []string
	for _, e := range errs {
		keys = append(keys, e.Key)
	}
	if got, want := strings.Join(keys, " "), "store.dirr sources.kafka[0].batchsize extra"; got != want {
		t.Errorf("unknown keys %q, want %q", got, want)
	}
	if !strings.Contains(err.Error(), "sources.kafka[0].batchsize: unknown key (line 8)") {
		t.Errorf("error %q does not give the path and line", err)
	}
}

// TestUISwitch: the dashboard is on unless the file turns it off, and
// turning it off keeps the rest of http.
func TestUISwitch(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      bool
	}{
		{"absent", "http:\n  listen: 127.0.0.1:9000\n", true},
		{"on", "http:\n  ui: true\n", true},
		{"off", "http:\n  listen: 127.0.0.1:9000\n  ui: false\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := parse(t, tc.doc)
			if got := c.HTTP.UI; got != tc.want {
				t.Fatalf("http.ui = %v, want %v", got, tc.want)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
	if _, err := Parse(strings.NewReader("http:\n  ui: sometimes\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Parse(ui: sometimes) = %v, want an error at line 2", err)
	}
}

func TestParseTypeErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"bad duration", "analysis:\n  window: 3 weeks\n", `line 2: "3 weeks"`},
		{"bad int", "rotation:\n  max_users_per_run: many\n", "line 2"},
		{"list for map", "http: [1]\n", "line 1"},
		{"not yaml", "store: [\n", "config:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		doc  string
		keys []string // every problem, in order
	}{
		{"valid sources", `
sources:
  directory: [{path: /in}]
  kafka: [{brokers: ["k1:9093", k2], topics: [a, b]}]
  s3: [{bucket: trail, accounts: ["111122223333"], since: "2026-01-01", endpoint: "http://minio:9000"}]
iam: {file: iam.json}
`, nil},
		{"store", "store: {dedup_ttl: 30m, keep_raw: -1h, gc_interval: -1s}", []string{"store.keep_raw", "store.dedup_ttl", "store.gc_interval"}},
		{"directory", "sources: {directory: [{path: '', poll: 0s, settle: -1s, workers: -1, batch: -2}]}",
			[]string{"sources.directory[0].path", "sources.directory[0].poll", "sources.directory[0].settle", "sources.directory[0].workers", "sources.directory[0].batch"}},
		{"kafka", `sources: {kafka: [{brokers: [], topics: [x, ""], dead_letter_topic: x, group: "", start: middle, batch_records: 0, batch_wait: 0s}]}`,
			[]string{"sources.kafka[0].brokers", "sources.kafka[0].dead_letter_topic", "sources.kafka[0].topics[1]", "sources.kafka[0].group", "sources.kafka[0].start", "sources.kafka[0].batch_records", "sources.kafka[0].batch_wait"}},
		{"kafka broker", `sources: {kafka: [{brokers: ["a:b:c"], topics: [t]}]}`, []string{"sources.kafka[0].brokers[0]"}},
		{"kafka sasl", `sources: {kafka: [{brokers: [k], topics: [t], sasl: {mechanism: scram-sha-256, password_env: IAMD_TEST_UNSET_PASSWORD}}, {brokers: [k], topics: [t], sasl: {mechanism: md5}}]}`,
			[]string{"sources.kafka[0].sasl.username", "sources.kafka[0].sasl.password_env", "sources.kafka[1].sasl.mechanism"}},
		{"s3", `sources: {s3: [{bucket: "", org: x, accounts: ["12"], since: "2026-13-01", until: "nope", poll: 0s, workers: 0, lookback: -1s, endpoint: "minio:9000", sqs: "queue"}]}`,
			[]string{"sources.s3[0].bucket", "sources.s3[0].org", "sources.s3[0].accounts[0]", "sources.s3[0].since", "sources.s3[0].until", "sources.s3[0].poll", "sources.s3[0].workers", "sources.s3[0].lookback", "sources.s3[0].endpoint", "sources.s3[0].sqs", "sources.s3[0].sqs"}},
		{"s3 dates", `sources: {s3: [{bucket: b, since: "2026-02-01", until: "2026-01-01"}]}`, []string{"sources.s3[0].until"}},
		{"duplicate names", `sources: {directory: [{path: a, name: x}], s3: [{bucket: b, name: x}]}`, []string{"sources.s3[0]"}},
		{"iam both", "iam: {file: f.json, live: {enabled: true}}", []string{"iam.file"}},
		{"iam live options without live", "iam: {live: {profile: p}}", []string{"iam.live"}},
		{"schedules", "iam: {refresh: '61 * * * *'}\nsuggestions: {schedule: '@fortnightly'}\nrotation: {schedule: '* * *'}", []string{"iam.refresh", "suggestions.schedule", "rotation.schedule"}},
		{"analysis", "analysis: {window: 0s, exclude_principals: [breakglass, 'path:service/', 'tag:=x'], exclude_actions: [s3]}",
			[]string{"analysis.window", "analysis.exclude_principals[0]", "analysis.exclude_principals[1]", "analysis.exclude_principals[2]", "analysis.exclude_actions[0]"}},
		{"analysis exclusions of every kind", "analysis: {exclude_principals: ['*', 'arn:aws:iam::*:role/breakglass-*', 'path:/service/', 'tag:iamd-ignore', 'tag:team=sec']}", nil},
		{"suggestions", "suggestions: {grace: -1d}", []string{"suggestions.grace"}},
		{"rotation", "rotation: {enabled: true, schedule: '', max_age: 0d, drain: -1d, recovery: -1d, max_users_per_run: 0, webhook: 'ftp://x', sts_endpoint: sts, secretsmanager_endpoint: 'http://'}",
			[]string{"rotation.schedule", "rotation.max_age", "rotation.drain", "rotation.recovery", "rotation.max_users_per_run", "rotation.webhook", "rotation.sts_endpoint", "rotation.secretsmanager_endpoint"}},
		{"iam live options for rotation", "iam: {live: {profile: p, region: eu-west-1}}\nrotation: {enabled: true}", nil},
		{"listen", "http: {listen: localhost}", []string{"http.listen"}},
		{"listen port", "http: {listen: '127.0.0.1:99999'}", []string{"http.listen"}},
		{"token and file", "http: {token: a, token_file: /nonexistent/token}", []string{"http.token", "http.token_file"}},
		{"empty token file", "http: {token_file: " + tokenFile + "}", []string{"http.token_file"}},
		{"beyond loopback without token", "http: {listen: ':8080'}", []string{"http.token"}},
		{"beyond loopback with token", "http: {listen: '0.0.0.0:8080', token: s3cret}", nil},
		{"ipv6 loopback", "http: {listen: '[::1]:8080'}", nil},
		{"logging", "logging: {level: loud, format: xml}", []string{"logging.level", "logging.format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := parse(t, tc.doc)
			if err := c.ApplyEnv(func(string) string { return "" }); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			var got []string
			var errs Errors
			if errors.As(err, &errs) {
				for _, e := range errs {
					got = append(got, e.Key)
				}
			} else if err != nil {
				t.Fatalf("Validate = %v (%T), want Errors", err, err)
			}
			if !reflect.DeepEqual(got, tc.keys) {
				t.Errorf("problems at %q, want %q\n%v", got, tc.keys, err)
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"IAMD_STORE": "/data/store", "IAMD_HTTP_ADDR": "0.0.0.0:9000", "IAMD_HTTP_TOKEN": "from-env",
		"IAMD_METRICS_WITHOUT_TOKEN": "true", "IAMD_IAM_FILE": "/iam.json", "IAMD_LOG_LEVEL": "debug", "IAMD_LOG_FORMAT": "json",
		"KAFKA_PW": "pw",
	}
	getenv := func(k string) string { return env[k] }
	c := parse(t, "store: {dir: /file}\nhttp: {token_file: "+tokenFile+"}\nsources: {kafka: [{brokers: [k], topics: [t], sasl: {mechanism: plain, username: u, password_env: KAFKA_PW}}]}")
	if err := c.ApplyEnv(getenv); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Token()
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"store.dir", c.Store.Dir, "/data/store"},
		{"http.listen", c.HTTP.Listen, "0.0.0.0:9000"},
		{"token", tok, "from-env"},
		{"http.token_file", c.HTTP.TokenFile, ""},
		{"http.metrics_without_token", c.HTTP.MetricsWithoutToken, true},
		{"iam.file", c.IAM.File, "/iam.json"},
		{"logging.level", c.Logging.Level, "debug"},
		{"logging.format", c.Logging.Format, "json"},
		{"kafka password", c.KafkaPassword(c.Sources.Kafka[0]), "pw"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.key, tc.got, tc.want)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// A token file from the environment replaces the file's token.
	c = parse(t, "http: {token: in-file}")
	if err := c.ApplyEnv(func(k string) string { return map[string]string{"IAMD_HTTP_TOKEN_FILE": tokenFile}[k] }); err != nil {
		t.Fatal(err)
	}
	if tok, err := c.Token(); err != nil || tok != "from-file" {
		t.Errorf("Token() = %q, %v; want from-file", tok, err)
	}
	for _, bad := range []map[string]string{
		{"IAMD_METRICS_WITHOUT_TOKEN": "yes please"},
		{"IAMD_HTTP_TOKEN": "a", "IAMD_HTTP_TOKEN_FILE": tokenFile},
	} {
		c := Default()
		if err := c.ApplyEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("ApplyEnv(%v) = nil, want an error", bad)
		}
	}
}

func TestResolveStoreDir(t *testing.T) {
	c := Default()
	_ = c.ApplyEnv(func(k string) string { return map[string]string{"XDG_DATA_HOME": "/xdg"}[k] })
	c.Resolve()
	if got, want := c.Store.Dir, filepath.Join("/xdg", "iamd"); got != want {
		t.Errorf("store dir %q, want %q", got, want)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"90d", 90 * 24 * time.Hour, "90d"},
		{"36h", 36 * time.Hour, "36h0m0s"},
		{"48h", 48 * time.Hour, "2d"},
		{"0", 0, "0s"},
		{"1h30m", 90 * time.Minute, "1h30m0s"},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if s := Duration(got).String(); s != tc.str {
			t.Errorf("Duration(%v).String() = %q, want %q", got, s, tc.str)
		}
	}
	for _, bad := range []string{"", "d", "1.5d", "3 weeks", "7days"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) = nil error", bad)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for in, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:1": true, "[::1]:80": true, "127.3.4.5:1": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:1": false, "iamd.internal:80": false, "10.0.0.1:80": false, "nonsense": false,
	} {
		if got := IsLoopback(in); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", in, got, want)
		}
	}
}

// A webhook URL is often its own credential: a problem with it does not
// quote it.
func TestValidateHidesTheWebhookURL(t *testing.T) {
	c := parse(t, "rotation: {webhook: 'ftp://hooks.example/services/T0/B0/tok3n'}")
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "rotation.webhook") {
		t.Fatalf("Validate() = %v, want a problem at rotation.webhook", err)
	}
	if strings.Contains(err.Error(), "tok3n") {
		t.Errorf("Validate() quotes the webhook URL: %v", err)
	}
}
