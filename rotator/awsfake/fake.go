// Package awsfake is a stateful, in-process stand-in for the AWS APIs the
// key rotator calls, speaking their real wire protocols over HTTP so that
// the real aws-sdk-go-v2 clients can be tested against it: IAM and STS
// (Query protocol, XML answers, XML errors) and Secrets Manager (JSON 1.1).
// One handler serves all three: Secrets Manager requests carry
// X-Amz-Target, IAM and STS requests a form Version (2010-05-08,
// 2011-06-15).
//
// It keeps users (path, groups, tags), access keys (status, creation,
// last use, the two-key quota), and secrets with version staging labels;
// STS checks each request's SigV4 signature against the key's secret and
// refuses a new key for Options.NewKeyDelay, as IAM's eventual
// consistency does; tests can inject throttling and 5xx answers and read
// the log of calls. It imports no package of ours, so any test (the
// rotator's, the daemon's) can use it, and `iamd demo` rotates a key
// against it in process (HTTPClient, InProcessIAM…).
package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure a Fake.
type Options struct {
	AccountID string           // default 111122223333
	Region    string           // default us-east-1
	Now       func() time.Time // default time.Now
	// NewKeyDelay is how long after its creation STS refuses a key with
	// InvalidClientTokenId (default 0).
	NewKeyDelay time.Duration
	Seed        uint64 // seeds key IDs and secrets
}

// User is an IAM user.
type User struct {
	Name    string
	Path    string // default "/"
	Groups  []string
	Tags    map[string]string
	Created time.Time
}

// Key is an access key as the fake holds it.
type Key struct {
	ID       string
	User     string
	Secret   string
	Active   bool
	Created  time.Time
	LastUsed time.Time // zero: never
	Service  string    // of the last use
}

// Call is one request the fake answered. Params never hold a secret.
type Call struct {
	Service string // "iam", "sts", "secretsmanager"
	Action  string
	Params  map[string]string
	Status  int    // HTTP status answered
	Code    string // error code, "" on success
	At      time.Time
}

// Mutating reports whether the call would change state when it succeeds.
func (c Call) Mutating() bool {
	switch c.Action {
	case "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
		"CreateSecret", "PutSecretValue", "UpdateSecretVersionStage", "DeleteSecret":
		return true
	}
	return false
}

type fault struct {
	action string
	left   int
	status int
	code   string
	after  bool // the action is done, then the error answered
}

type secretVersion struct {
	value   string
	stages  []string
	created time.Time
}

type secret struct {
	name     string
	arn      string
	created  time.Time
	versions map[string]*secretVersion
	tags     map[string]string
	// current lists every value that carried AWSCURRENT, in order.
	current []string
}

// Fake is the fake AWS endpoint; it is an http.Handler.
type Fake struct {
	o Options

	mu        sync.Mutex
	users     map[string]*User
	keys      map[string]*Key
	secrets   map[string]*secret
	generated []string
	calls     []Call
	faults    []*fault
	rng       *rand.Rand
	seq       int
	// afterMutation runs after a mutating action changed the state and
	// before the answer is written.
	afterMutation func(service, action string)
}

// New returns an empty fake.
func New(o Options) *Fake {
	if o.AccountID == "" {
		o.AccountID = "111122223333"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Fake{o: o, users: map[string]*User{}, keys: map[string]*Key{}, secrets: map[string]*secret{},
		rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
}

// AccountID is the fake account's id.
func (f *Fake) AccountID() string { return f.o.AccountID }

// UserARN is the ARN of user name (with its path).
func (f *Fake) UserARN(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.userARN(f.users[name])
}

func (f *Fake) userARN(u *User) string {
	if u == nil {
		return ""
	}
	return "arn:aws:iam::" + f.o.AccountID + ":user" + u.Path + u.Name
}

// AddUser adds (or replaces) a user.
func (f *Fake) AddUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.Path == "" {
		u.Path = "/"
	}
	if u.Created.IsZero() {
		u.Created = f.o.Now().Add(-365 * 24 * time.Hour)
	}
	f.users[u.Name] = &u
}

// RemoveUser deletes a user and its keys.
func (f *Fake) RemoveUser(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.users, name)
	for id, k := range f.keys {
		if k.User == name {
			delete(f.keys, id)
		}
	}
}

