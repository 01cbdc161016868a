package trailgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

const (
	timeLayout       = "2006-01-02T15:04:05Z"
	expirationLayout = "Jan 2, 2006, 3:04:05 PM"
)

// The JSON shape of a CloudTrail record, fields in the order CloudTrail
// writes them.
type ctRecord struct {
	EventVersion                 string         `json:"eventVersion"`
	UserIdentity                 *userIdentity  `json:"userIdentity"`
	EventTime                    string         `json:"eventTime"`
	EventSource                  string         `json:"eventSource"`
	EventName                    string         `json:"eventName"`
	AWSRegion                    string         `json:"awsRegion"`
	SourceIPAddress              string         `json:"sourceIPAddress"`
	UserAgent                    string         `json:"userAgent"`
	ErrorCode                    string         `json:"errorCode,omitempty"`
	ErrorMessage                 string         `json:"errorMessage,omitempty"`
	RequestParameters            map[string]any `json:"requestParameters"`
	ResponseElements             map[string]any `json:"responseElements"`
	AdditionalEventData          map[string]any `json:"additionalEventData,omitempty"`
	RequestID                    string         `json:"requestID,omitempty"`
	EventID                      string         `json:"eventID"`
	ReadOnly                     bool           `json:"readOnly"`
	Resources                    []ctResource   `json:"resources,omitempty"`
	EventType                    string         `json:"eventType"`
	ManagementEvent              bool           `json:"managementEvent"`
	RecipientAccountID           string         `json:"recipientAccountId"`
	SharedEventID                string         `json:"sharedEventID,omitempty"`
	EventCategory                string         `json:"eventCategory"`
	TLSDetails                   *tlsDetails    `json:"tlsDetails,omitempty"`
	SessionCredentialFromConsole string         `json:"sessionCredentialFromConsole,omitempty"`
}

type userIdentity struct {
	Type           string          `json:"type,omitempty"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *sessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
}

type sessionContext struct {
	SessionIssuer       *sessionIssuer    `json:"sessionIssuer"`
	WebIDFederationData struct{}          `json:"webIdFederationData"`
	Attributes          sessionAttributes `json:"attributes"`
	SourceIdentity      string            `json:"sourceIdentity,omitempty"`
	EC2RoleDelivery     string            `json:"ec2RoleDelivery,omitempty"`
}

type sessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

type sessionAttributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

type ctResource struct {
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type"`
	ARN       string `json:"ARN,omitempty"`
	ARNPrefix string `json:"ARNPrefix,omitempty"`
}

