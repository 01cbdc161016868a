package trailgen

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// pKind is the kind of caller.
type pKind uint8

const (
	kindUser pKind = iota
	kindRole
	kindRoot
	kindFederated
	kindExternal // a role session from an account outside the trail
)

// roleUse is who assumes a role.
type roleUse uint8

const (
	useHuman  roleUse = iota // users assume it (with sts AssumeRole records)
	useLambda                // lambda.amazonaws.com
	useEC2                   // ec2.amazonaws.com (instance profile)
	useECS                   // ecs-tasks.amazonaws.com
	usePartner
)

var roleUseService = [...]string{useLambda: "lambda.amazonaws.com", useEC2: "ec2.amazonaws.com", useECS: "ecs-tasks.amazonaws.com"}

// accessKey is a long-term user key.
type accessKey struct {
	id     string
	weight int // share of the user's calls
}

// principal is one synthetic caller and its workload.
type principal struct {
	kind    pKind
	account string
	name    string // user or role name
	arn     string // user/role/root ARN: what the manifest charges
	id      string // AIDA…/AROA… unique id
	keys    []accessKey
	use     roleUse
	human   bool   // a person (users, human roles): calls IAM reads, console-ish calls
	assumer []int  // for human and partner roles: indexes of principals that assume it
	ua      string // primary user agent
	ip      string // primary source address
	ops     []int  // used operations (opTable indexes)
	cum     []int  // cumulative weights over ops
	extra   []int  // granted but never used
	deny    []int  // attempted and denied (never granted)
	pref    uint64 // resource preference seed
	issuer  int    // federated: index of the issuing user
	created string // CreateDate for the snapshot
}

// resources is the resource pool of one account and region.
type resources struct {
	buckets    []string // bucket names
	objects    []string // object keys (shared key space; each bucket holds them all)
	tables     []string
	functions  []string
	queues     []string
	topics     []string
	keys       []string // KMS key ids
	secrets    []string // secret name with the 6-char suffix
	parameters []string
	logGroups  []string
}

// world is the generated account layout: fixed for a seed.
type world struct {
	accounts   []string
	infix      map[string]string // account → 8-char id infix
	external   string            // the outside account of cross-account callers
	principals []*principal
	users      []int // indexes of users (in every account)
	roles      []int // indexes of roles
	root       []int
	federated  []int
	externals  []int
	regionRes  map[string]*resources // account+"/"+region
	bucketReg  map[string]string     // bucket → region
}

const (
	b32   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	hexd  = "0123456789abcdef"
)

func randString(r *rand.Rand, alphabet string, n int) string {
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

var (
	userNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
		"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda"}
	botUsers     = []string{"ci-deployer", "backup-agent", "metrics-exporter", "terraform", "etl-loader", "legacy-app"}
	roleNames    = []string{"api-handler-lambda", "thumbnailer-lambda", "batch-worker-ec2", "orders-service-task", "ReadOnlyAuditor", "DeployRole", "nightly-report-lambda", "ingest-worker-ec2", "billing-service-task", "DataScientist", "stream-consumer-lambda", "AdminBreakGlass"}
	bucketStems  = []string{"app-assets", "data-lake", "reports", "uploads", "backups", "static-site", "ml-models", "audit-logs"}
	tableNames   = []string{"orders", "sessions", "customers", "inventory", "feature-flags", "events-ledger"}
	functionName = []string{"api-handler", "thumbnailer", "nightly-report", "stream-consumer", "webhook-relay", "auth-authorizer"}
	queueNames   = []string{"orders-queue", "orders-dlq", "emails", "thumbnail-jobs", "audit-events.fifo"}
	topicNames   = []string{"alerts", "order-events", "deploy-notifications", "billing-alarms"}
	secretNames  = []string{"prod/db/password", "prod/stripe/api-key", "staging/db/password", "prod/oauth/client", "ci/github-token"}
	paramNames   = []string{"/app/prod/db-host", "/app/prod/feature-flags", "/app/prod/log-level", "/app/staging/db-host", "/infra/ami/latest", "/app/prod/endpoints/payments"}
	logGroups    = []string{"/aws/lambda/api-handler", "/aws/lambda/thumbnailer", "/ecs/orders-service", "/app/batch-worker", "/aws/lambda/nightly-report"}
	objectDirs   = []string{"reports/2026-11", "uploads/img", "exports/daily", "models/v3", "raw/events/dt=2026-11-2", "static/js", "backups/db"}
	objectExts   = []string{".json", ".csv.gz", ".parquet", ".png", ".js", ".tar.gz", ".pb"}
	sdkAgents    = []string{
		"aws-cli/2.22.4 md/awscrt#0.23.0 ua/2.0 os/linux#6.1.112-124.190.amzn2023.x86_64 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#s3.cp",
		"aws-cli/2.21.0 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#sts.get-caller-identity",
		"Boto3/1.35.68 md/Botocore#1.35.68 ua/2.0 os/linux#5.10.227-219.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.68",
		"aws-sdk-go-v2/1.32.5 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/dynamodb#1.37.1 m/E,g",
		"aws-sdk-java/2.29.20 md/io#sync md/http#Apache ua/2.1 os/Linux#5.10.228-219.884.amzn2.x86_64 lang/java#17.0.13 md/OpenJDK_64-Bit_Server_VM#17.0.13+11-LTS md/vendor#Amazon.com_Inc. exec-env/AWS_ECS_FARGATE cfg/retry-mode#legacy",
		"aws-sdk-js/3.699.0 ua/2.1 os/linux#5.10.227-239.884.amzn2.x86_64 lang/js md/nodejs#20.18.0 api/s3#3.699.0 exec-env/AWS_Lambda_nodejs20.x m/E,N",
		"APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.78.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.5 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/sts#1.33.1",
	}
)