// AddKey gives user an access key created at created and returns its ID.
func (f *Fake) AddKey(user string, created time.Time, active bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newKey(user, created, active).ID
}

// AddKeyID gives user the access key id (one the trail shows, say),
// created at created. Its secret is random, as AddKey's.
func (f *Fake) AddKeyID(user, id string, created time.Time, active bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.newKey(user, created, active)
	delete(f.keys, k.ID)
	k.ID = id
	f.keys[id] = k
}

func (f *Fake) newKey(user string, created time.Time, active bool) *Key {
	f.seq++
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	id := make([]byte, 12)
	for i := range id {
		id[i] = alnum[f.rng.IntN(len(alnum))]
	}
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	sec := make([]byte, 40)
	for i := range sec {
		sec[i] = b64[f.rng.IntN(len(b64))]
	}
	k := &Key{ID: fmt.Sprintf("AKIA%04d%s", f.seq%10000, id), User: user, Secret: string(sec), Active: active, Created: created.UTC().Truncate(time.Second)}
	f.keys[k.ID] = k
	f.generated = append(f.generated, k.Secret)
	return k
}

// SetLastUsed sets what GetAccessKeyLastUsed answers for key id.
func (f *Fake) SetLastUsed(id string, t time.Time, service string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k := f.keys[id]; k != nil {
		k.LastUsed, k.Service = t.UTC(), service
	}
}

// Keys returns user's keys, oldest first.
func (f *Fake) Keys(user string) []Key {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.userKeys(user)
}

func (f *Fake) userKeys(user string) []Key {
	var out []Key
	for _, k := range f.keys {
		if k.User == user {
			out = append(out, *k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Key returns one key.
func (f *Fake) Key(id string) (Key, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	if !ok {
		return Key{}, false
	}
	return *k, true
}

// GeneratedSecrets returns every secret access key the fake ever made,
// deleted keys' included: what must never show up in logs or files.
func (f *Fake) GeneratedSecrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.generated...)
}

// SecretValue returns the SecretString of the version of secret name
// that carries stage ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS").
func (f *Fake) SecretValue(name, stage string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.secrets[name]
	if s == nil {
		return "", false
	}
	for _, v := range s.versions {
		for _, st := range v.stages {
			if st == stage {
				return v.value, true
			}
		}
	}
	return "", false
}

// CurrentHistory returns every SecretString that was AWSCURRENT of
// secret name, oldest first: what consumers may have read.
func (f *Fake) CurrentHistory(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.secrets[name]; s != nil {
		return append([]string(nil), s.current...)
	}
	return nil
}

// SecretStages returns version id → staging labels of secret name.
func (f *Fake) SecretStages(name string) map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.secrets[name]
	if s == nil {
		return nil
	}
	out := map[string][]string{}
	for id, v := range s.versions {
		out[id] = append([]string(nil), v.stages...)
	}
	return out
}

// Calls returns the log of answered requests.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Count returns how many calls of action succeeded.
func (f *Fake) Count(action string) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Action == action && c.Code == "" {
			n++
		}
	}
	return n
}

// Fail makes the next n calls of action ("*": any) answer HTTP status
// with error code (e.g. 400 Throttling, 500 InternalFailure, 503
// ServiceUnavailable) without touching the state.
func (f *Fake) Fail(action string, n, status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{action: action, left: n, status: status, code: code})
}

// ClearFaults drops every planned fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// FailAfter makes the next n calls of action do their work and then
// answer HTTP status with error code: AWS acted, the caller never heard.
func (f *Fake) FailAfter(action string, n, status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{action: action, left: n, status: status, code: code, after: true})
}