type tlsDetails struct {
	TLSVersion               string `json:"tlsVersion"`
	CipherSuite              string `json:"cipherSuite"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
}

// session is a set of temporary credentials of a role, root console,
// federated or external caller.
type session struct {
	key      string
	name     string
	ip, ua   string // human role sessions: the assumer's address and agent
	sourceID string
	created  time.Time
	expires  time.Time
}

// run is the state of one generation.
type run struct {
	g        *Generator
	w        *world
	r        *rand.Rand
	man      *manifestBuilder
	sessions map[int]*session // principal index → current session
	slot     time.Duration
	svcCum   []int
}

func newRun(g *Generator) *run {
	rn := &run{
		g:        g,
		w:        g.world,
		r:        rand.New(rand.NewPCG(uint64(g.opts.Seed), 0xe7e7_0002_0000_0002)),
		man:      newManifestBuilder(),
		sessions: map[int]*session{},
	}
	if g.total > 0 {
		rn.slot = g.span / time.Duration(g.total)
	}
	total := 0
	for _, s := range serviceTable {
		total += s.weight
		rn.svcCum = append(rn.svcCum, total)
	}
	return rn
}

// uuid returns a version 4 UUID from the run's generator.
func (rn *run) uuid() string { return uuidFrom(rn.r) }

func uuidFrom(r *rand.Rand) string {
	var b [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (8 * i))
		b[8+i] = byte(lo >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var out [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexd[c>>4], hexd[c&0xf]
		j += 2
	}
	return string(out[:])
}

// eventTime spreads records evenly over the span with jitter inside each
// slot, so times are non-decreasing.
func (rn *run) eventTime(i int) time.Time {
	t := rn.g.opts.Start.Add(time.Duration(i) * rn.slot)
	if rn.slot > time.Second {
		t = t.Add(time.Duration(rn.r.Int64N(int64(rn.slot))))
	}
	return t.Truncate(time.Second)
}

// next builds record i.
func (rn *run) next(i int) (Record, error) {
	t := rn.eventTime(i)
	o := &rn.g.opts
	var rec *ctRecord
	if rn.r.Float64() < o.ServiceEventRate {
		rec = rn.serviceCall(t)
	} else {
		rec = rn.principalCall(t)
	}
	rec.EventTime = t.Format(timeLayout)
	if rec.EventID == "" {
		rec.EventID = rn.uuid()
	}
	rn.man.m.Records++
	if rec.EventCategory == "Data" {
		rn.man.m.DataEvents++
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return Record{}, fmt.Errorf("encode %s %s: %w", rec.EventSource, rec.EventName, err)
	}
	return Record{Account: rec.RecipientAccountID, Region: rec.AWSRegion, Time: t, EventID: rec.EventID,
		EventSource: rec.EventSource, EventType: rec.EventType, JSON: data}, nil
}

// pickCaller chooses who makes a principal call at t. People work in the
// day: outside 07:00–19:00 UTC most calls by humans are re-drawn, so
// machine principals dominate the night as in real accounts.
func (rn *run) pickCaller(t time.Time) int {
	pi := rn.pickAnyCaller()
	if h := t.Hour(); h >= 7 && h < 19 {
		return pi
	}
	for try := 0; try < 3 && rn.w.principals[pi].human && rn.r.IntN(5) != 0; try++ {
		pi = rn.pickAnyCaller()
	}
	return pi
}

// pickAnyCaller draws a caller by the configured shares.
func (rn *run) pickAnyCaller() int {
	w := rn.w
	x := rn.r.Float64()
	switch {
	case x < 0.002 && len(w.root) > 0:
		return w.root[rn.r.IntN(len(w.root))]
	case x < 0.007 && len(w.federated) > 0:
		return w.federated[rn.r.IntN(len(w.federated))]
	case x < 0.015 && len(w.externals) > 0:
		return w.externals[rn.r.IntN(len(w.externals))]
	}
	if len(w.roles) > 0 && rn.r.Float64() < rn.g.opts.AssumedRoleShare {
		return w.roles[rn.r.IntN(len(w.roles))]
	}
	return w.users[rn.r.IntN(len(w.users))]
}

// regionFor picks the region of a regional call: the first region most of
// the time.
func (rn *run) regionFor() string {
	regs := rn.g.opts.Regions
	if len(regs) == 1 || rn.r.IntN(10) < 7 {
		return regs[0]
	}
	return regs[1+rn.r.IntN(len(regs)-1)]
}

// pickIdx chooses a resource index: mostly the principal's favourite.
func (rn *run) pickIdx(p *principal, kind resKind, n int) int {
	if n <= 1 {
		return 0
	}
	if rn.r.IntN(4) != 0 {
		return int((p.pref >> (uint(kind) * 3)) % uint64(n))
	}
	return rn.r.IntN(n)
}

// target is the resource a call acts on.
type target struct {
	arn    string // charged resource ("*" for none)
	name   string // bucket, table, function… name
	sub    string // object key
	region string
}

// chooseTarget picks the resource of op o for p in account acct.
func (rn *run) chooseTarget(p *principal, o *op, acct string) target {
	w := rn.w
	region := rn.regionFor()
	if serviceOf(*o) == "iam" {
		region = "us-east-1"
	}
	res := w.regionRes[acct+"/"+region]
	switch o.res {
	case resBucket, resObject:
		var all []string
		for _, reg := range rn.g.opts.Regions {
			all = append(all, w.regionRes[acct+"/"+reg].buckets...)
		}
		b := all[rn.pickIdx(p, resBucket, len(all))]
		region = w.bucketReg[b]
		if o.res == resBucket {
			return target{arn: "arn:aws:s3:::" + b, name: b, region: region}
		}
		objs := w.regionRes[acct+"/"+region].objects
		k := objs[rn.r.IntN(len(objs))]
		return target{arn: "arn:aws:s3:::" + b + "/" + k, name: b, sub: k, region: region}
	case resTable:
		n := res.tables[rn.pickIdx(p, o.res, len(res.tables))]
		return target{arn: "arn:aws:dynamodb:" + region + ":" + acct + ":table/" + n, name: n, region: region}
	case resFunction:
		n := res.functions[rn.pickIdx(p, o.res, len(res.functions))]
		return target{arn: "arn:aws:lambda:" + region + ":" + acct + ":function:" + n, name: n, region: region}
	case resQueue:
		n := res.queues[rn.pickIdx(p, o.res, len(res.queues))]
		return target{arn: "arn:aws:sqs:" + region + ":" + acct + ":" + n, name: n, region: region}
	case resTopic:
		n := res.topics[rn.pickIdx(p, o.res, len(res.topics))]
		return target{arn: "arn:aws:sns:" + region + ":" + acct + ":" + n, name: n, region: region}
	case resKey:
		n := res.keys[rn.pickIdx(p, o.res, len(res.keys))]
		return target{arn: "arn:aws:kms:" + region + ":" + acct + ":key/" + n, name: n, region: region}
	case resSecret:
		n := res.secrets[rn.pickIdx(p, o.res, len(res.secrets))]
		return target{arn: "arn:aws:secretsmanager:" + region + ":" + acct + ":secret:" + n, name: n, region: region}
	case resParameter:
		n := res.parameters[rn.pickIdx(p, o.res, len(res.parameters))]
		if o.name == "GetParametersByPath" {
			n = n[:strings.LastIndexByte(n, '/')]
		}
		return target{arn: "arn:aws:ssm:" + region + ":" + acct + ":parameter" + n, name: n, region: region}
	case resLogGroup:
		n := res.logGroups[rn.pickIdx(p, o.res, len(res.logGroups))]
		return target{arn: "arn:aws:logs:" + region + ":" + acct + ":log-group:" + n, name: n, region: region}
	case resSelfUser:
		return target{arn: p.arn, name: p.name, region: region}
	case resRole:
		var cands []int
		for _, ri := range w.roles {
			if w.principals[ri].account == acct {
				cands = append(cands, ri)
			}
		}
		if len(cands) == 0 {
			return target{arn: "arn:aws:iam::" + acct + ":role/deleted-role", name: "deleted-role", region: region}
		}
		rp := w.principals[cands[rn.pickIdx(p, o.res, len(cands))]]
		return target{arn: rp.arn, name: rp.name, region: region}
	}
	return target{arn: "*", region: region}
}

// sessionFor returns p's current session at t, creating one when needed.
// created reports a new session; callers of roles then emit the
// AssumeRole record instead of a call.
func (rn *run) sessionFor(pi int, t time.Time) (s *session, created bool) {
	p := rn.w.principals[pi]
	if s = rn.sessions[pi]; s != nil && t.Before(s.expires) {
		return s, false
	}
	life := time.Hour
	if p.kind == kindRole && p.use != useHuman {
		life = 6 * time.Hour
	}
	s = &session{
		key:     "ASIA" + rn.w.infix[p.account] + randString(rn.r, b32, 8),
		created: t,
		expires: t.Add(life),
	}
	switch {
	case p.kind == kindRoot:
		s.name = p.account
	case p.kind == kindFederated:
		s.name = p.name
	case p.kind == kindExternal:
		s.name = "partner-sync-" + strconv.Itoa(rn.r.IntN(1000))
	case p.use == useLambda:
		s.name = rn.w.regionRes[p.account+"/"+rn.g.opts.Regions[0]].functions[p.pref%uint64(len(functionName))]
	case p.use == useEC2:
		s.name = fmt.Sprintf("i-0%016x", p.pref&0xffffffffffffff)[:19]
	case p.use == useECS:
		s.name = randString(rn.r, hexd, 32)
	}
	rn.sessions[pi] = s
	return s, true
}

// identity builds the userIdentity of p calling with key (for users) or
// session s.
func (rn *run) identity(p *principal, key string, s *session) *userIdentity {
	w := rn.w
	switch p.kind {
	case kindUser:
		u := &userIdentity{Type: "IAMUser", PrincipalID: p.id, ARN: p.arn, AccountID: p.account, AccessKeyID: key, UserName: p.name}
		if s != nil { // console session
			u.AccessKeyID = s.key
			u.SessionContext = &sessionContext{SessionIssuer: &sessionIssuer{}, Attributes: sessionAttributes{CreationDate: s.created.Format(timeLayout), MFAAuthenticated: "true"}}
		}
		return u
	case kindRoot:
		return &userIdentity{Type: "Root", PrincipalID: p.account, ARN: p.arn, AccountID: p.account, AccessKeyID: s.key,
			SessionContext: &sessionContext{SessionIssuer: &sessionIssuer{}, Attributes: sessionAttributes{CreationDate: s.created.Format(timeLayout), MFAAuthenticated: "true"}}}
	case kindFederated:
		is := w.principals[p.issuer]
		return &userIdentity{Type: "FederatedUser", PrincipalID: p.account + ":" + p.name, ARN: "arn:aws:sts::" + p.account + ":federated-user/" + p.name,
			AccountID: p.account, AccessKeyID: s.key,
			SessionContext: &sessionContext{
				SessionIssuer: &sessionIssuer{Type: "IAMUser", PrincipalID: is.id, ARN: is.arn, AccountID: is.account, UserName: is.name},
				Attributes:    sessionAttributes{CreationDate: s.created.Format(timeLayout), MFAAuthenticated: "false"}}}
	}
	sc := &sessionContext{
		SessionIssuer:  &sessionIssuer{Type: "Role", PrincipalID: p.id, ARN: p.arn, AccountID: p.account, UserName: p.name},
		Attributes:     sessionAttributes{CreationDate: s.created.Format(timeLayout), MFAAuthenticated: "false"},
		SourceIdentity: s.sourceID,
	}
	if p.use == useEC2 {
		sc.EC2RoleDelivery = "2.0"
	}
	return &userIdentity{Type: "AssumedRole", PrincipalID: p.id + ":" + s.name,
		ARN:       "arn:aws:sts::" + p.account + ":assumed-role/" + p.name + "/" + s.name,
		AccountID: p.account, AccessKeyID: s.key, SessionContext: sc}
}

// principalCall emits a call by a principal (or the AssumeRole that starts
// a role session).
func (rn *run) principalCall(t time.Time) *ctRecord {
	w := rn.w
	pi := rn.pickCaller(t)
	p := w.principals[pi]
	var key string
	var s *session
	console := p.kind == kindRoot
	switch p.kind {
	case kindUser:
		if p.human && rn.r.IntN(5) == 0 {
			var created bool
			s, created = rn.consoleSession(pi, t)
			if created {
				return rn.consoleLogin(p, t)
			}
			console = true
			break
		}
		key = pickKey(rn.r, p.keys)
	case kindRole:
		var created bool
		s, created = rn.sessionFor(pi, t)
		if created {
			return rn.assumeRole(pi, s, t)
		}
	default:
		s, _ = rn.sessionFor(pi, t)
	}
	acct := p.account
	if p.kind == kindExternal {
		acct = w.accounts[0]
	}
	o := &rn.g.opts
	x := rn.r.Float64()
	denied := x < o.DeniedRate && len(p.deny) > 0 && p.kind != kindExternal && p.kind != kindRoot
	failed := !denied && x < o.DeniedRate+o.ErrorRate
	var oi int
	if denied {
		oi = p.deny[rn.r.IntN(len(p.deny))]
	} else {
		oi = p.pickOp(rn.r)
	}
	op := &opTable[oi]
	tg := rn.chooseTarget(p, op, acct)
	rec := rn.baseRecord(op, tg, acct)
	rec.UserIdentity = rn.identity(p, key, s)
	rec.SourceIPAddress, rec.UserAgent = p.ip, p.ua
	if s != nil && s.ip != "" {
		rec.SourceIPAddress, rec.UserAgent = s.ip, s.ua
	}
	if console {
		rec.UserAgent = consoleUA
		rec.SessionCredentialFromConsole = "true"
	}
	if op.source == "s3.amazonaws.com" {
		rec.UserAgent = "[" + rec.UserAgent + "]"
	}
	rn.fillCall(rec, op, tg, p, t)
	switch {
	case denied:
		rec.ErrorCode, rec.ErrorMessage = denyError(op, rec.UserIdentity.ARN, tg.arn)
		rec.ResponseElements = nil
		rn.man.m.Denied++
	case failed:
		rec.ErrorCode, rec.ErrorMessage = failError(rn.r, op, tg)
		rec.ResponseElements = nil
		rn.man.m.Errors++
	}
	rn.man.m.PrincipalRecords++
	charged := p.arn
	keyID := rec.UserIdentity.AccessKeyID
	rn.man.key(keyID, charged, t)
	if op.noPerm {
		rn.man.perm[eventKey{charged, op.source, op.name}]++
	} else {
		rn.man.use(charged, op.action, tg.arn, denied, t)
	}
	return rec
}

func pickKey(r *rand.Rand, keys []accessKey) string {
	total := 0
	for _, k := range keys {
		total += k.weight
	}
	n := r.IntN(total)
	for _, k := range keys {
		if n < k.weight {
			return k.id
		}
		n -= k.weight
	}
	return keys[0].id
}

// assumeRole emits the sts:AssumeRole record that creates role session s:
// by a user for human roles, by the AWS service for service roles.
func (rn *run) assumeRole(pi int, s *session, t time.Time) *ctRecord {
	w := rn.w
	rp := w.principals[pi]
	region := rn.g.opts.Regions[0]
	stsOp := &opTable[rn.g.opIdx[opAssumeRole]]
	rec := rn.baseRecord(stsOp, target{arn: rp.arn, region: region}, rp.account)
	rec.ReadOnly = true
	rec.Resources = []ctResource{{AccountID: rp.account, Type: "AWS::IAM::Role", ARN: rp.arn}}
	req := map[string]any{"roleArn": rp.arn, "durationSeconds": int(s.expires.Sub(s.created) / time.Second)}
	var assumer *principal
	if rp.use == useHuman {
		assumer = w.principals[rp.assumer[rn.r.IntN(len(rp.assumer))]]
		s.name = assumer.name
		s.ip, s.ua = assumer.ip, assumer.ua
		if rp.pref&1 == 0 {
			s.sourceID = assumer.name
			req["sourceIdentity"] = assumer.name
		}
	}
	req["roleSessionName"] = s.name
	rec.RequestParameters = req
	resp := map[string]any{
		"credentials":     map[string]any{"accessKeyId": s.key, "expiration": s.expires.Format(expirationLayout)},
		"assumedRoleUser": map[string]any{"assumedRoleId": rp.id + ":" + s.name, "arn": "arn:aws:sts::" + rp.account + ":assumed-role/" + rp.name + "/" + s.name},
	}
	if s.sourceID != "" {
		resp["sourceIdentity"] = s.sourceID
	}
	rec.ResponseElements = resp
	if assumer == nil {
		svc := roleUseService[rp.use]
		rec.UserIdentity = &userIdentity{Type: "AWSService", InvokedBy: svc}
		rec.SourceIPAddress, rec.UserAgent = svc, svc
		rec.TLSDetails = nil
		rn.man.m.ServiceRecords++
		rn.man.svc[eventKey{svc, stsOp.source, stsOp.name}]++
		return rec
	}
	key := pickKey(rn.r, assumer.keys)
	rec.UserIdentity = rn.identity(assumer, key, nil)
	rec.SourceIPAddress, rec.UserAgent = assumer.ip, assumer.ua
	rn.man.m.PrincipalRecords++
	rn.man.key(key, assumer.arn, t)
	rn.man.use(assumer.arn, stsOp.action, rp.arn, false, t)
	if s.sourceID != "" {
		rn.man.use(assumer.arn, sourceIdentityMapping.Action, rp.arn, false, t)
	}
	return rec
}

// consoleSession returns the console session of user pi at t (sessions
// are keyed apart from API sessions), creating one when needed.
func (rn *run) consoleSession(pi int, t time.Time) (*session, bool) {
	k := -1 - pi
	if s := rn.sessions[k]; s != nil && t.Before(s.expires) {
		return s, false
	}
	p := rn.w.principals[pi]
	s := &session{key: "ASIA" + rn.w.infix[p.account] + randString(rn.r, b32, 8), name: p.name, created: t, expires: t.Add(8 * time.Hour)}
	rn.sessions[k] = s
	return s, true
}

// consoleLogin emits the sign-in that starts a user's console session.
func (rn *run) consoleLogin(p *principal, t time.Time) *ctRecord {
	o := &rn.g.opts
	rec := &ctRecord{
		EventVersion:     "1.09",
		UserIdentity:     &userIdentity{Type: "IAMUser", PrincipalID: p.id, ARN: p.arn, AccountID: p.account, UserName: p.name},
		EventSource:      "signin.amazonaws.com",
		EventName:        opConsoleLogin,
		AWSRegion:        o.Regions[0],
		SourceIPAddress:  p.ip,
		UserAgent:        consoleUA,
		ResponseElements: map[string]any{"ConsoleLogin": "Success"},
		AdditionalEventData: map[string]any{"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
			"MobileVersion": "No", "MFAIdentifier": "arn:aws:iam::" + p.account + ":mfa/" + p.name, "MFAUsed": "Yes"},
		EventType:          "AwsConsoleSignIn",
		ManagementEvent:    true,
		RecipientAccountID: p.account,
		EventCategory:      "Management",
		TLSDetails:         &tlsDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ClientProvidedHostHeader: "signin.aws.amazon.com"},
	}
	rn.man.m.PrincipalRecords++
	rn.man.perm[eventKey{p.arn, rec.EventSource, rec.EventName}]++
	return rec
}

// baseRecord fills the fields every record of op o has.
func (rn *run) baseRecord(o *op, tg target, acct string) *ctRecord {
	rec := &ctRecord{
		EventVersion:       "1.09",
		EventSource:        o.source,
		EventName:          o.name,
		AWSRegion:          tg.region,
		ReadOnly:           o.readOnly,
		EventType:          "AwsApiCall",
		ManagementEvent:    !o.data,
		RecipientAccountID: acct,
		EventCategory:      "Management",
	}
	if o.data {
		rec.EventVersion = "1.10"
		rec.EventCategory = "Data"
	}
	if o.source == "s3.amazonaws.com" {
		rec.RequestID = randString(rn.r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16)
	} else {
		rec.RequestID = rn.uuid()
	}
	host := strings.Replace(o.source, ".amazonaws.com", "."+tg.region+".amazonaws.com", 1)
	switch o.source {
	case "iam.amazonaws.com":
		host = "iam.amazonaws.com"
	case "s3.amazonaws.com":
		if tg.name != "" {
			host = tg.name + ".s3." + tg.region + ".amazonaws.com"
		}
	}
	rec.TLSDetails = &tlsDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ClientProvidedHostHeader: host}
	return rec
}

// fillCall adds request parameters, resources and response elements the
// way CloudTrail records them for op o.
func (rn *run) fillCall(rec *ctRecord, o *op, tg target, p *principal, t time.Time) {
	acct := rec.RecipientAccountID
	switch o.source {
	case "s3.amazonaws.com":
		host := tg.name + ".s3." + tg.region + ".amazonaws.com"
		switch o.res {
		case resObject:
			rec.RequestParameters = map[string]any{"bucketName": tg.name, "Host": host, "key": tg.sub}
			if o.name == "PutObject" {
				rec.RequestParameters["x-amz-server-side-encryption"] = "aws:kms"
				rec.ResponseElements = map[string]any{"x-amz-server-side-encryption": "aws:kms", "x-amz-version-id": randString(rn.r, alnum, 32) + "_"}
			}
			rec.Resources = []ctResource{{Type: "AWS::S3::Object", ARN: tg.arn}, {AccountID: acct, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + tg.name}}
		case resBucket:
			rec.RequestParameters = map[string]any{"bucketName": tg.name, "Host": host}
			switch o.name {
			case "ListObjects":
				rec.RequestParameters["list-type"] = "2"
				rec.RequestParameters["prefix"] = ""
				rec.RequestParameters["encoding-type"] = "url"
				rec.Resources = []ctResource{{Type: "AWS::S3::Object", ARNPrefix: tg.arn + "/"}, {AccountID: acct, Type: "AWS::S3::Bucket", ARN: tg.arn}}
			case "GetBucketLocation":
				rec.RequestParameters["location"] = ""
				rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::S3::Bucket", ARN: tg.arn}}
			case "GetBucketPolicy":
				rec.RequestParameters["policy"] = ""
				rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::S3::Bucket", ARN: tg.arn}}
			}
		default: // ListBuckets
			rec.RequestParameters = map[string]any{"Host": "s3." + tg.region + ".amazonaws.com"}
			rec.TLSDetails.ClientProvidedHostHeader = "s3." + tg.region + ".amazonaws.com"
		}
		rec.AdditionalEventData = map[string]any{
			"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
			"AuthenticationMethod": "AuthHeader", "x-amz-id-2": randString(rn.r, alnum+"+/", 76),
			"bytesTransferredOut": rn.r.IntN(200000),
		}
		if o.name == "PutObject" {
			rec.AdditionalEventData["bytesTransferredIn"] = 1 + rn.r.IntN(500000)
			rec.AdditionalEventData["bytesTransferredOut"] = 0
		}
	case "sts.amazonaws.com":
		// GetCallerIdentity: no parameters.
	case "ec2.amazonaws.com":
		switch o.name {
		case "DescribeInstances":
			rec.RequestParameters = map[string]any{"instancesSet": map[string]any{}, "filterSet": map[string]any{}}
		case "DescribeRegions":
			rec.RequestParameters = map[string]any{"regionSet": map[string]any{}}
		default:
			rec.RequestParameters = map[string]any{"filterSet": map[string]any{}}
		}
	case "dynamodb.amazonaws.com":
		rec.RequestParameters = map[string]any{"tableName": tg.name}
		switch o.name {
		case "GetItem", "PutItem", "UpdateItem":
			rec.RequestParameters["key"] = map[string]any{"pk": fmt.Sprintf("%s#%06d", strings.TrimSuffix(tg.name, "s"), rn.r.IntN(1000000))}
		case "Query":
			rec.RequestParameters["keyConditionExpression"] = "pk = :pk"
			rec.RequestParameters["limit"] = 100
		}
		rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::DynamoDB::Table", ARN: tg.arn}}
	case "lambda.amazonaws.com":
		switch o.name {
		case "Invoke":
			rec.RequestParameters = map[string]any{"functionName": tg.arn, "invocationType": "RequestResponse"}
			rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::Lambda::Function", ARN: tg.arn}}
			rec.AdditionalEventData = map[string]any{"functionVersion": tg.arn + ":$LATEST"}
		case "ListFunctions20150331":
			rec.RequestParameters = nil
		default:
			rec.RequestParameters = map[string]any{"functionName": tg.name}
		}
		if o.name == "UpdateFunctionCode20150331v2" {
			rec.RequestParameters["publish"] = false
			rec.ResponseElements = map[string]any{"functionName": tg.name, "functionArn": tg.arn, "runtime": "python3.12", "codeSize": 1 + rn.r.IntN(5000000), "lastModified": t.Format("2006-01-02T15:04:05.000+0000")}
		}
	case "kms.amazonaws.com":
		switch o.name {
		case "Decrypt":
			rec.RequestParameters = map[string]any{"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
		case "GenerateDataKey":
			rec.RequestParameters = map[string]any{"keyId": tg.arn, "keySpec": "AES_256"}
		case "Encrypt":
			rec.RequestParameters = map[string]any{"keyId": tg.arn, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
		default:
			rec.RequestParameters = map[string]any{"keyId": tg.name}
		}
		rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::KMS::Key", ARN: tg.arn}}
	case "sqs.amazonaws.com":
		if o.name == "ListQueues" {
			rec.RequestParameters = map[string]any{"queueNamePrefix": "orders"}
			break
		}
		rec.RequestParameters = map[string]any{"queueUrl": "https://sqs." + tg.region + ".amazonaws.com/" + acct + "/" + tg.name}
		if o.data {
			rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::SQS::Queue", ARN: tg.arn}}
		}
		if o.name == "SendMessage" {
			rec.ResponseElements = map[string]any{"mD5OfMessageBody": randString(rn.r, hexd, 32), "messageId": rn.uuid()}
		}
	case "sns.amazonaws.com":
		switch o.name {
		case "Publish":
			rec.RequestParameters = map[string]any{"topicArn": tg.arn, "message": "HIDDEN_DUE_TO_SECURITY_REASONS"}
			rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::SNS::Topic", ARN: tg.arn}}
			rec.ResponseElements = map[string]any{"messageId": rn.uuid()}
		case "GetTopicAttributes":
			rec.RequestParameters = map[string]any{"topicArn": tg.arn}
		}
	case "monitoring.amazonaws.com":
		switch o.name {
		case "GetMetricData":
			rec.RequestParameters = map[string]any{"startTime": t.Add(-3 * time.Hour).Format(expirationLayout), "endTime": t.Format(expirationLayout)}
		case "GetMetricStatistics":
			rec.RequestParameters = map[string]any{"namespace": "AWS/Lambda", "metricName": "Errors", "period": 300, "statistics": []string{"Sum"},
				"startTime": t.Add(-time.Hour).Format(expirationLayout), "endTime": t.Format(expirationLayout)}
		}
	case "logs.amazonaws.com":
		switch o.name {
		case "DescribeLogStreams":
			rec.RequestParameters = map[string]any{"logGroupName": tg.name, "orderBy": "LastEventTime", "descending": true}
		case "FilterLogEvents":
			rec.RequestParameters = map[string]any{"logGroupName": tg.name, "filterPattern": "ERROR", "startTime": t.Add(-time.Hour).UnixMilli()}
		default:
			rec.RequestParameters = map[string]any{"limit": 50}
		}
	case "iam.amazonaws.com":
		switch o.res {
		case resRole:
			rec.RequestParameters = map[string]any{"roleName": tg.name}
		case resSelfUser:
		default:
			rec.RequestParameters = map[string]any{"maxItems": 100}
		}
	case "secretsmanager.amazonaws.com":
		if o.res == resSecret {
			rec.RequestParameters = map[string]any{"secretId": tg.arn}
		} else {
			rec.RequestParameters = map[string]any{"maxResults": 100}
		}
	case "ssm.amazonaws.com":
		switch o.name {
		case "GetParameter":
			rec.RequestParameters = map[string]any{"name": tg.name, "withDecryption": rn.r.IntN(2) == 0}
		case "GetParametersByPath":
			rec.RequestParameters = map[string]any{"path": tg.name, "recursive": true, "withDecryption": true}
		default:
			rec.RequestParameters = map[string]any{"maxResults": 50}
		}
	}
}

// denyError is the errorCode and errorMessage of a refused call.
func denyError(o *op, caller, resource string) (string, string) {
	on := ""
	if resource != "*" {
		on = " on resource: " + resource
	}
	msg := "User: " + caller + " is not authorized to perform: " + o.action + on + " because no identity-based policy allows the " + o.action + " action"
	switch serviceOf(*o) {
	case "ec2":
		return "Client.UnauthorizedOperation", "You are not authorized to perform this operation. " + msg
	case "s3":
		return "AccessDenied", "Access Denied"
	case "ssm", "logs":
		return "AccessDeniedException", msg
	}
	return "AccessDenied", msg
}

var errorMessages = map[string]string{
	"NoSuchKey":                              "The specified key does not exist.",
	"SlowDown":                               "Please reduce your request rate.",
	"NoSuchBucketPolicy":                     "The bucket policy does not exist",
	"ThrottlingException":                    "Rate exceeded",
	"Throttling":                             "Rate exceeded",
	"Client.RequestLimitExceeded":            "Request limit exceeded.",
	"ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
	"ConditionalCheckFailedException":        "The conditional request failed",
	"ResourceNotFoundException":              "Requested resource not found",
	"TooManyRequestsException":               "Rate Exceeded.",
	"ReceiptHandleIsInvalid":                 "The input receipt handle is invalid.",
	"NoSuchEntity":                           "The role cannot be found.",
	"ParameterNotFound":                      "",
}

// failError is a non-authorization failure of op o.
func failError(r *rand.Rand, o *op, tg target) (string, string) {
	code := "ThrottlingException"
	if serviceOf(*o) == "s3" {
		code = "SlowDown"
	}
	if len(o.errors) > 0 {
		code = o.errors[r.IntN(len(o.errors))]
	}
	msg := errorMessages[code]
	if code == "NoSuchEntity" {
		msg = "The role with name " + tg.name + " cannot be found."
	}
	return code, msg
}

// serviceCall emits a call made by an AWS service.
func (rn *run) serviceCall(t time.Time) *ctRecord {
	w := rn.w
	n := rn.r.IntN(rn.svcCum[len(rn.svcCum)-1])
	si := 0
	for n >= rn.svcCum[si] {
		si++
	}
	se := serviceTable[si]
	acct := w.accounts[rn.r.IntN(len(w.accounts))]
	p := &principal{pref: rn.r.Uint64()} // resource choice only
	o := &op{source: se.source, name: se.name, res: se.res, readOnly: true}
	tg := rn.chooseTarget(p, o, acct)
	rec := rn.baseRecord(o, tg, acct)
	rec.EventType = se.eventType
	rec.TLSDetails = nil
	rec.SourceIPAddress, rec.UserAgent = se.invokedBy, se.invokedBy
	if se.typed {
		rec.UserIdentity = &userIdentity{Type: "AWSService", InvokedBy: se.invokedBy}
	} else {
		rec.UserIdentity = &userIdentity{AccountID: acct, InvokedBy: se.invokedBy}
	}
	switch se.name {
	case "GetBucketAcl":
		rec.RequestParameters = map[string]any{"bucketName": tg.name, "Host": tg.name + ".s3." + tg.region + ".amazonaws.com", "acl": ""}
		rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::S3::Bucket", ARN: tg.arn}}
		rec.AdditionalEventData = map[string]any{"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "bytesTransferredOut": 540}
	case "RotateKey":
		rec.ReadOnly = false
		rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::KMS::Key", ARN: tg.arn}}
		rec.AdditionalEventData = map[string]any{"keyId": tg.arn}
	case "RotationSucceeded":
		rec.ReadOnly = false
		rec.AdditionalEventData = map[string]any{"SecretId": tg.arn}
	case "Decrypt":
		rec.RequestParameters = map[string]any{"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": map[string]any{"SecretARN": "arn:aws:secretsmanager:" + tg.region + ":" + acct + ":secret:" + w.regionRes[acct+"/"+tg.region].secrets[0]}}
		rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::KMS::Key", ARN: tg.arn}}
	case "AssumeRole":
		role := "arn:aws:iam::" + acct + ":role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
		rec.RequestParameters = map[string]any{"roleArn": role, "roleSessionName": "AWSConfig-Describe", "durationSeconds": 900}
		rec.ResponseElements = map[string]any{"credentials": map[string]any{"accessKeyId": "ASIA" + w.infix[acct] + randString(rn.r, b32, 8), "expiration": t.Add(15 * time.Minute).Format(expirationLayout)}}
		rec.Resources = []ctResource{{AccountID: acct, Type: "AWS::IAM::Role", ARN: role}}
	}
	rn.man.m.ServiceRecords++
	rn.man.svc[eventKey{se.invokedBy, se.source, se.name}]++
	return rec
}