// accountFromSeed derives a 12-digit account id.
func accountFromSeed(r *rand.Rand) string {
	return fmt.Sprintf("%d%011d", 1+r.IntN(9), r.Int64N(100000000000))
}

// buildWorld lays out accounts, principals, their workloads and resources.
func buildWorld(o *Options) *world {
	r := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed_0001_0000_0001))
	w := &world{
		accounts:  append([]string(nil), o.Accounts...),
		infix:     map[string]string{},
		regionRes: map[string]*resources{},
		bucketReg: map[string]string{},
	}
	for _, a := range w.accounts {
		w.infix[a] = randString(r, b32, 8)
	}
	for {
		w.external = accountFromSeed(r)
		if _, taken := w.infix[w.external]; !taken {
			break
		}
	}
	w.infix[w.external] = randString(r, b32, 8)

	org := strings.ToLower(randString(r, "abcdefghijklmnopqrstuvwxyz", 5))
	for _, acct := range w.accounts {
		for ri, region := range o.Regions {
			res := &resources{}
			for i, s := range bucketStems {
				if i%len(o.Regions) != ri && len(o.Regions) > 1 && i >= 2 {
					continue // most buckets live in one region
				}
				b := fmt.Sprintf("%s-%s-%s-%s", org, s, acct[len(acct)-4:], region)
				res.buckets = append(res.buckets, b)
				w.bucketReg[b] = region
			}
			for i := range 40 {
				res.objects = append(res.objects, fmt.Sprintf("%s/part-%05d%s", objectDirs[i%len(objectDirs)], r.IntN(100000), objectExts[r.IntN(len(objectExts))]))
			}
			res.tables = tableNames
			res.functions = functionName
			res.queues = queueNames
			res.topics = topicNames
			res.parameters = paramNames
			res.logGroups = logGroups
			for range 4 {
				res.keys = append(res.keys, uuidFrom(r))
			}
			for _, s := range secretNames {
				res.secrets = append(res.secrets, s+"-"+randString(r, alnum, 6))
			}
			w.regionRes[acct+"/"+region] = res
		}
	}

	created := o.Start.AddDate(-1, 0, 0)
	add := func(p *principal) int {
		p.pref = r.Uint64()
		p.created = created.AddDate(0, 0, -r.IntN(900)).Format(timeLayout)
		w.principals = append(w.principals, p)
		return len(w.principals) - 1
	}
	ipFor := func() string {
		if r.IntN(2) == 0 {
			return fmt.Sprintf("203.0.113.%d", 1+r.IntN(254))
		}
		return fmt.Sprintf("198.51.100.%d", 1+r.IntN(254))
	}

	for i := range o.Users {
		acct := w.accounts[i%len(w.accounts)]
		var name string
		human := true
		if i%4 == 3 { // every fourth user is a machine user
			name = botUsers[(i/4)%len(botUsers)]
			human = false
		} else {
			name = userNames[(i-i/4)%len(userNames)]
		}
		if n := i / (len(userNames) + len(botUsers)); n > 0 {
			name = fmt.Sprintf("%s%d", name, n+1)
		}
		p := &principal{kind: kindUser, account: acct, name: name, human: human,
			arn: "arn:aws:iam::" + acct + ":user/" + name,
			id:  "AIDA" + w.infix[acct] + randString(r, b32, 9),
			ua:  sdkAgents[r.IntN(len(sdkAgents))], ip: ipFor()}
		p.keys = append(p.keys, accessKey{id: "AKIA" + w.infix[acct] + randString(r, b32, 8), weight: 10})
		if r.IntN(3) == 0 { // a second key, rarely used (rotation in progress or forgotten)
			p.keys = append(p.keys, accessKey{id: "AKIA" + w.infix[acct] + randString(r, b32, 8), weight: 1})
		}
		w.users = append(w.users, add(p))
	}
	for i := range o.Roles {
		acct := w.accounts[i%len(w.accounts)]
		name := roleNames[i%len(roleNames)]
		if n := i / len(roleNames); n > 0 {
			name = fmt.Sprintf("%s-%d", name, n+1)
		}
		p := &principal{kind: kindRole, account: acct, name: name,
			arn: "arn:aws:iam::" + acct + ":role/" + name,
			id:  "AROA" + w.infix[acct] + randString(r, b32, 9),
			ua:  sdkAgents[r.IntN(len(sdkAgents))]}
		switch {
		case strings.Contains(name, "lambda"):
			p.use, p.ip = useLambda, fmt.Sprintf("3.%d.%d.%d", 80+r.IntN(20), r.IntN(256), 1+r.IntN(254))
			p.ua = sdkAgents[5]
		case strings.Contains(name, "ec2"):
			p.use, p.ip = useEC2, fmt.Sprintf("10.0.%d.%d", r.IntN(32), 1+r.IntN(254))
		case strings.Contains(name, "task"):
			p.use, p.ip = useECS, fmt.Sprintf("10.1.%d.%d", r.IntN(32), 1+r.IntN(254))
			p.ua = sdkAgents[4]
		default:
			p.use, p.human = useHuman, true
		}
		w.roles = append(w.roles, add(p))
	}
	// Human roles are assumed by one to three human users of the same account.
	for _, ri := range w.roles {
		rp := w.principals[ri]
		if rp.use != useHuman {
			continue
		}
		var cands []int
		for _, ui := range w.users {
			if w.principals[ui].account == rp.account && w.principals[ui].human {
				cands = append(cands, ui)
			}
		}
		for k := 0; k < len(cands) && k < 1+r.IntN(3); k++ {
			rp.assumer = append(rp.assumer, cands[(int(rp.pref%97)+k)%len(cands)])
		}
		if len(rp.assumer) == 0 {
			rp.use = useLambda // no human can assume it: treat as a service role
			rp.human = false
			rp.ip, rp.ua = fmt.Sprintf("3.%d.%d.%d", 80+r.IntN(20), r.IntN(256), 1+r.IntN(254)), sdkAgents[5]
		}
	}
	// Root of every account, a federated user issued by a broker user, and
	// a partner role from an outside account.
	for _, acct := range w.accounts {
		w.root = append(w.root, add(&principal{kind: kindRoot, account: acct, name: "root", human: true,
			arn: "arn:aws:iam::" + acct + ":root", id: acct, ua: consoleUA, ip: ipFor()}))
	}
	if len(w.users) > 0 {
		issuer := w.users[0]
		acct := w.principals[issuer].account
		for _, n := range []string{"contractor-lee", "contractor-kim"} {
			w.federated = append(w.federated, add(&principal{kind: kindFederated, account: acct, name: n, human: true,
				arn: w.principals[issuer].arn, id: acct + ":" + n, issuer: issuer,
				ua: sdkAgents[1], ip: ipFor()}))
		}
	}
	w.externals = append(w.externals, add(&principal{kind: kindExternal, account: w.external, name: "partner-sync",
		arn: "arn:aws:iam::" + w.external + ":role/partner-sync", id: "AROA" + w.infix[w.external] + randString(r, b32, 9),
		use: usePartner, ua: sdkAgents[2], ip: ipFor()}))

	for _, p := range w.principals {
		assignWorkload(r, p)
	}
	// A federated user's calls are charged to its issuer, whose policy
	// grants them: keep the two denied sets clear of each other's grants.
	grants := map[int][][]int{} // issuer → its and its federated users' grants
	for _, fi := range w.federated {
		fp := w.principals[fi]
		if grants[fp.issuer] == nil {
			ip := w.principals[fp.issuer]
			grants[fp.issuer] = [][]int{ip.ops, ip.extra}
		}
		grants[fp.issuer] = append(grants[fp.issuer], fp.ops, fp.extra)
	}
	for _, fi := range w.federated {
		fp := w.principals[fi]
		fp.deny = without(fp.deny, grants[fp.issuer]...)
	}
	for issuer, g := range grants {
		ip := w.principals[issuer]
		ip.deny = without(ip.deny, g...)
	}
	return w
}