// AfterMutation sets a function called after a mutating action changed
// the state and before its answer is written (nil: none): a test can stop
// the caller there, between AWS doing the work and the caller hearing it.
func (f *Fake) AfterMutation(fn func(service, action string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterMutation = fn
}

// reply is what a handler produces.
type reply struct {
	status int
	code   string
	msg    string
	body   string // XML result element content, or JSON object
}

func errReply(status int, code, msg string) reply { return reply{status: status, code: code, msg: msg} }

// ServeHTTP answers one request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); strings.HasPrefix(target, "secretsmanager.") {
		f.serveSecretsManager(w, strings.TrimPrefix(target, "secretsmanager."), body)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	action := form.Get("Action")
	switch form.Get("Version") {
	case "2010-05-08":
		f.serveQuery(w, "iam", "https://iam.amazonaws.com/doc/2010-05-08/", action, form, func() reply { return f.iam(action, form) })
	case "2011-06-15":
		f.serveQuery(w, "sts", "https://sts.amazonaws.com/doc/2011-06-15/", action, form, func() reply { return f.sts(r, body, action) })
	default:
		http.Error(w, "unknown API version "+form.Get("Version"), http.StatusBadRequest)
	}
}

// injected returns the next fault planned for action, if any.
func (f *Fake) injected(action string) *fault {
	for _, ft := range f.faults {
		if ft.left > 0 && (ft.action == action || ft.action == "*") {
			ft.left--
			return ft
		}
	}
	return nil
}

// params copies a request's parameters for the call log, without secrets.
func params(form url.Values) map[string]string {
	out := map[string]string{}
	for k, v := range form {
		if k == "SecretString" || k == "SecretAccessKey" || k == "SecretBinary" {
			continue
		}
		out[k] = strings.Join(v, ",")
	}
	return out
}

// handle runs fn under the lock with fault injection and the call log,
// and the after-mutation hook outside the lock.
func (f *Fake) handle(service, action string, p map[string]string, fn func() reply) reply {
	f.mu.Lock()
	var rep reply
	ft := f.injected(action)
	if ft == nil || ft.after {
		rep = fn()
	}
	if ft != nil {
		rep = errReply(ft.status, ft.code, "injected "+ft.code)
	}
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	c := Call{Service: service, Action: action, Params: p, Status: rep.status, Code: rep.code, At: f.o.Now()}
	f.calls = append(f.calls, c)
	hook := f.afterMutation
	f.mu.Unlock()
	if hook != nil && c.Mutating() && c.Code == "" {
		hook(service, action)
	}
	return rep
}

func (f *Fake) serveQuery(w http.ResponseWriter, service, ns, action string, form url.Values, fn func() reply) {
	rep := f.handle(service, action, params(form), fn)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(rep.status)
	if rep.code != "" {
		typ := "Sender"
		if rep.status >= 500 {
			typ = "Receiver"
		}
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			ns, typ, rep.code, xmlText(rep.msg), requestID)
		return
	}
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, ns, action, rep.body, action, requestID, action)
}

const requestID = "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE"

func (f *Fake) serveSecretsManager(w http.ResponseWriter, action string, body []byte) {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		in = nil
	}
	p := map[string]string{}
	for k, v := range in {
		if k == "SecretString" || k == "SecretBinary" {
			continue
		}
		p[k] = fmt.Sprint(v)
	}
	rep := f.handle("secretsmanager", action, p, func() reply {
		if in == nil {
			return errReply(400, "SerializationException", "bad JSON body")
		}
		return f.secretsManager(action, in)
	})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if rep.code != "" {
		w.Header().Set("X-Amzn-ErrorType", rep.code)
		w.WriteHeader(rep.status)
		b, _ := json.Marshal(map[string]string{"__type": rep.code, "message": rep.msg})
		w.Write(b)
		return
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func xmlText(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
