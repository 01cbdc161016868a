package policy

import (
	"strconv"
	"strings"
	"time"
)

// Request is one API call to decide.
type Request struct {
	// Principal is the caller's ARN: an IAM user, an assumed-role session
	// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), a federated user
	// session, a role, the account root, or a service principal such as
	// "ec2.amazonaws.com". A role acts only through its sessions, so a role
	// ARN stands for a session of that role whose session ARN no policy
	// names: a Principal naming the role matches it (limited by the
	// boundary and session policy, as for any session), one naming a
	// particular session does not, and a NotPrincipal Deny applies to it.
	Principal string
	// Action is "service:Action"; compared case-insensitively.
	Action string
	// Resource is the resource ARN, or "*" for actions without a resource
	// type.
	Resource string
	// ResourceAccount is the account that owns the resource. Empty means the
	// principal's own account (a same-account request). "aws" (AWS-managed
	// policies and other AWS-owned resources, which carry no resource-based
	// policy) is evaluated as same-account too: the caller's own policies
	// decide.
	ResourceAccount string
	// Context holds the request context keys. Evaluate uses exactly these:
	// it does not derive aws:PrincipalArn or any other key on its own.
	Context Context
}

// ValueType says how a context value was given. Condition operators read
// values by their own type (a NumericEquals parses the value as a number),
// as AWS does; the type is kept for display and for callers that build
// contexts from typed sources.
type ValueType uint8

// Context value types.
const (
	TypeString ValueType = iota
	TypeBool
	TypeNumeric
	TypeDate
	TypeIP
	TypeARN
	TypeBinary
)

func typeNames() [7]string {
	return [...]string{"string", "bool", "numeric", "date", "ip", "arn", "binary"}
}

func (t ValueType) String() string {
	if n := typeNames(); int(t) < len(n) {
		return n[t]
	}
	return "type(?)"
}

// ParseValueType reads a ValueType from its String form.
func ParseValueType(s string) (ValueType, bool) {
	for i, n := range typeNames() {
		if strings.EqualFold(s, n) {
			return ValueType(i), true
		}
	}
	return 0, false
}

// ContextValue is one context key with its value(s).
type ContextValue struct {
	Key    string // as given
	Type   ValueType
	Values []string
	// Multi marks a multivalued key (a list), even when it holds one value
	// or none.
	Multi bool
	lkey  string
}

// Context is a request context: keys are case-insensitive, values are
// case-sensitive. The zero value is empty and ready to use.
type Context struct {
	values []ContextValue
}

// Set sets a single-valued string key.
func (c *Context) Set(key, value string) { c.put(key, TypeString, []string{value}, false) }

// SetTyped sets a single-valued key of the given type.
func (c *Context) SetTyped(key string, t ValueType, value string) {
	c.put(key, t, []string{value}, false)
}

// SetList sets a multivalued key (ForAllValues/ForAnyValue apply to these).
func (c *Context) SetList(key string, t ValueType, values []string) {
	c.put(key, t, append([]string(nil), values...), true)
}

// SetBool sets a boolean key such as aws:MultiFactorAuthPresent.
func (c *Context) SetBool(key string, v bool) {
	c.put(key, TypeBool, []string{strconv.FormatBool(v)}, false)
}

// SetTime sets a date key such as aws:CurrentTime (RFC 3339, UTC).
func (c *Context) SetTime(key string, t time.Time) {
	c.put(key, TypeDate, []string{t.UTC().Format(time.RFC3339)}, false)
}

func (c *Context) put(key string, t ValueType, values []string, multi bool) {
	lk := strings.ToLower(key)
	v := ContextValue{Key: key, Type: t, Values: values, Multi: multi, lkey: lk}
	for i := range c.values {
		if c.values[i].lkey == lk {
			c.values[i] = v
			return
		}
	}
	c.values = append(c.values, v)
}

// Delete removes a key.
func (c *Context) Delete(key string) {
	lk := strings.ToLower(key)
	for i := range c.values {
		if c.values[i].lkey == lk {
			c.values = append(c.values[:i], c.values[i+1:]...)
			return
		}
	}
}

// Lookup returns the value of key (case-insensitive).
func (c *Context) Lookup(key string) (ContextValue, bool) {
	if v := c.get(strings.ToLower(key)); v != nil {
		return *v, true
	}
	return ContextValue{}, false
}

// All returns the keys in the order they were set. Do not modify.
func (c *Context) All() []ContextValue { return c.values }

// Len is the number of keys.
func (c *Context) Len() int { return len(c.values) }

func (c *Context) get(lkey string) *ContextValue {
	if c == nil {
		return nil
	}
	for i := range c.values {
		if c.values[i].lkey == lkey {
			return &c.values[i]
		}
	}
	return nil
}

// variable resolves a policy variable: only single-valued keys substitute.
func (c *Context) variable(lkey string) (string, bool) {
	v := c.get(lkey)
	if v == nil || v.Multi || len(v.Values) != 1 {
		return "", false
	}
	return v.Values[0], true
}

// Warnings lists what makes req unlike a real request, for tools that build
// requests by hand (a simulator's flags, a cases file). Evaluate decides
// such a request anyway, literally. Today: a resource that contains "*"
// (other than "*" itself, the resource of actions without a resource
// type). AWS evaluates one named resource per request; a policy's Resource
// pattern matched against "arn:aws:s3:::bucket/*" matches the characters
// "*" literally, so the decision says nothing about the bucket's objects
// in general. (An S3 object key may really contain "*", hence a warning
// rather than an error.)
func (r *Request) Warnings() []string {
	if r.Resource != "*" && strings.Contains(r.Resource, "*") {
		return []string{"resource " + quote(r.Resource) + ` contains "*": a request names one resource, so the ARN is matched literally, not as a pattern of resources`}
	}
	return nil
}