// actionSet is the set of IAM actions of some operation lists.
func actionSet(lists ...[]int) map[string]bool {
	set := map[string]bool{}
	for _, l := range lists {
		for _, i := range l {
			set[opTable[i].action] = true
		}
	}
	return set
}

// without returns the operations of list whose action is in none of the
// other lists.
func without(list []int, others ...[]int) []int {
	drop := actionSet(others...)
	var out []int
	for _, i := range list {
		if !drop[opTable[i].action] {
			out = append(out, i)
		}
	}
	return out
}

const consoleUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// workload groups: which services each kind of caller tends to use.
var (
	serviceGroups = map[roleUse][]string{
		useLambda: {"s3", "dynamodb", "kms", "sqs", "sns", "logs", "ssm", "secretsmanager"},
		useEC2:    {"s3", "kms", "sqs", "ec2", "logs", "monitoring", "ssm", "secretsmanager"},
		useECS:    {"dynamodb", "sqs", "sns", "kms", "secretsmanager", "ssm", "logs", "lambda"},
		useHuman:  {"s3", "ec2", "iam", "lambda", "logs", "monitoring", "dynamodb", "secretsmanager", "ssm", "sqs", "sns", "kms"},
	}
	rootOps     = []string{"ListBuckets", "ListUsers", "DescribeRegions", "GetCallerIdentity"}
	externalOps = []string{"GetObject", "ListObjects", "GetBucketLocation"}
)

func serviceOf(o op) string {
	s, _, _ := strings.Cut(o.source, ".")
	return s
}

// assignWorkload picks the operations a principal uses, those it is
// granted but does not use, and those it tries and is denied.
func assignWorkload(r *rand.Rand, p *principal) {
	pick := func(names []string) {
		for _, n := range names {
			for i, o := range opTable {
				if o.name == n {
					p.ops = append(p.ops, i)
				}
			}
		}
	}
	switch p.kind {
	case kindRoot:
		pick(rootOps)
	case kindExternal:
		pick(externalOps)
	default:
		use := p.use
		if p.kind == kindUser || p.kind == kindFederated {
			use = useHuman
			if !p.human {
				use = []roleUse{useLambda, useEC2, useECS}[r.IntN(3)]
			}
		}
		groups := serviceGroups[use]
		nsvc := 2 + r.IntN(3)
		chosen := map[string]bool{}
		for len(chosen) < nsvc && len(chosen) < len(groups) {
			chosen[groups[r.IntN(len(groups))]] = true
		}
		if p.kind == kindUser {
			chosen["sts"] = true // GetCallerIdentity
		}
		for i, o := range opTable {
			if o.weight == 0 || (o.humanOnly && !p.human) || (o.res == resSelfUser && p.kind != kindUser) {
				continue
			}
			if !chosen[serviceOf(o)] {
				continue
			}
			switch n := r.IntN(10); {
			case n < 6:
				p.ops = append(p.ops, i)
			case n < 8:
				p.extra = append(p.extra, i)
			}
		}
		if len(p.ops) == 0 {
			pick([]string{"GetCallerIdentity"})
		}
	}
	// Denied attempts: a few permission-needing ops whose action the
	// principal is not granted (ops share actions: HeadObject and
	// GetObject both need s3:GetObject).
	used := actionSet(p.ops, p.extra)
	for i, o := range opTable {
		if used[o.action] || o.weight == 0 || o.noPerm || (o.res == resSelfUser && p.kind != kindUser) {
			continue
		}
		if r.IntN(12) == 0 {
			p.deny = append(p.deny, i)
		}
	}
	if len(p.deny) == 0 {
		for i, o := range opTable {
			if !used[o.action] && !o.noPerm && o.weight > 0 && o.res != resSelfUser {
				p.deny = append(p.deny, i)
				break
			}
		}
	}
	sort.Ints(p.ops)
	total := 0
	for _, i := range p.ops {
		total += opTable[i].weight
		p.cum = append(p.cum, total)
	}
}

// pickOp draws one of the principal's operations by weight.
func (p *principal) pickOp(r *rand.Rand) int {
	n := r.IntN(p.cum[len(p.cum)-1])
	i := sort.SearchInts(p.cum, n+1)
	return p.ops[i]
}
